"""Models registered through the serverless API (`/models`): files copied into the data dir's model folders,
recorded in the task database with an etag and a status; the checkpoint/VAE registries are refreshed at once."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from modules.errors import ConflictError, ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.model_registry.hashes import sha256_file
from modules.tasks.store_sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, oss_path TEXT, local_path TEXT NOT NULL, etag TEXT,
    registered REAL NOT NULL, modified REAL NOT NULL
);
"""
TYPES = {"stablediffusion": "stableDiffusion", "checkpoint": "stableDiffusion", "sd": "stableDiffusion",
         "sdvae": "sdVae", "vae": "sdVae", "lora": "lora", "controlnet": "controlNet"}
SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


class ModelCatalog:
    def __init__(self, db_path: Path, paths, checkpoints, vaes, models):
        self.paths, self.checkpoints, self.vaes, self.models = paths, checkpoints, vaes, models
        self._lock = threading.RLock()
        self._conn = connect(db_path)
        self._conn.executescript(SCHEMA)

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
        return {"type": row["type"], "name": row["name"], "ossPath": row["oss_path"], "etag": row["etag"],
                "status": self._status(row["type"], path), "registeredTime": iso(row["registered"]),
                "lastModificationTime": iso(row["modified"]), "localPath": self._rel(path)}

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
                            "registeredTime": None, "lastModificationTime": iso(info.filename.stat().st_mtime),
                            "localPath": self._rel(info.filename)})
        for vae in self.vaes.list():
            if Path(vae.filename).resolve() not in registered:
                out.append({"type": "sdVae", "name": vae.model_name, "ossPath": self._rel(vae.filename), "etag": "",
                            "status": self._status("sdVae", vae.filename), "registeredTime": None,
                            "lastModificationTime": iso(vae.filename.stat().st_mtime),
                            "localPath": self._rel(vae.filename)})
        return out

    def register(self, name: str, model_type: str | None, *, oss_path: str | None = None,
                 upload: BinaryIO | None = None, upload_name: str | None = None, replace: bool = False) -> tuple[dict[str, Any], bool]:
        """Register (or with `replace`, update) a model; returns (attributes, changed)."""
        with self._lock:
            existing = self._row(name)
            if replace and existing is None:
                raise NotFoundError(f"model {name!r} is not registered", field="model_name")
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
            self._conn.execute(
                "INSERT INTO models (name, type, oss_path, local_path, etag, registered, modified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET type = excluded.type, "
                "oss_path = excluded.oss_path, local_path = excluded.local_path, etag = excluded.etag, "
                "modified = excluded.modified",
                (name, kind, oss_path if upload is None else f"upload:{upload_name or name}", str(target), digest,
                 now, now))
            self._refresh(kind)
            return self._attrs(self._row(name)), True

    def delete(self, name: str) -> None:
        with self._lock:
            row = self._row(name)
            if row is None:
                raise NotFoundError(f"model {name!r} is not registered", field="model_name")
            path = Path(row["local_path"])
            if row["type"] == "stableDiffusion" and self._status(row["type"], path) == "loaded":
                with self.models.lock:
                    self.models.unload()
            path.unlink(missing_ok=True)
            self._conn.execute("DELETE FROM models WHERE name = ?", (name,))
            self._refresh(row["type"])
