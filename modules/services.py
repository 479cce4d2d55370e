"""The composition root: builds every service from the command line, once. The app factory, launch and the
tests use `build_services`; nothing else constructs services.

Importing this module imports no torch: engine types are named for type checkers only, and the engine is built
inside `build_services`.
"""
from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.errors import EaselError, InvalidRequestError, ModelNotFoundError
from modules.generation.build import BuildContext
from modules.generation.limits import Limits
from modules.generation.pipeline import GenerationPipeline
from modules.metrics import Metrics
from modules.options import Options
from modules.paths import LEGACY_SECRETS_FILE, DataPaths
from modules.shared_options import default_options, pinned_from_flags
from modules.storage.base import Storage
from modules.styles import StyleDatabase
from modules.tasks import cluster
from modules.tasks.queue_base import TaskQueue
from modules.tasks.signing import LinkSigner
from modules.tasks.store_base import TaskStore
from modules.tasks.webhooks import WebhookDispatcher
from modules.tasks.worker import HandlerRegistry, Worker

if TYPE_CHECKING:
    from modules.engine.devices import Precision
    from modules.engine.face_restoration import FaceRestorers
    from modules.engine.model_manager import ModelManager
    from modules.engine.networks import ExtraNetworks
    from modules.engine.sr_upscalers import SrUpscalers
    from modules.generation.jobs import GenerationJobs
    from modules.model_registry.checkpoints import CheckpointRegistry
    from modules.model_registry.current import CurrentCheckpoint
    from modules.model_registry.vae import VaeRegistry
    from modules.safety.guardrail import PromptGuard
    from modules.safety.nsfw import NsfwCensor
    from modules.scripts_runner import ScriptRegistry
    from modules.storage.references import ReferenceReader
    from modules.storage.retention import RetentionSweeper
    from modules.tasks.model_catalog import ModelCatalog
    from modules.users.directory import UserDirectory

logger = logging.getLogger(__name__)


@dataclass
class Services:
    cmd_opts: argparse.Namespace
    paths: DataPaths
    options: Options
    limits: Limits
    precision: Precision
    checkpoints: CheckpointRegistry
    vaes: VaeRegistry
    models: ModelManager
    networks: ExtraNetworks
    sr_upscalers: SrUpscalers  # ESRGAN & co. files as upscalers
    face_restorers: FaceRestorers  # GFPGAN, CodeFormer
    styles: StyleDatabase
    scripts: ScriptRegistry
    task_store: TaskStore
    queue: TaskQueue
    storage: Storage  # task inputs and results (the signed links serve these)
    files: Storage  # the data dir's output files (A1111 outputs folders, save_dir), in the object store if one
    links: LinkSigner
    webhooks: WebhookDispatcher
    catalog: ModelCatalog
    pipeline: GenerationPipeline
    jobs: GenerationJobs
    handlers: HandlerRegistry
    retention: RetentionSweeper
    references: ReferenceReader  # oss:// / s3:// inputs, confined to the configured store
    workers: list[Worker] = field(default_factory=list)
    extensions: list[Any] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)  # GET /metrics (modules/observability.py wires it)
    guard: PromptGuard | None = None  # the prompt guardrail
    censor: NsfwCensor | None = None  # --enable-nsfw-censor
    users: UserDirectory | None = None  # who may log in (--users-file, --api-auth, --gradio-auth): modules/users
    current_checkpoint: CurrentCheckpoint | None = None  # keeps sd_model_checkpoint naming an existing file

    def start(self) -> None:
        # Script UI defaults come from building each script's gradio components once; do it before serving.
        for runner in self.scripts.runners:
            runner.default_args()
        self.webhooks.start()
        self.queue.start()
        for worker in self.workers:
            worker.start()
        self.retention.start()
        # A process that only enqueues loads no model; A1111's --skip-load-model-at-start: load on first use.
        if self.workers and not getattr(self.cmd_opts, "skip_load_model_at_start", False):
            threading.Thread(target=self._preload_model, name="easel-preload", daemon=True).start()

    def stop(self) -> None:
        from modules import shared

        self.retention.stop()
        self.queue.stop()
        for worker in self.workers:
            worker.stop()
        self.webhooks.stop()
        shared.unbind(self)

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

    def describe_workers(self) -> list[dict]:
        """This process's workers, or with a shared queue every worker of the cluster (from their heartbeats)."""
        shared = {"waiting": self.queue.waiting_count(), "queue_size": self.queue.max_waiting,
                  "timeout": self.queue.task_timeout}
        announced = self.queue.workers()
        if announced:
            return [{**w, "model": w.get("loaded"), **shared} for w in announced]
        return [{**w.describe(), "model": self.models.current_title,
                 "device": str(getattr(self.precision, "device", "cpu")), **shared} for w in self.workers]


