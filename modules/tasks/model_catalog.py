"""Models registered through the serverless API (`/models`): files copied into the data dir's model folders,
recorded in the task database with an etag and a status; the checkpoint/VAE registries are refreshed at once.

An `ossPath` that is an object-store reference (`oss://bucket/key`, `s3://bucket/key`; confined to the configured
store like image inputs) is downloaded into the model folder (modules/storage/download.py: progress bar in the
log, size + MD5-ETag + optional SHA-256 checks). The row says `loading` while it downloads (GET /models shows
it; the catalog lock is not held meanwhile), then the registry status, or `failed` with the error. The same
reference with the object's ETag unchanged is a no-op; a changed ETag downloads it again."""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from modules.errors import ConflictError, EaselError, ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.model_registry.hashes import sha256_file
from modules.storage.references import is_reference
from modules.tasks.store_sqlite import connect

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, oss_path TEXT, local_path TEXT NOT NULL, etag TEXT,
    registered REAL NOT NULL, modified REAL NOT NULL
);
"""
# added for models downloaded from object storage: the store's ETag, the download state and its error
_COLUMNS_ADDED = {"source_etag": "TEXT", "state": "TEXT", "error": "TEXT"}
LOADING, FAILED = "loading", "failed"
TYPES = {"stablediffusion": "stableDiffusion", "checkpoint": "stableDiffusion", "sd": "stableDiffusion",
         "sdvae": "sdVae", "vae": "sdVae", "lora": "lora", "controlnet": "controlNet"}
SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _mtime(path: Path) -> str | None:
    """A listed file's modification time; None for a --models-url model not downloaded yet."""
    try:
        return iso(Path(path).stat().st_mtime)
    except OSError:
        return None


