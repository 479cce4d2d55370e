"""Per-batch extra networks (A1111 `extra_networks.activate` / `deactivate`) and textual-inversion hook-up.

`ExtraNetworks.batch(p, pipe)` strips `<...>` tags from `p.prompts` and `p.negative_prompts`, applies the LoRAs
and hypernetworks named in the batch's first prompt (the `sd_hypernetwork` option adds its hypernetwork to the
prompts, as A1111), records "Lora hashes", and restores the model when the batch is done. Unknown names and
unsupported network types are comments (A1111 `p.comment`), never failures.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from modules import extra_networks
from modules.engine.embedding_registry import EmbeddingRegistry
from modules.engine.embeddings import EmbeddingTokens
from modules.engine.hypernetworks import Hypernetwork, HypernetworkApplier
from modules.engine.lora import ActiveNetwork, LoraApplier
from modules.errors import InvalidRequestError, ModelLoadError
from modules.model_registry.hypernetworks import NONE, HypernetworkRegistry
from modules.model_registry.loras import LoraRegistry

logger = logging.getLogger(__name__)
_REMOVE_SYMBOLS = str.maketrans("", "", ":,")


def _option(options: object, key: str, default: object) -> object:
    try:
        return options.get(key)
    except KeyError:
        return default


@dataclass
class LoraRequest:
    """One `<lora:name:te:unet>` tag resolved to multipliers (A1111 `ExtraNetworkLora.activate`)."""

    name: str
    te: float
    unet: float


def lora_requests(params_list: list[extra_networks.ExtraNetworkParams]) -> list[LoraRequest]:
    """Multipliers from positional / named args: te defaults to 1.0, unet to te; `dyn` is accepted and ignored."""
    out = []
    for params in params_list:
        if params.name != "lora" or not params.items:
            continue
        positional = params.positional
        try:
            te = float(positional[1]) if len(positional) > 1 else 1.0
            te = float(params.named.get("te", te))
            unet = float(positional[2]) if len(positional) > 2 else te
            unet = float(params.named.get("unet", unet))
        except ValueError as exc:
            raise InvalidRequestError(f"Invalid LoRA multiplier in <lora:{':'.join(params.items)}>: {exc}",
                                      field="prompt") from exc
        name = positional[0] if positional else params.items[0]
        out.append(LoraRequest(name, te, unet))
    return out


def hypernet_requests(params_list: list[extra_networks.ExtraNetworkParams]) -> list[tuple[str, float]]:
    """(name, multiplier) of every `<hypernet:name[:multiplier]>` tag (A1111 `ExtraNetworkHypernet.activate`)."""
    out = []
    for params in params_list:
        if params.name != "hypernet" or not params.items:
            continue
        try:
            multiplier = float(params.items[1]) if len(params.items) > 1 else 1.0
        except ValueError as exc:
            raise InvalidRequestError(f"Invalid hypernetwork multiplier in <hypernet:{':'.join(params.items)}>: "
                                      f"{exc}", field="prompt") from exc
        out.append((params.items[0], multiplier))
    return out


@dataclass
class BatchNetworks:
    """What one batch activated (for tests and logs)."""

    applied: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    hypernetworks: list[str] = field(default_factory=list)


class ExtraNetworks:
    """LoRA and textual-inversion state shared by every generation of one server."""

    def __init__(self, loras: LoraRegistry, embeddings: EmbeddingRegistry, options: object,
                 applier: LoraApplier | None = None, hypernetworks: HypernetworkRegistry | None = None):
        self.loras = loras
        self.embeddings = embeddings
        self.options = options
        self.applier = applier or LoraApplier()
        self.hypernetworks = hypernetworks or HypernetworkRegistry([])
        self.hyper_applier = HypernetworkApplier()

    def embedding_lookup(self, pipe: object) -> EmbeddingTokens | None:
        """A fresh lookup for one generation (it records which embeddings the prompts used)."""
        return self.embeddings.lookup(pipe)

    def record_ti_hashes(self, p: object, lookup: EmbeddingTokens | None) -> None:
        """Infotext "TI hashes": `name: sha256[:12]` for every embedding the prompts used."""
        if lookup is None or not lookup.used or not self.embeddings.hashing:
            return
        if not _option(self.options, "textual_inversion_add_hashes_to_infotext", True):
            return
        hashes = [f"{name.translate(_REMOVE_SYMBOLS)}: {self.embeddings.shorthash(emb)}"
                  for name, emb in lookup.used.items()]
        p.extra_generation_params["TI hashes"] = ", ".join(hashes)

    @contextlib.contextmanager
    def batch(self, p: object, pipe: object) -> Iterator[BatchNetworks]:
        """Strip tags, apply the first prompt's LoRAs for the duration of the block, then restore the weights."""
        result = BatchNetworks()
        parsed = [extra_networks.parse_extra_networks(text) for text in p.prompts]
        p.prompts = [text for text, _ in parsed]
        p.negative_prompts = [extra_networks.parse_extra_networks(text)[0] for text in p.negative_prompts]
        requests = lora_requests(parsed[0][1]) if parsed and not p.disable_extra_networks else []
        hypernets = self._hypernetworks(p, parsed[0][1] if parsed else [], result)
        active: list[ActiveNetwork] = []
        hashes: dict[str, str] = getattr(p, "lora_hashes", None) or {}
        for request in requests:
            entry = self.loras.find(request.name)
            if entry is None:
                result.not_found.append(request.name)
                continue
            parsed_net = self.applier.load(entry.path, entry.stamp)
            active.append(ActiveNetwork(request.name, parsed_net, request.te, request.unet))
            result.applied.append(entry.name)
            if _option(self.options, "lora_add_hashes_to_infotext", True) and entry.shorthash:
                hashes[request.name.translate(_REMOVE_SYMBOLS)] = entry.shorthash
        if result.not_found:
            p.comments[f"Lora not found: {', '.join(result.not_found)}"] = 1
            p.extra_generation_params["Lora not found"] = ", ".join(result.not_found)  # visible in the infotext
            logger.warning("Lora not found: %s", ", ".join(result.not_found))
        if hashes:
            p.lora_hashes = hashes
            p.extra_generation_params["Lora hashes"] = ", ".join(f"{k}: {v}" for k, v in hashes.items())
        try:
            if active:
                problems = self.applier.apply(pipe, active)
                if problems:
                    text = ", ".join(f"{name} ({problem})" for name, problem in problems.items())
                    p.comments[f"Networks with errors: {text}"] = 1
            self.hyper_applier.apply(pipe.unet, hypernets)
            yield result
        finally:
            self.hyper_applier.restore()
            self.applier.restore()

    def _hypernetworks(self, p: object, params: list[extra_networks.ExtraNetworkParams],
                       result: BatchNetworks) -> list[tuple[Hypernetwork, float]]:
        """The batch's hypernetworks, loaded; the sd_hypernetwork option's one is added to the prompts first."""
        if p.disable_extra_networks:
            return []
        requests = hypernet_requests(params)
        extra = str(_option(self.options, "sd_hypernetwork", NONE) or NONE)
        if extra != NONE and self.hypernetworks.find(extra) is not None and all(n != extra for n, _ in requests):
            multiplier = _option(self.options, "extra_networks_default_multiplier", 1.0)
            p.all_prompts = [f"{prompt}<hypernet:{extra}:{multiplier}>" for prompt in p.all_prompts]
            requests.append((extra, float(multiplier)))
        loaded: list[tuple[Hypernetwork, float]] = []
        missing: list[str] = []
        for name, multiplier in requests:
            entry = self.hypernetworks.find(name)
            if entry is None:
                missing.append(name)
                continue
            try:
                loaded.append((self.hyper_applier.load(entry.path, entry.stamp, entry.name), multiplier))
            except ModelLoadError as exc:
                p.comments[f"Networks with errors: {name} ({exc.message})"] = 1
                logger.warning("hypernetwork %s: %s", name, exc.message)
                continue
            result.hypernetworks.append(entry.name)
        if missing:
            p.comments[f"Hypernetwork not found: {', '.join(missing)}"] = 1
            logger.warning("Hypernetwork not found: %s", ", ".join(missing))
        return loaded
