"""Writing results under save_dir, A1111 style, and shaping the managed-service response."""
from __future__ import annotations

import base64
import datetime
import io
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, PngImagePlugin

from eas_lib.paths import SaveTarget, make_output_dir, write_new_file

_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"RIFF", "webp"))
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286


@dataclass
class Saved:
    """Paths in the caller's spelling: grid first, then one per image (`image_url`), then ControlNet maps.
    With an object store (`--storage-url oss://` / `s3://`) the paths are its references (`oss://bucket/key`)
    and `signed_urls` / `mask_signed_urls` hold expiring HTTPS links to the same objects."""

    image_urls: list[str] = field(default_factory=list)
    mask_urls: list[str] = field(default_factory=list)
    signed_urls: list[str] = field(default_factory=list)
    mask_signed_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutputStore:
    """The object store the data dir's output files go to (modules.storage.data_dir.DataDirStore: data-dir
    relative keys) and how long its signed URLs last."""

    store: Any
    ttl: int


class _Sink:
    """Writes one file under the save_dir: to local disk (no overwrite, no symlinks), or to the object store
    (`write_new`: the store refuses an existing key)."""

    def __init__(self, target: SaveTarget, store: OutputStore | None):
        self.target, self.store = target, store
        self.base = target.real.relative_to(target.root.resolve()).as_posix() if store is not None else ""

    def put(self, folder: str, name: str, blob: bytes) -> tuple[str, str | None]:
        """(url in the response, signed URL or None)."""
        if self.store is None:
            write_new_file(make_output_dir(self.target, *folder.split("/")) / name, blob)
            return f"{self.target.shown}/{folder}/{name}", None
        key = "/".join(p for p in (self.base if self.base != "." else "", folder, name) if p)
        self.store.store.write_new(key, blob)
        return self.store.store.reference(key), self.store.store.signed_url(key, self.store.ttl)


def _extension(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "png")


def make_grid(images: list[Image.Image]) -> Image.Image:
    """A1111's `image_grid` with n_rows = -1: round(sqrt(n)) rows, cells as large as the largest image."""
    rows = max(1, min(round(math.sqrt(len(images))), len(images)))
    cols = math.ceil(len(images) / rows)
    width, height = max(i.width for i in images), max(i.height for i in images)
    grid = Image.new("RGB", (cols * width, rows * height), "white")
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB"), (index % cols * width, index // cols * height))
    return grid


def encode_with_infotext(image: Image.Image, fmt: str, infotext: str) -> tuple[bytes, str]:
    """(bytes, extension): PNG with a `parameters` text chunk, or JPEG/WebP with the EXIF UserComment."""
    out = io.BytesIO()
    fmt = fmt.lower()
    if fmt in ("jpg", "jpeg", "webp"):
        exif = Image.Exif()
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"UNICODE\x00" + infotext.encode("utf-16-be")
        image.save(out, format="JPEG" if fmt != "webp" else "WEBP", exif=exif.tobytes(), quality=80)
        return out.getvalue(), "jpg" if fmt != "webp" else "webp"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", infotext)
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue(), "png"


def save_outputs(images_b64: list[str], info: dict[str, Any], mode: str, target: SaveTarget,
                 options: dict[str, Any], store: OutputStore | None = None) -> Saved:
    """Write every image as `<mode>-images/<date>/<uuid>-<seed>.<ext>` (bytes as generated, infotext included),
    a grid as `<mode>-grids/<date>/grid-<uuid>.<ext>` when A1111 would save one, and images beyond the
    generated ones (ControlNet detected maps) as `controlnet_mask/<date>/<uuid>.png`; under the save_dir on
    local disk, or at the same data-dir path in the object store `store`."""
    date = datetime.date.today().isoformat()
    infotexts = list(info.get("infotexts") or [])
    seeds = list(info.get("all_seeds") or [])
    count = len(infotexts) if infotexts else len(images_b64)
    blobs = [base64.b64decode(data) for data in images_b64]
    sink, saved = _Sink(target, store), Saved()
    written: list[tuple[str, str | None]] = []
    for index, blob in enumerate(blobs[:count]):
        seed = seeds[index] if index < len(seeds) else index
        written.append(sink.put(f"{mode}-images/{date}", f"{uuid.uuid4()}-{seed}.{_extension(blob)}", blob))
    if options.get("grid_save", True) and (count > 1 or (count == 1 and not options.get("grid_only_if_multiple", True))):
        pictures = [Image.open(io.BytesIO(blob)) for blob in blobs[:count]]
        data, ext = encode_with_infotext(make_grid(pictures), str(options.get("grid_format", "png")),
                                         infotexts[0] if infotexts else "")
        written.insert(0, sink.put(f"{mode}-grids/{date}", f"grid-{uuid.uuid4()}.{ext}", data))
    masks = [sink.put(f"controlnet_mask/{date}", f"{uuid.uuid4()}.{_extension(blob)}", blob) for blob in blobs[count:]]
    saved.image_urls = [url for url, _ in written]
    saved.mask_urls = [url for url, _ in masks]
    saved.signed_urls = [signed for _, signed in written if signed]
    saved.mask_signed_urls = [signed for _, signed in masks if signed]
    return saved


def success_body(*, images: list[str], info: str, id_task: str, seeds: list[Any], saved: Saved | None,
                 total_time: float, uid: str | None) -> dict[str, Any]:
    """The seed's response shape: {images, parameters: {id_task, status: 0, image_url, seed, error_msg, total_time}, info}."""
    parameters: dict[str, Any] = {"id_task": id_task, "status": 0,
                                  "image_url": ",".join(saved.image_urls) if saved else "",
                                  "seed": ",".join(str(s) for s in seeds), "error_msg": "", "total_time": total_time}
    if saved and saved.mask_urls:
        parameters["image_mask_url"] = ",".join(saved.mask_urls)
    if saved and saved.signed_urls:  # --storage-url oss:// / s3://: image_url holds the store's references
        parameters["image_signed_url"] = ",".join(saved.signed_urls)
    if saved and saved.mask_signed_urls:
        parameters["image_mask_signed_url"] = ",".join(saved.mask_signed_urls)
    if uid is not None:
        parameters["uid"] = uid
    return {"images": images, "parameters": parameters, "info": info}


def failure_body(*, status: int, message: str, id_task: str, total_time: float, uid: str | None,
                 error: str = "EasError") -> dict[str, Any]:
    """A failure: non-zero `parameters.status` (the HTTP status) and `error_msg`, plus A1111's error keys."""
    parameters: dict[str, Any] = {"id_task": id_task, "status": status, "image_url": "", "seed": "",
                                  "error_msg": message, "total_time": total_time}
    if uid is not None:
        parameters["uid"] = uid
    return {"images": [], "parameters": parameters, "info": "", "error": error, "detail": message, "body": "",
            "errors": message}