def build_services(cmd_opts: argparse.Namespace, extensions: list | None = None, *, workers: int = 1) -> Services:
    """Everything, wired. `workers=0` builds a process that only enqueues (another process runs the tasks)."""
    from modules.engine.devices import choose_precision, configure_cpu_threads
    from modules.engine.generator import Generator
    from modules.engine.model_manager import ModelManager
    from modules.engine.optimize import OptimizeSettings, PipelineOptimizer
    from modules.generation.inputs import InputImages
    from modules.generation.jobs import GenerationJobs
    from modules.generation.outputs import ResultWriter
    from modules.model_registry.checkpoints import CheckpointRegistry
    from modules.model_registry.loader import load_pipeline, set_offline_env
    from modules.model_registry.vae import VaeRegistry
    from modules.storage.data_dir import DataDirStore
    from modules.storage.factory import reference_reader, storage_from_url
    from modules.storage.local import LocalStorage
    from modules.storage.retention import RetentionPolicy, RetentionSweeper
    from modules.tasks.model_catalog import ModelCatalog
    from modules.tasks.payloads import task_payload
    from modules.tasks.signing import migrate_secrets

    cluster.check_flags(cmd_opts)
    workers = cluster.local_worker_count(cmd_opts, workers)
    set_offline_env()
    paths = DataPaths.from_data_dir(cmd_opts.data_dir, cmd_opts.ckpt_dir, cmd_opts.vae_dir,
                                    cmd_opts.lora_dir, cmd_opts.embeddings_dir,
                                    models_dir=getattr(cmd_opts, "models_dir", None),
                                    styles_file=(getattr(cmd_opts, "styles_file", None) or [None])[0])
    hashing = not getattr(cmd_opts, "no_hashing", False)  # --no-hashing: no sha256 of any model file
    paths.ensure()
    options = Options(default_options(), path=paths.config_file, pinned=pinned_from_flags(cmd_opts))
    options.load()
    limits = Limits.from_cmd_opts(cmd_opts)
    precision = choose_precision(cmd_opts)
    if precision.device.type == "cpu":
        configure_cpu_threads()
    remote_models = _remote_models(cmd_opts, paths)
    checkpoints = CheckpointRegistry(paths, hash_on_scan=hashing, remote=remote_models)
    checkpoints.refresh()
    vaes = VaeRegistry(paths, hashing=hashing, remote=remote_models)
    vaes.refresh()
    load_stats = cluster.LoadStats()
    models = ModelManager(checkpoints, vaes, precision, paths.cache_dir, load_fn=load_stats.timed(load_pipeline),
                          xformers=cmd_opts.xformers,
                          dynamic_cache=getattr(cmd_opts, "sd_dynamic_cache", False),
                          min_ram_reserved_gb=getattr(cmd_opts, "min_ram_reserved", 4.0),
                          converted_cache=_converted_cache(cmd_opts, paths, hashing),
                          optimizer=PipelineOptimizer(OptimizeSettings.from_cmd_opts(cmd_opts), precision))
    task_store, queue = cluster.build_task_backend(cmd_opts, paths.tasks_db)
    storage = storage_from_url(getattr(cmd_opts, "storage_url", None), cmd_opts, default_root=paths.outputs_dir,
                               data_dir=paths.data_dir)
    # The A1111 outputs folders (save_images) and save_dir images: the data dir, or the object store itself.
    files = DataDirStore(storage, paths.data_dir, paths.outputs_dir) if storage.is_object_store else \
        LocalStorage(paths.data_dir)
    retention = RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(
        getattr(cmd_opts, "outputs_retention_days", 0.0), getattr(cmd_opts, "outputs_retention", "")),
        getattr(cmd_opts, "retention_interval", 3600.0))
    references = reference_reader(storage, cmd_opts, default_root=paths.outputs_dir, data_dir=paths.data_dir)
    secrets_file = paths.secrets_file
    migrate_secrets(paths.data_dir / LEGACY_SECRETS_FILE, secrets_file)
    links = LinkSigner(cluster.shared_secret(task_store, "link", cmd_opts.link_secret, "EASEL_LINK_SECRET",
                                             secrets_file), ttl=cmd_opts.link_ttl, storage=storage)
    styles = StyleDatabase(paths.styles_file)
    generator = Generator(options, precision, disable_nan_check=getattr(cmd_opts, "disable_nan_check", False))
    networks = _build_networks(paths, options, cmd_opts, hashing, remote_models)
    generator.networks = networks
    sr_upscalers, face_restorers = _build_sr_models(paths, cmd_opts, options, precision)
    generator.face_restorers = face_restorers
    webhooks = cluster.webhook_dispatcher(
        cmd_opts, task_store,
        cluster.shared_secret(task_store, "webhook", cmd_opts.webhook_secret, "EASEL_WEBHOOK_SECRET", secrets_file),
        payload=lambda record: task_payload(record, links), max_attempts=cmd_opts.webhook_retries,
        backoff=cmd_opts.webhook_backoff, allow_private=cmd_opts.webhook_allow_private)
    queue.on_finished.append(webhooks.on_finished)
    catalog = ModelCatalog(paths.tasks_db, paths, checkpoints, vaes, models, references=references)
    _watch_model_options(options, models, vaes, load=workers > 0)

    from modules import script_callbacks, shared
    from modules.extensions import load_scripts
    from modules.paths import REPO_ROOT

    scripts = load_scripts(list(extensions or []), REPO_ROOT)
    build_context = BuildContext(limits, options, checkpoints, vaes, styles, scripts, inputs=InputImages(references))
    pipeline = GenerationPipeline(build_context, storage, queue,
                                  webhook_allow_private=cmd_opts.webhook_allow_private, face_restorers=face_restorers)
    jobs = GenerationJobs(options=options, models=models, generator=generator, scripts=scripts, storage=storage,
                          outputs=ResultWriter(storage, files, options, paths.data_dir), limits=limits,
                          face_restorers=face_restorers)
    handlers = HandlerRegistry()
    jobs.register(handlers)
    services = Services(cmd_opts=cmd_opts, paths=paths, options=options, limits=limits, precision=precision,
                        checkpoints=checkpoints, vaes=vaes, models=models, networks=networks,
                        sr_upscalers=sr_upscalers, face_restorers=face_restorers, styles=styles,
                        scripts=scripts, task_store=task_store, queue=queue, storage=storage, files=files,
                        links=links, webhooks=webhooks, catalog=catalog, pipeline=pipeline, jobs=jobs,
                        handlers=handlers, retention=retention, references=references,
                        extensions=list(extensions or []))
    services.current_checkpoint = _follow_checkpoint_files(options, checkpoints)
    services.workers = [Worker(queue, handlers, name, on_thread_start=lambda: shared.bind_thread(services))
                        for name in cluster.worker_names(cmd_opts, workers)]
    cluster.attach_worker_info(queue, cluster.worker_info(models, precision, handlers, load_stats, cmd_opts.device_id),
                               models.held_titles, models)
    from modules.observability import attach

    attach(services)  # metrics, task usage, prompt guardrail, NSFW censor, --result-cache
    from modules.users.wiring import attach_users

    attach_users(services)  # the user directory, per-user quotas and the queue's per-user running limit
    shared.bind(services)
    models.on_loaded.append(lambda loaded: script_callbacks.model_loaded_callback(loaded.pipe))
    return services


