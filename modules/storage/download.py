"""Download an object into a local file (model files from object storage), with a progress bar in the log,
verification against the expected ETag / SHA-256, and a sidecar that makes an unchanged object a no-op."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from modules.errors import InvalidRequestError
from modules.storage.base import Storage

logger = logging.getLogger(__name__)
_PLAIN_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")  # single-part ETags are the MD5; multipart ones end in -N
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Downloaded:
    path: Path
    reference: str
    etag: str | None
    sha256: str
    size: int
    reused: bool = False  # the local copy already matched; nothing was downloaded


def _same_etag(a: str | None, b: str | None) -> bool:
    return (a or "").strip('"').lower() == (b or "").strip('"').lower()


def sidecar_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source.json")


def download_object(storage: Storage, key: str, dest: Path, *, expected_etag: str | None = None,
                    expected_sha256: str | None = None, progress: bool = True) -> Downloaded:
    """Fetch `key` into `dest` atomically (temp file + rename). Skips the download when `dest` came from the
    same object with the same ETag. InvalidRequestError naming `etag` / `sha256` when the store's object
    does not match what the caller expects (the partial file is removed)."""
    info = storage.stat(key)
    reference = storage.reference(key)
    if expected_etag and info.etag and not _same_etag(info.etag, expected_etag):
        raise InvalidRequestError(f"etag: {reference} has ETag {info.etag}, not {expected_etag}", field="etag")
    sidecar = sidecar_path(dest)
    if dest.is_file() and sidecar.is_file():
        try:
            known = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            known = {}
        if (known.get("reference") == reference and info.etag and _same_etag(known.get("etag"), info.etag)
                and known.get("size") == info.size == dest.stat().st_size
                and (not expected_sha256 or known.get("sha256") == expected_sha256.lower())):
            return Downloaded(dest, reference, info.etag, known["sha256"], info.size, reused=True)
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    logger.info("downloading %s (%d bytes) to %s", reference, info.size, dest)
    try:
        with os.fdopen(fd, "wb") as out, storage.open_stream(key) as stream, tqdm(
                total=info.size, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr, mininterval=1.0,
                disable=not progress) as bar:
            while block := stream.read(_BLOCK):
                out.write(block)
                sha.update(block)
                md5.update(block)
                size += len(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        digest = sha.hexdigest()
        if size != info.size:
            raise InvalidRequestError(f"etag: {reference} changed while downloading ({size} of {info.size} bytes)",
                                      field="etag")
        if info.etag and _PLAIN_MD5.match(info.etag) and md5.hexdigest() != info.etag.lower():
            raise InvalidRequestError(f"etag: the bytes of {reference} do not match its ETag {info.etag}",
                                      field="etag")
        if expected_sha256 and digest != expected_sha256.lower():
            raise InvalidRequestError(f"sha256: {reference} has SHA-256 {digest}, not {expected_sha256}",
                                      field="sha256")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    result = Downloaded(dest, reference, info.etag, digest, size)
    record = {k: v for k, v in asdict(result).items() if k not in ("path", "reused")}
    sidecar.write_text(json.dumps(record), encoding="utf-8")
    logger.info("downloaded %s: sha256 %s", reference, digest)
    return result
