"""What the Extra Networks cards show: one page per kind (Textual Inversion, Hypernetworks, Checkpoints, Lora),
each card a file with its preview (`name.preview.png` / `name.png` beside it, as A1111 looks them up), the text a
click inserts, and its metadata (safetensors `__metadata__`, kohya `ss_*` training tags)."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
EMBEDDING_SUFFIXES = (".pt", ".bin", ".safetensors")
HYPERNETWORK_SUFFIXES = (".pt", ".safetensors")
MAX_METADATA_CHARS = 200_000


@dataclass
class Card:
    name: str  # unique within its page
    filename: Path
    insert: str  # inserted into the prompt ("" for checkpoints: a click selects it)
    label: str  # shown on the card
    search_terms: str
    sort_path: str
    mtime: float
    preview: Path | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "insert": self.insert, "search": self.search_terms,
                "path": self.sort_path, "mtime": self.mtime, "preview": self.preview is not None,
                "preview_mtime": self.preview.stat().st_mtime if self.preview is not None else 0}


def find_preview(filename: Path) -> Path | None:
    """A1111 `find_preview`: `<file without extension>.<ext>` or `.preview.<ext>`, first found."""
    base = filename.with_suffix("") if filename.is_file() else filename
    for ext in PREVIEW_EXTENSIONS:
        for candidate in (base.with_name(f"{base.name}.{ext}"), base.with_name(f"{base.name}.preview.{ext}")):
            if candidate.is_file():
                return candidate
    return None


def preview_target(filename: Path) -> Path:
    """Where "replace preview" writes: `<file without extension>.preview.png` (an existing preview is replaced)."""
    current = find_preview(filename)
    if current is not None:
        return current
    base = filename.with_suffix("") if filename.is_file() else filename
    return base.with_name(f"{base.name}.preview.png")


def _card(name: str, filename: Path, insert: str, label: str, rel: str, extra_terms: str = "") -> Card:
    try:
        mtime = os.stat(filename).st_mtime
    except OSError:
        mtime = 0.0
    return Card(name, filename, insert, label, f"{name} {rel} {extra_terms}".strip(), rel, mtime,
                find_preview(filename))


def _files(folders: list[Path], suffixes: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(root, file) of every model file below the folders (first folder wins for a name)."""
    found, seen = [], set()
    for root in folders:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in suffixes and path.is_file() and path.stem not in seen:
                seen.add(path.stem)
                found.append((root, path))
    return found


def safetensors_metadata(path: Path) -> dict[str, Any]:
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return {}
    from modules.model_registry.safe_load import read_safetensors_metadata

    raw = read_safetensors_metadata(path)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "ssmd_cover_images":
            continue
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def training_tags(metadata: dict[str, Any]) -> list[tuple[str, int]]:
    """kohya's `ss_tag_frequency` ({dataset: {tag: count}}) summed over the datasets, most frequent first."""
    counts: dict[str, int] = {}
    frequency = metadata.get("ss_tag_frequency")
    if isinstance(frequency, dict):
        for tags in frequency.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    if isinstance(count, (int, float)):
                        counts[str(tag).strip()] = counts.get(str(tag).strip(), 0) + int(count)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Page:
    id: str
    title: str
    list_cards: Callable[[Any], list[Card]]
    refresh: Callable[[Any], None]

    def cards(self, services) -> list[Card]:
        return self.list_cards(services)

    def card(self, services, name: str) -> Card | None:
        return next((c for c in self.cards(services) if c.name == name), None)

    def metadata(self, services, name: str) -> dict[str, Any] | None:
        card = self.card(services, name)
        if card is None:
            return None
        meta = safetensors_metadata(card.filename)
        text = json.dumps(meta, ensure_ascii=False, default=str)
        if len(text) > MAX_METADATA_CHARS:
            meta = {"note": f"metadata of {len(text)} characters, too long to show"}
        size = card.filename.stat().st_size if card.filename.is_file() else 0
        return {"name": card.name, "file": card.sort_path, "size": size, "metadata": meta,
                "tags": training_tags(meta)[:100]}


def _checkpoints(services) -> list[Card]:
    cards = []
    for info in services.checkpoints.list():
        cards.append(_card(info.title, Path(info.filename), "", info.name, info.name, info.model_name))
    return cards


def _loras(services) -> list[Card]:
    cards = []
    for lora in services.networks.loras.list():
        root = next((d for d in services.paths.lora_dirs if _is_below(lora.path, d)), lora.path.parent)
        rel = lora.path.relative_to(root).as_posix() if _is_below(lora.path, root) else lora.path.name
        name = lora.alias or lora.name
        cards.append(_card(lora.name, lora.path, f"<lora:{name}:1>", lora.name, rel, lora.alias or ""))
    return cards


def _embeddings(services) -> list[Card]:
    return [_card(path.stem, path, path.stem, path.stem, path.relative_to(root).as_posix())
            for root, path in _files(list(services.paths.embeddings_dirs), EMBEDDING_SUFFIXES)]


def hypernetwork_dirs(services) -> list[Path]:
    return [services.paths.models_dir / "hypernetworks"]


def _hypernetworks(services) -> list[Card]:
    return [_card(path.stem, path, f"<hypernet:{path.stem}:1>", path.stem, path.relative_to(root).as_posix())
            for root, path in _files(hypernetwork_dirs(services), HYPERNETWORK_SUFFIXES)]


def _is_below(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _no_refresh(_services) -> None:
    """Scanned on every listing."""


PAGES = [
    Page("textual_inversion", "Textual Inversion", _embeddings, _no_refresh),
    Page("hypernetworks", "Hypernetworks", _hypernetworks, _no_refresh),
    Page("checkpoints", "Checkpoints", _checkpoints, lambda s: s.checkpoints.refresh()),
    Page("lora", "Lora", _loras, lambda s: s.networks.loras.refresh()),
]


def page_by_id(page_id: str) -> Page | None:
    return next((p for p in PAGES if p.id == page_id), None)
