"""The composition root: builds every service from the command line, once."""
from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field

from modules.errors import EaselError, ModelNotFoundError
from modules.options import Options
from modules.paths import DataPaths
from modules.shared_options import default_options

logger = logging.getLogger(__name__)


@dataclass
class Services:
    cmd_opts: argparse.Namespace
    paths: DataPaths
    options: Options
    checkpoints: object
    vaes: object
    models: object
    tasks: object
    generation: object
    precision: object
    styles: object = None
    extensions: list = field(default_factory=list)
    scripts: object = None  # ScriptRegistry
    task_store: object = None  # modules.tasks.store_base.TaskStore
    storage: object = None  # modules.storage.base.Storage (task results)
    links: object = None  # modules.tasks.signing.LinkSigner
    webhooks: object = None  # modules.tasks.webhooks.WebhookDispatcher
    catalog: object = None  # modules.tasks.model_catalog.ModelCatalog (serverless /models)
    networks: object = None  # modules.engine.networks.ExtraNetworks (LoRA + textual-inversion registries)

    def start(self) -> None:
        # Script UI defaults come from building each script's gradio components once; do it before serving.
        for runner in self.scripts.runners:
            runner.default_args()
        self.webhooks.start()
        self.tasks.start()
        threading.Thread(target=self._preload_model, name="easel-preload", daemon=True).start()

    def _preload_model(self) -> None:
        """Load the configured (or first) checkpoint in the background, as A1111 does at start-up."""
        with self.models.lock:
            wanted = self.options.get("sd_model_checkpoint") or None
            try:
                try:
                    loaded = self.models.load(wanted)
                except ModelNotFoundError:
                    logger.warning("checkpoint %r from config.json not found; using the first one", wanted)
                    loaded = self.models.load(None)
            except EaselError as e:
                logger.error("could not load the start-up checkpoint: %s", e.message)
                return
            if (self.options.get("sd_model_checkpoint") or None) == wanted:
                self.options.set("sd_model_checkpoint", loaded.info.title, is_api=False, run_callbacks=False)

    def stop(self) -> None:
        self.tasks.stop()
        self.webhooks.stop()


def build_services(cmd_opts: argparse.Namespace, extensions: list | None = None) -> Services:
    from modules.engine.devices import choose_precision, configure_cpu_threads
    from modules.engine.generator import Generator
    from modules.engine.optimize import OptimizeSettings, PipelineOptimizer
    from modules.generation_service import GenerationService
    from modules.model_registry.checkpoints import CheckpointRegistry
    from modules.model_registry.converted_cache import ConvertedCache
    from modules.model_registry.loader import set_offline_env
    from modules.model_registry.manager import ModelManager
    from modules.model_registry.vae import VaeRegistry
    from modules.storage.local import LocalStorage
    from modules.styles import StyleDatabase
    from modules.tasks.model_catalog import ModelCatalog
    from modules.tasks.payloads import task_payload
    from modules.tasks.queue_memory import InProcessTaskQueue
    from modules.tasks.signing import LinkSigner, load_secret
    from modules.tasks.store_sqlite import SqliteTaskStore
    from modules.tasks.webhooks import WebhookDispatcher

    set_offline_env()
    paths = DataPaths.from_data_dir(cmd_opts.data_dir, cmd_opts.ckpt_dir, cmd_opts.vae_dir,
                                    cmd_opts.lora_dir, cmd_opts.embeddings_dir)
    paths.ensure()
    options = Options(default_options(), path=paths.config_file)
    options.load()
    precision = choose_precision(cmd_opts)
    if precision.device.type == "cpu":
        configure_cpu_threads()
    checkpoints = CheckpointRegistry(paths)
    checkpoints.refresh()
    vaes = VaeRegistry(paths)
    vaes.refresh()
    models = ModelManager(checkpoints, vaes, precision, paths.cache_dir, xformers=cmd_opts.xformers,
                          dynamic_cache=getattr(cmd_opts, "sd_dynamic_cache", False),
                          min_ram_reserved_gb=getattr(cmd_opts, "min_ram_reserved", 4.0),
                          converted_cache=ConvertedCache.from_gb(paths.cache_dir,
                                                                 getattr(cmd_opts, "converted_cache_gb", 0.0),
                                                                 paths.hash_cache_file),
                          optimizer=PipelineOptimizer(OptimizeSettings.from_cmd_opts(cmd_opts), precision))
    task_store = SqliteTaskStore(paths.tasks_db)
    tasks = InProcessTaskQueue(task_store, max_waiting=cmd_opts.queue_size)
    tasks.task_timeout = cmd_opts.task_timeout
    storage = LocalStorage(paths.outputs_dir)
    secrets_file = paths.data_dir / "secrets.json"
    links = LinkSigner(load_secret(cmd_opts.link_secret, "EASEL_LINK_SECRET", secrets_file, "link"),
                       ttl=cmd_opts.link_ttl)
    styles = StyleDatabase(paths.styles_file)
    generator = Generator(options, precision)
    generator.networks = _build_networks(paths, options)
    generation = GenerationService(options, models, generator, tasks, styles,
                                   storage=storage, links=links, data_dir=paths.data_dir)
    tasks.restorer = generation.restore
    webhooks = WebhookDispatcher(
        task_store, load_secret(cmd_opts.webhook_secret, "EASEL_WEBHOOK_SECRET", secrets_file, "webhook"),
        payload=lambda record: task_payload(record, links), max_attempts=cmd_opts.webhook_retries,
        backoff=cmd_opts.webhook_backoff, allow_private=cmd_opts.webhook_allow_private)
    tasks.on_finished.append(webhooks.on_finished)
    catalog = ModelCatalog(paths.tasks_db, paths, checkpoints, vaes, models)

    def on_checkpoint_change(_old, new) -> None:
        with models.lock:
            loaded = models.load(new)
        options.data["sd_model_checkpoint"] = loaded.info.title

    def on_vae_change(_old, new) -> None:
        vaes.check(new)
        models.set_vae(new)

    options.on_change("sd_model_checkpoint", on_checkpoint_change)
    options.on_change("sd_vae", on_vae_change)
    services = Services(cmd_opts=cmd_opts, paths=paths, options=options, checkpoints=checkpoints, vaes=vaes,
                        models=models, tasks=tasks, generation=generation, precision=precision, styles=styles,
                        extensions=list(extensions or []), task_store=task_store, storage=storage, links=links,
                        webhooks=webhooks, catalog=catalog, networks=generator.networks)
    from modules import script_callbacks, shared
    from modules.extensions import load_scripts
    from modules.paths import REPO_ROOT

    shared.bind(services)
    services.scripts = load_scripts(services.extensions, REPO_ROOT)
    models.on_loaded.append(lambda loaded: script_callbacks.model_loaded_callback(loaded.pipe))
    return services


def _build_networks(paths: DataPaths, options: Options):
    """LoRA and embedding registries (scanned once now; refresh routes rescan) and the per-batch hook."""
    from modules.embedding_registry import EmbeddingRegistry
    from modules.engine.networks import ExtraNetworks
    from modules.lora_registry import LoraRegistry

    loras = LoraRegistry(paths.lora_dirs)
    loras.refresh()
    embeddings = EmbeddingRegistry(paths.embeddings_dirs, paths.hash_cache_file)
    embeddings.refresh()
    return ExtraNetworks(loras, embeddings, options)