def _remote_models(cmd_opts: argparse.Namespace, paths):
    """--models-url's models (modules/storage/model_cache.py), or None."""
    url = getattr(cmd_opts, "models_url", None)
    if not url:
        return None
    from modules.storage.factory import parse_storage_url, storage_from_url
    from modules.storage.model_cache import RemoteModels

    if parse_storage_url(url, field="--models-url").scheme == "file":
        raise InvalidRequestError("--models-url: use oss://bucket/prefix or s3://bucket/prefix (local model folders "
                                  "are --ckpt-dir, --vae-dir, ...)", field="--models-url")
    store = storage_from_url(url, cmd_opts, default_root=paths.models_dir, data_dir=paths.data_dir)
    budget = int(float(getattr(cmd_opts, "model_cache_gb", 50.0) or 0) * (1 << 30))
    logger.info("--models-url: models from %s, cached in %s", store.describe(), paths.cache_dir / "remote-models")
    return RemoteModels(store, paths.cache_dir / "remote-models", budget)


def _follow_checkpoint_files(options: Options, checkpoints: CheckpointRegistry) -> CurrentCheckpoint:
    from modules.model_registry.current import CurrentCheckpoint

    current = CurrentCheckpoint(options, checkpoints)
    checkpoints.on_refreshed.append(current.ensure)
    return current


