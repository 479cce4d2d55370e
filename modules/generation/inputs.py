"""Input images of a request: base64, a `data:` URL, or a reference to an object in storage (`oss://bucket/key`,
`s3://bucket/key`), read through the ReferenceReader (bucket/prefix confinement, `--storage-allow-external-refs`)
with a size cap and decoded with the same rules as uploaded images (pixel limit, decompression bombs, EXIF
orientation).

A referenced object that lies in the configured store is used where it is: the task payload names its key and the
worker reads it from there, instead of a copy under `tasks/<id>/inputs/`. Objects under Easel's own `tasks/` prefix
(another task's results or inputs, which retention deletes) and objects of other buckets are copied as usual.
"""
from __future__ import annotations

import re
import threading
import weakref

from PIL import Image

from modules import images as image_utils
from modules.errors import EaselError, NotFoundError
from modules.storage.references import ReferenceReader, is_reference

MAX_STORED_INPUT_BYTES = 64 * 1024 * 1024  # the largest stored object read as an input image
OWN_PREFIX = "tasks/"  # Easel's task folders: referenced objects there are copied (retention deletes them)
# A key relative to the object store ("inputs/a.png"): never valid base64, whose alphabet has no "."
_STORE_KEY = re.compile(r"^[A-Za-z0-9._()\-]+(/[A-Za-z0-9._()\-]+)*\.(png|jpe?g|webp|bmp|gif)$", re.IGNORECASE)


def is_store_key(value: object) -> bool:
    """Whether an image field's value names an object by its key in the configured store."""
    return isinstance(value, str) and len(value) < 1024 and bool(_STORE_KEY.match(value.strip()))


class InputImages:
    """Decodes the image fields of requests; remembers which decoded images are objects of the configured store."""

    def __init__(self, references: ReferenceReader | None = None, *, max_bytes: int = MAX_STORED_INPUT_BYTES):
        self.references = references
        self.max_bytes = max_bytes
        self._keys: dict[int, str] = {}  # id(image) -> its key in the configured store, dropped with the image
        self._lock = threading.Lock()

    def decode(self, value: object, *, field: str, max_pixels: int) -> Image.Image:
        """The image a field gives: base64 / data URL, or (with a store) an `oss://` / `s3://` reference, or,
        with an object store configured, a key relative to it."""
        if self.references is not None and (is_reference(value) or (
                self.references.storage.is_object_store and is_store_key(value))):
            return self._read(str(value).strip(), field, max_pixels)
        return image_utils.decode_base64_image(value, field=field, max_pixels=max_pixels)  # type: ignore[arg-type]

    def _read(self, ref: str, field: str, max_pixels: int) -> Image.Image:
        assert self.references is not None
        store, key = self.references.resolve(ref, field=field)
        try:
            data = store.read_limited(key, self.max_bytes, field=field)
        except NotFoundError as e:
            raise NotFoundError(f"{field}: no stored object at {ref}", field=field) from e
        image = image_utils.decode_image_bytes(data, field=field, max_pixels=max_pixels)
        if store is self.references.storage and not key.startswith(OWN_PREFIX):
            with self._lock:
                self._keys[id(image)] = key
            weakref.finalize(image, self._forget, id(image))
        return image

    def _forget(self, ident: int) -> None:
        with self._lock:
            self._keys.pop(ident, None)

    def stored_key(self, image: Image.Image) -> str | None:
        """The key of the configured store's object `image` was read from (so it need not be stored again)."""
        with self._lock:
            return self._keys.get(id(image))


def read_stored_image(storage, key: str, *, max_pixels: int) -> Image.Image:
    """An input image of a task, read back where the task runs (the same decoding rules as at the edge)."""
    try:
        data = storage.read(key)
    except NotFoundError as e:
        raise NotFoundError(f"the input image {key} is no longer stored", field="key") from e
    try:
        return image_utils.decode_image_bytes(data, field=key, max_pixels=max_pixels)
    except EaselError as e:
        raise EaselError(f"the stored input image {key} cannot be read: {e.message}") from e
