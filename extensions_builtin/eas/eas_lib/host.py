"""What the shim asks of the host WebUI: model names, and the ControlNet extension's unit checks. Easel answers
through `shared.services`; stock A1111 through `modules.sd_models` / `modules.sd_vae` and its script runners (the
branch a 1.10 install takes)."""
from __future__ import annotations

import difflib
from typing import Any

from eas_lib.errors import EasError, bad_request, not_found
from modules import shared


def _easel_services() -> Any:
    services = getattr(shared, "services", None)
    return services if getattr(services, "checkpoints", None) is not None else None


def _refresh_checkpoints() -> None:
    refresh = getattr(shared, "refresh_checkpoints", None)
    if callable(refresh):
        refresh()


def _easel_checkpoint(services: Any, name: str) -> str:
    from modules.errors import ModelNotFoundError

    try:
        return services.checkpoints.get(name).title
    except ModelNotFoundError:
        _refresh_checkpoints()  # uploaded (e.g. through the FileBrowser) since the last scan?
    try:
        return services.checkpoints.get(name).title
    except ModelNotFoundError as exc:
        raise not_found(f"sd_model_checkpoint: {exc.message}", field="sd_model_checkpoint") from exc


def _a1111_checkpoint(name: str) -> str:
    from modules import sd_models  # stock A1111

    info = sd_models.get_closet_checkpoint_match(name)
    if info is None:
        sd_models.list_models()
        info = sd_models.get_closet_checkpoint_match(name)
    if info is None:
        titles = sd_models.checkpoint_tiles()
        close = difflib.get_close_matches(name, titles, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        raise not_found(f"sd_model_checkpoint: Checkpoint {name!r} not found.{hint}", field="sd_model_checkpoint")
    return info.title


def resolve_checkpoint(name: object) -> str:
    """The title of the checkpoint `name` (title, file name, stem or hash); 404 listing close matches."""
    if not isinstance(name, str) or not name.strip():
        from eas_lib.errors import bad_request

        raise bad_request(f"sd_model_checkpoint: expected a model name, got {name!r}", field="sd_model_checkpoint")
    services = _easel_services()
    return _easel_checkpoint(services, name.strip()) if services is not None else _a1111_checkpoint(name.strip())


def resolve_vae(name: object) -> str:
    """`name` checked as an sd_vae choice ("Automatic", "None" or a VAE file name); 404 otherwise."""
    if not isinstance(name, str):
        from eas_lib.errors import bad_request

        raise bad_request(f"sd_vae: expected a VAE name, got {name!r}", field="sd_vae")
    wanted = name.strip()
    if wanted in ("Automatic", "None", ""):
        return wanted or "None"
    services = _easel_services()
    if services is not None:
        from modules.errors import ModelNotFoundError

        try:
            services.vaes.check(wanted)
        except ModelNotFoundError as exc:
            raise not_found(f"sd_vae: {exc.message}", field="sd_vae") from exc
        return wanted
    from modules import sd_vae  # stock A1111

    if wanted not in sd_vae.vae_dict:
        raise not_found(f"sd_vae: VAE {wanted!r} not found; available: {['Automatic', 'None', *sd_vae.vae_dict]}",
                        field="sd_vae")
    return wanted


def _controlnet_script(mode: str) -> Any:
    """The ControlNet extension's always-on script of the tab (Easel's runner, or stock A1111's), or None."""
    services = _easel_services()
    if services is not None:
        runner = services.scripts.runner(mode)
    else:
        from modules import scripts  # stock A1111

        runner = getattr(scripts, f"scripts_{mode}", None)
    for script in getattr(runner, "alwayson_scripts", None) or []:
        if str(script.title()).lower() == "controlnet":
            return script
    return None


def check_controlnet_units(units: list, mode: str) -> None:
    """Let the ControlNet extension check the units (names, ranges, images, installed models) before the shim
    fetches their image_links. Its errors keep their status (422, 404)."""
    from modules.errors import EaselError

    script = _controlnet_script(mode)
    check = getattr(script, "check_units", None)
    if check is None:
        raise bad_request("alwayson_scripts.controlnet: no ControlNet extension is installed",
                          field="alwayson_scripts.controlnet")
    try:
        check(units, mode, links_pending=True)
    except EaselError as exc:
        raise EasError(exc.status_code, exc.message, field=exc.field) from exc


def is_storage_reference(link: object) -> bool:
    """oss://bucket/key or s3://bucket/key (read through the configured store, not fetched over HTTP)."""
    return isinstance(link, str) and link.strip().lower().startswith(("oss://", "s3://"))


def read_stored_image(link: str, field: str, max_bytes: int) -> bytes:
    """The bytes of an object-store reference, read with Easel's configured store and credentials; the
    reference must lie in its bucket and prefix (unless --storage-allow-external-refs). Raises EasError."""
    from modules.errors import EaselError

    reader = getattr(_easel_services(), "references", None)
    if reader is None:
        raise bad_request(f"{field}: oss:// and s3:// references need Easel with --storage-url", field=field)
    try:
        return reader.read(link.strip(), field=field, max_bytes=max_bytes)
    except EaselError as exc:
        raise EasError(exc.status_code, exc.message, field=field) from exc


def option(key: str, default: Any) -> Any:
    """A live option value (`shared.opts`), or `default` when the host has no such option."""
    return getattr(shared.opts, key, default) if shared.opts is not None else default


def task_status(task_id: str) -> str | None:
    """The recorded status of a task ("succeeded", "cancelled", ...); None when the host keeps no task records."""
    services = _easel_services()
    store = getattr(services, "task_store", None) if services is not None else None
    record = store.get(task_id) if store is not None else None
    return getattr(getattr(record, "status", None), "value", None)