def _converted_cache(cmd_opts: argparse.Namespace, paths: DataPaths, hashing: bool):
    """--converted-cache-gb's cache, keyed by each checkpoint's sha256, so it needs hashing."""
    from modules.model_registry.converted_cache import ConvertedCache

    gb = getattr(cmd_opts, "converted_cache_gb", 0.0)
    if gb and not hashing:
        logger.warning("--converted-cache-gb ignored: its entries are keyed by sha256, which --no-hashing turns off")
        return None
    return ConvertedCache.from_gb(paths.cache_dir, gb, paths.hash_cache_file)


def _watch_model_options(options: Options, models: ModelManager, vaes: VaeRegistry, *, load: bool = True) -> None:
    """Setting sd_model_checkpoint or sd_vae (options route, Settings) loads it, under the model lock (a process
    without a worker only checks the name: its workers load what each task names)."""

    def on_checkpoint_change(_old: Any, new: Any) -> None:
        if not load:
            options.data["sd_model_checkpoint"] = models.resolve(new).title
            return
        with models.lock:
            loaded = models.load(new)
        options.data["sd_model_checkpoint"] = loaded.info.title

    def on_vae_change(_old: Any, new: Any) -> None:
        vaes.check(new)
        models.set_vae(new)

    options.on_change("sd_model_checkpoint", on_checkpoint_change)
    options.on_change("sd_vae", on_vae_change)


def _build_sr_models(paths: DataPaths, cmd_opts: argparse.Namespace, options: Options,
                     precision: Precision) -> tuple[SrUpscalers, FaceRestorers]:
    """Upscaler and face-restoration files (models/ESRGAN, ..., models/GFPGAN, models/Codeformer), scanned now."""
    from modules.engine.face_restoration import FaceRestorers
    from modules.engine.sr_upscalers import SrUpscalers
    from modules.model_registry.sr_models import SrModelRegistry, model_folders

    folders = model_folders(paths.models_dir, cmd_opts)
    for kind_folders in folders.values():
        kind_folders[0].mkdir(parents=True, exist_ok=True)
    registry = SrModelRegistry(folders)
    sr_upscalers = SrUpscalers(registry, options, precision)
    sr_upscalers.refresh()
    restorers = FaceRestorers(registry, options, precision, folders=folders,
                              gfpgan_model=getattr(cmd_opts, "gfpgan_model", None))
    return sr_upscalers, restorers


def _build_networks(paths: DataPaths, options: Options, cmd_opts: argparse.Namespace,
                    hashing: bool = True, remote=None) -> ExtraNetworks:
    """LoRA (also --lyco-dir-backcompat), embedding and hypernetwork (also --hypernetwork-dir) registries, scanned
    once now (refresh routes rescan), and the per-batch hook. The sd_hypernetwork option chooses among the
    hypernetworks found."""
    from modules.engine.embedding_registry import EmbeddingRegistry
    from modules.engine.networks import ExtraNetworks
    from modules.model_registry.hypernetworks import NONE, HypernetworkRegistry
    from modules.model_registry.loras import LoraRegistry

    lyco = getattr(cmd_opts, "lyco_dir_backcompat", None)
    loras = LoraRegistry([*paths.lora_dirs, *([Path(lyco).expanduser().resolve()] if lyco else [])], hashing=hashing,
                         remote=remote)
    loras.refresh()
    embeddings = EmbeddingRegistry(paths.embeddings_dirs, paths.hash_cache_file, hashing=hashing)
    embeddings.refresh()
    hypernetworks = HypernetworkRegistry(paths.hypernetwork_dirs(getattr(cmd_opts, "hypernetwork_dir", None)))
    hypernetworks.refresh()
    if "sd_hypernetwork" in options.table:
        options.table["sd_hypernetwork"].choices = lambda: [NONE, *hypernetworks.names()]
    return ExtraNetworks(loras, embeddings, options, hypernetworks=hypernetworks)