class ModelCatalog:
    def __init__(self, db_path: Path, paths, checkpoints, vaes, models, references=None):
        self.paths, self.checkpoints, self.vaes, self.models = paths, checkpoints, vaes, models
        self.references = references  # modules.storage.references.ReferenceReader: ossPath in object storage
        self._lock = threading.RLock()
        self._conn = connect(db_path)
        self._conn.executescript(SCHEMA)
        have = {row["name"] for row in self._conn.execute("PRAGMA table_info(models)")}
        for column, kind in _COLUMNS_ADDED.items():
            if column not in have:
                self._conn.execute(f"ALTER TABLE models ADD COLUMN {column} {kind}")
        # a download cut off by a restart is not coming back: say so
        self._conn.execute("UPDATE models SET state = ?, error = ? WHERE state = ?",
                           (FAILED, "the download was interrupted by a restart; register the model again", LOADING))

    # -- helpers -------------------------------------------------------------------------------------------
    def _type(self, value: str | None) -> str:
        key = (value or "stableDiffusion").replace("_", "").replace("-", "").lower()
        if key not in TYPES:
            raise InvalidRequestError(f"type: unknown model type {value!r}; use stableDiffusion, sdVae, lora or "
                                      "controlNet", field="type")
        return TYPES[key]

    def _folder(self, model_type: str) -> Path:
        return {"stableDiffusion": self.paths.ckpt_dir, "sdVae": self.paths.vae_dir, "lora": self.paths.lora_dir,
                "controlNet": self.paths.controlnet_dir}[model_type]

    def _source(self, oss_path: str) -> Path:
        """A stored file inside the data dir: relative to it, or absolute within it."""
        if not oss_path:
            raise InvalidRequestError("ossPath: give a stored path or upload a file", field="ossPath")
        root = self.paths.data_dir.resolve()
        given = Path(oss_path)
        path = given if given.is_absolute() and given.resolve().is_relative_to(root) else root / oss_path.lstrip("/")
        path = path.resolve()
        if path != root and root not in path.parents:
            raise ForbiddenPathError(f"ossPath: {oss_path!r} is outside the data dir", field="ossPath")
        if not path.is_file():
            raise NotFoundError(f"ossPath: no stored file at {oss_path!r}", field="ossPath")
        return path

    def _target(self, name: str, model_type: str, suffix: str) -> Path:
        if not _NAME.match(name or ""):
            raise InvalidRequestError(f"name: 1-128 characters of A-Z a-z 0-9 . _ -, got {name!r}", field="name")
        suffix = suffix.lower()
        if suffix not in SUFFIXES:
            raise InvalidRequestError(f"unsupported model file type {suffix!r}; use one of {', '.join(SUFFIXES)}",
                                      field="ossPath")
        file_name = name if name.lower().endswith(SUFFIXES) else name + suffix
        return self._folder(model_type) / file_name

    def _place(self, target: Path, source: Path | None, upload: BinaryIO | None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if source is not None and source == target.resolve():
            return
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                if upload is not None:
                    shutil.copyfileobj(upload, out, 1 << 20)
                elif source is not None:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _refresh(self, model_type: str) -> None:
        if model_type == "stableDiffusion":
            self.checkpoints.refresh()
        elif model_type == "sdVae":
            self.vaes.refresh()

    def _status(self, model_type: str, path: Path) -> str:
        loaded = self.models.loaded
        if model_type == "stableDiffusion":
            return "loaded" if loaded is not None and Path(loaded.info.filename) == path.resolve() else "unloaded"
        if model_type == "sdVae":
            return "loaded" if self.models.vae_path is not None and Path(self.models.vae_path) == path else "unloaded"
        return "unloaded"

    def _attrs(self, row) -> dict[str, Any]:
        path = Path(row["local_path"])
        state = row["state"]
        attrs = {"type": row["type"], "name": row["name"], "ossPath": row["oss_path"],
                 "etag": row["source_etag"] or row["etag"],
                 "status": state if state in (LOADING, FAILED) else self._status(row["type"], path),
                 "registeredTime": iso(row["registered"]), "lastModificationTime": iso(row["modified"]),
                 "localPath": self._rel(path)}
        if row["source_etag"]:
            attrs["sha256"] = row["etag"]
        if state == FAILED and row["error"]:
            attrs["error"] = row["error"]
        return attrs

    def _rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.paths.data_dir.resolve()).as_posix()

    def _row(self, name: str):
        with self._lock:
            return self._conn.execute("SELECT * FROM models WHERE name = ?", (name,)).fetchone()

    # -- the API -------------------------------------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any]:
        row = self._row(name)
        if row is None:
            for item in self.list():
                if item["name"] == name:
                    return item
            raise NotFoundError(f"model {name!r} is not registered", field="model_name")
        return self._attrs(row)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM models ORDER BY registered").fetchall()
        out = [self._attrs(r) for r in rows]
        registered = {Path(r["local_path"]).resolve() for r in rows}
        for info in self.checkpoints.list():
            if Path(info.filename).resolve() not in registered:
                out.append({"type": "stableDiffusion", "name": info.name, "ossPath": self._rel(info.filename),
                            "etag": info.sha256 or "", "status": self._status("stableDiffusion", info.filename),
                            "registeredTime": None, "lastModificationTime": _mtime(info.filename),
                            "localPath": self._rel(info.filename)})
        for vae in self.vaes.list():
            if Path(vae.filename).resolve() not in registered:
                out.append({"type": "sdVae", "name": vae.model_name, "ossPath": self._rel(vae.filename), "etag": "",
                            "status": self._status("sdVae", vae.filename), "registeredTime": None,
                            "lastModificationTime": _mtime(vae.filename),
                            "localPath": self._rel(vae.filename)})
        return out

    def register(self, name: str, model_type: str | None, *, oss_path: str | None = None,
                 upload: BinaryIO | None = None, upload_name: str | None = None, replace: bool = False,
                 etag: str | None = None, sha256: str | None = None) -> tuple[dict[str, Any], bool]:
        """Register (or with `replace`, update) a model; returns (attributes, changed). `etag` / `sha256`
        check a model downloaded from object storage (422 naming the field when the object differs)."""
        if upload is None and is_reference(oss_path):
            return self._register_stored(name, model_type, str(oss_path).strip(), replace=replace, etag=etag,
                                         sha256=sha256)
        with self._lock:
            existing = self._row(name)
            if replace and existing is None:
                raise NotFoundError(f"model {name!r} is not registered", field="model_name")
            self._check_not_loading(existing)
            kind = self._type(model_type or (existing["type"] if existing else None))
            if upload is None and not oss_path:
                raise InvalidRequestError("ossPath: give the model's stored path or upload the file", field="ossPath")
            source = self._source(oss_path) if upload is None and oss_path else None
            if existing is not None and not replace:
                if existing["oss_path"] == oss_path and upload is None and existing["type"] == kind:
                    return self._attrs(existing), False
                raise ConflictError(f"model {name!r} is already registered; PUT /models/{name} updates it",
                                    field="name")
            suffix = Path(upload_name or (source.name if source else "")).suffix or ".safetensors"
            target = self._target(name, kind, suffix)
            if existing is not None and Path(existing["local_path"]) != target:
                Path(existing["local_path"]).unlink(missing_ok=True)
            self._place(target, source, upload)
            digest = sha256_file(target, self.paths.hash_cache_file)
            now = time.time()
            self._upsert(name, kind, str(oss_path) if upload is None else f"upload:{upload_name or name}", target,
                         digest, now)
            self._refresh(kind)
            return self._attrs(self._row(name)), True

    def _upsert(self, name: str, kind: str, oss_path: str, target: Path, digest: str | None, now: float, *,
                source_etag: str | None = None, state: str | None = None, error: str | None = None) -> None:
        self._conn.execute(
            "INSERT INTO models (name, type, oss_path, local_path, etag, registered, modified, source_etag, state, "
            "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET type = excluded.type, "
            "oss_path = excluded.oss_path, local_path = excluded.local_path, etag = excluded.etag, "
            "modified = excluded.modified, source_etag = excluded.source_etag, state = excluded.state, "
            "error = excluded.error",
            (name, kind, oss_path, str(target), digest, now, now, source_etag, state, error))

    @staticmethod
    def _check_not_loading(row) -> None:
        if row is not None and row["state"] == LOADING:
            raise ConflictError(f"model {row['name']!r} is being downloaded; try again when its status is not "
                                "'loading'", field="name")

    def _register_stored(self, name: str, model_type: str | None, reference: str, *, replace: bool,
                         etag: str | None, sha256: str | None) -> tuple[dict[str, Any], bool]:
        """Download `reference` into the model folder (the lock is released while the bytes move)."""
        from modules.storage.download import download_object

        if self.references is None:
            raise InvalidRequestError("ossPath: oss:// and s3:// model paths need --storage-url oss:// or s3://",
                                      field="ossPath")
        store, key = self.references.resolve(reference, field="ossPath")
        try:
            info = store.stat(key)
        except NotFoundError as e:
            raise NotFoundError(f"ossPath: no stored object at {reference}", field="ossPath") from e
        with self._lock:
            existing = self._row(name)
            if replace and existing is None:
                raise NotFoundError(f"model {name!r} is not registered", field="model_name")
            self._check_not_loading(existing)
            kind = self._type(model_type or (existing["type"] if existing else None))
            target = self._target(name, kind, Path(key).suffix or ".safetensors")
            if existing is not None and existing["oss_path"] != reference and not replace:
                raise ConflictError(f"model {name!r} is already registered; PUT /models/{name} updates it",
                                    field="name")
            unchanged = (not replace and existing is not None and existing["oss_path"] == reference
                         and existing["type"] == kind and (not sha256 or sha256.lower() == existing["etag"])
                         and existing["state"] != FAILED and existing["source_etag"] == info.etag
                         and Path(existing["local_path"]).is_file())
            if unchanged:
                return self._attrs(existing), False
            if existing is not None and Path(existing["local_path"]) != target:
                Path(existing["local_path"]).unlink(missing_ok=True)
            registered = existing["registered"] if existing is not None else time.time()
            self._upsert(name, kind, reference, target, None, registered, source_etag=info.etag, state=LOADING)
        try:
            got = download_object(store, key, target, expected_etag=etag, expected_sha256=sha256)
        except EaselError as e:
            with self._lock:
                self._upsert(name, kind, reference, target, None, time.time(), source_etag=info.etag, state=FAILED,
                             error=e.message)
            logger.warning("model %s: downloading %s failed: %s", name, reference, e.message)
            raise
        with self._lock:
            self._upsert(name, kind, reference, target, got.sha256, time.time(), source_etag=got.etag or info.etag)
            self._refresh(kind)
            logger.info("model %s registered from %s (etag %s, sha256 %s)", name, reference, got.etag, got.sha256)
            return self._attrs(self._row(name)), True

    def delete(self, name: str) -> None:
        with self._lock:
            row = self._row(name)
            if row is None:
                raise NotFoundError(f"model {name!r} is not registered", field="model_name")
            self._check_not_loading(row)
            path = Path(row["local_path"])
            if row["type"] == "stableDiffusion" and self._status(row["type"], path) == "loaded":
                with self.models.lock:
                    self.models.unload()
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".source.json").unlink(missing_ok=True)  # a download's sidecar
            self._conn.execute("DELETE FROM models WHERE name = ?", (name,))
            self._refresh(row["type"])
