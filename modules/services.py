"""The composition root: builds every service from the command line, once."""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

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

    def start(self) -> None:
        # Script UI defaults come from building each script's gradio components once; do it before serving.
        for runner in self.scripts.runners:
            runner.default_args()
        self.tasks.start()

    def stop(self) -> None:
        self.tasks.stop()


def build_services(cmd_opts: argparse.Namespace, extensions: list | None = None) -> Services:
    from modules.engine.devices import choose_precision
    from modules.engine.generator import Generator
    from modules.generation_service import GenerationService
    from modules.model_registry.checkpoints import CheckpointRegistry
    from modules.model_registry.loader import set_offline_env
    from modules.model_registry.manager import ModelManager
    from modules.model_registry.vae import VaeRegistry
    from modules.styles import StyleDatabase
    from modules.tasks.queue_memory import InProcessTaskQueue

    set_offline_env()
    paths = DataPaths.from_data_dir(cmd_opts.data_dir, cmd_opts.ckpt_dir, cmd_opts.vae_dir,
                                    cmd_opts.lora_dir, cmd_opts.embeddings_dir)
    paths.ensure()
    options = Options(default_options(), path=paths.config_file)
    options.load()
    precision = choose_precision(cmd_opts)
    checkpoints = CheckpointRegistry(paths)
    checkpoints.refresh()
    vaes = VaeRegistry(paths)
    vaes.refresh()
    models = ModelManager(checkpoints, vaes, precision, paths.cache_dir, xformers=cmd_opts.xformers)
    tasks = InProcessTaskQueue(max_waiting=getattr(cmd_opts, "queue_size", 64))
    styles = StyleDatabase(paths.styles_file)
    generation = GenerationService(options, models, Generator(options, precision), tasks, styles)

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
                        extensions=list(extensions or []))
    from modules import script_callbacks, shared
    from modules.extensions import load_scripts
    from modules.paths import REPO_ROOT

    shared.bind(services)
    services.scripts = load_scripts(services.extensions, REPO_ROOT)
    models.on_loaded.append(lambda loaded: script_callbacks.model_loaded_callback(loaded.pipe))
    return services
