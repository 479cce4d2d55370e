"""sha256 of model files, cached in a JSON file keyed by absolute path and invalidated by mtime/size."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)
BLOCK_SIZE = 1 << 20  # 1 MiB
PROGRESS_THRESHOLD = 1 << 30  # show a tqdm bar for files over 1 GiB
_lock = threading.RLock()


def shorthash(sha: str) -> str:
    """The 10-character short hash A1111 shows in titles."""
    return sha[:10]


def _read_cache(cache_file: Path) -> dict:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("Hash cache %s is corrupt (%s); starting a new one", cache_file, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache_file: Path, data: dict) -> None:
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, cache_file)


def compute_sha256(path: Path) -> str:
    """Stream `path` through sha256 in 1 MiB blocks (tqdm bar for files > 1 GiB)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    bar = None
    if size > PROGRESS_THRESHOLD:
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {path.name}")
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_SIZE):
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
    if bar is not None:
        bar.close()
    return digest.hexdigest()


def cached_sha256(path: Path, cache_file: Path) -> str | None:
    """The cached hash if the file's mtime and size still match, else None (never reads the file)."""
    path = Path(path).resolve()
    stat = path.stat()
    with _lock:
        entry = _read_cache(Path(cache_file)).get(str(path))
    if isinstance(entry, dict) and entry.get("mtime") == stat.st_mtime and entry.get("size") == stat.st_size:
        return entry.get("sha256")
    return None


def valid_cached_hashes(cache_file: Path) -> dict[str, str]:
    """{absolute path: sha256} of every cache entry still valid for its file's mtime and size (reads no file)."""
    with _lock:
        data = _read_cache(Path(cache_file))
    found = {}
    for path, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if entry.get("mtime") == stat.st_mtime and entry.get("size") == stat.st_size:
            found[path] = entry["sha256"]
    return found


def sha256_file(path: Path, cache_file: Path) -> str:
    """sha256 hex digest of `path`, reusing `cache_file` while mtime and size are unchanged."""
    path = Path(path).resolve()
    cached = cached_sha256(path, cache_file)
    if cached:
        return cached
    stat = path.stat()
    sha = compute_sha256(path)
    with _lock:
        data = _read_cache(Path(cache_file))
        data[str(path)] = {"sha256": sha, "mtime": stat.st_mtime, "size": stat.st_size}
        _write_cache(Path(cache_file), data)
    return sha
