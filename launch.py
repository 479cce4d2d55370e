"""Easel's entry point: parse A1111-named flags, check the install, start the server."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("easel")


def _check_install() -> None:
    missing = [name for name in ("torch", "diffusers", "transformers", "fastapi", "uvicorn")
               if __import__("importlib").util.find_spec(name) is None]
    if missing:
        sys.exit(f"Easel: missing packages {', '.join(missing)}; run ./webui.sh (or python install.py) first")


def _ensure_a_checkpoint(services) -> None:
    if services.checkpoints.first() is not None:
        return
    from modules.model_registry.tiny import write_tiny_checkpoint

    path = services.paths.ckpt_dir / "easel-tiny-random.safetensors"
    write_tiny_checkpoint(path, family="sd1", seed=0)
    services.checkpoints.refresh()
    banner = "!" * 78
    logger.warning("\n%s\n No checkpoint found in %s.\n Wrote %s: a TINY RANDOM-WEIGHT TEST MODEL.\n"
                   " It produces noise, not pictures. Put a real .safetensors checkpoint there and refresh.\n%s",
                   banner, services.paths.ckpt_dir, path.name, banner)


def assemble(cmd_opts, extensions, *, webui: bool | None = None):
    """The services and the ASGI app, as the server runs them (tests build in-process servers with this)."""
    from modules import script_callbacks
    from modules.api.app import create_app
    from modules.services import build_services

    services = build_services(cmd_opts, extensions)
    _ensure_a_checkpoint(services)
    if cmd_opts.ckpt:
        services.options.set("sd_model_checkpoint", services.checkpoints.get(cmd_opts.ckpt).title,
                             is_api=False, run_callbacks=False)
    app = create_app(services)
    demo = None
    if webui if webui is not None else not cmd_opts.nowebui:
        from modules.ui.mount import build_ui

        demo = build_ui(services)
    # Extensions add their routes here; the WebUI is mounted afterwards because its "/" mount catches all paths.
    script_callbacks.app_started_callback(demo, app)
    if demo is not None:
        from modules.ui.mount import mount_ui

        mount_ui(app, services, demo)
    return services, app


def assemble_worker(cmd_opts, extensions):
    """A `--worker` process: the services with one worker, and the health/metrics app (no WebUI, no public API)."""
    from modules.api.worker_app import create_worker_app
    from modules.services import build_services

    services = build_services(cmd_opts, extensions, workers=1)
    _ensure_a_checkpoint(services)
    if cmd_opts.ckpt:
        services.options.set("sd_model_checkpoint", services.checkpoints.get(cmd_opts.ckpt).title,
                             is_api=False, run_callbacks=False)
    return services, create_worker_app(services)


def main(argv: list[str] | None = None) -> int:
    from modules import a1111_flags
    from modules.cmd_args import parse_args_with_extensions

    cmd_opts, extensions = parse_args_with_extensions(argv, ROOT)
    level = (cmd_opts.loglevel or "INFO").upper()  # A1111's --loglevel
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    a1111_flags.report(cmd_opts)  # one warning per accepted flag that has no effect here
    if not cmd_opts.skip_install:
        subprocess.run([sys.executable, str(ROOT / "install.py")], check=True)
    if cmd_opts.exit:
        return 0
    _check_install()
    if cmd_opts.api:
        logger.info("--api: the API is always on in Easel")

    from modules import restart
    from modules.api.serve import serve
    from modules.errors import EaselError

    restart.enable()

    try:
        _services, app = (assemble_worker if cmd_opts.worker else assemble)(cmd_opts, extensions)
    except EaselError as e:  # a bad flag value (e.g. --storage-url): say which, without a traceback
        logger.error("cannot start: %s", e.message)
        return 2
    host = cmd_opts.server_name or ("0.0.0.0" if cmd_opts.listen else "127.0.0.1")
    port = cmd_opts.port or (7862 if cmd_opts.worker else 7861 if cmd_opts.nowebui else 7860)
    scheme = "https" if cmd_opts.tls_certfile else "http"
    role = "worker: health and metrics only" if cmd_opts.worker else "API only" if cmd_opts.nowebui else "WebUI + API"
    logger.info("Easel on %s://%s:%d (%s)", scheme, host, port, role)
    serve(app, host=host, port=port, timeout_keep_alive=cmd_opts.timeout_keep_alive,
          timeout_graceful_shutdown=cmd_opts.timeout_graceful_shutdown,
          ssl_keyfile=cmd_opts.tls_keyfile, ssl_certfile=cmd_opts.tls_certfile)
    if restart.restart_requested():  # "Apply and restart UI": the same command line, config.json read again
        restart.exec_again()
    return 0


if __name__ == "__main__":
    sys.exit(main())
