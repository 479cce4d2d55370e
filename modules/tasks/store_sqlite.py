"""The embedded task store: one SQLite file in the data dir (WAL), safe across `kill -9`."""
from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from modules.errors import ConflictError
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import SinkItem, TaskRecord, TaskStore
from modules.tasks.usage import USAGE_COLUMNS, TaskUsage

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, user TEXT, model TEXT, status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, progress_state TEXT, params TEXT, summary TEXT, images TEXT, urls TEXT,
    info TEXT, error TEXT, runs INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT, webhook_url TEXT,
    base_url TEXT, webhook TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL, updated_at REAL,
    payload TEXT, inputs TEXT, priority TEXT NOT NULL DEFAULT 'normal', cancel_requested INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER, purged_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status, created_at);
CREATE INDEX IF NOT EXISTS tasks_idem ON tasks(idempotency_key, user, created_at);
CREATE INDEX IF NOT EXISTS tasks_user ON tasks(user, created_at);
CREATE TABLE IF NOT EXISTS sink (
    idx INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE, user TEXT, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sink_commits (
    consumer TEXT NOT NULL, idx INTEGER NOT NULL, committed_at REAL NOT NULL, PRIMARY KEY (consumer, idx)
);
"""

# Columns added after the first release (a data dir made by an older Easel is migrated on open).
_ADDED_COLUMNS = {"payload": "TEXT", "inputs": "TEXT", "priority": "TEXT NOT NULL DEFAULT 'normal'",
                  "cancel_requested": "INTEGER NOT NULL DEFAULT 0", "error_code": "INTEGER", "purged_at": "REAL",
                  **USAGE_COLUMNS, "result_key": "TEXT"}
_JSON_FIELDS = ("progress_state", "params", "payload", "inputs", "images", "info", "webhook")
_COLUMNS = ("id", "kind", "user", "model", "priority", "status", "progress", "progress_state", "params", "payload",
            "inputs", "images", "info", "error", "error_code", "runs", "cancel_requested", "idempotency_key", "webhook_url",
            "base_url", "webhook", "created_at", "started_at", "finished_at", "updated_at", "purged_at")


def connect(path: Path) -> sqlite3.Connection:
    """A WAL-mode connection usable from any thread (callers serialise with their own lock)."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes; fsync at checkpoints
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _row_to_record(row: sqlite3.Row) -> TaskRecord:
    data = {key: row[key] for key in _COLUMNS}
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key]) if data[key] is not None else None
    data["status"] = TaskStatus(data["status"])
    data["progress_state"] = data["progress_state"] or {}
    data["inputs"] = data["inputs"] or []
    data["images"] = data["images"] or []
    data["webhook"] = data["webhook"] or {}
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["usage"] = TaskUsage.from_columns(row)
    if data["params"] is None and row["summary"]:  # a record of an older Easel: its summary was the echo
        data["params"] = json.loads(row["summary"])
    return TaskRecord(**data)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


class SqliteTaskStore(TaskStore):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = connect(self.path)
        with self._lock:
            self._conn.executescript(SCHEMA)
            present = {r[1] for r in self._conn.execute("PRAGMA table_info(tasks)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in present:
                    self._conn.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
            self._conn.execute("CREATE INDEX IF NOT EXISTS tasks_purge ON tasks(purged_at, finished_at)")
            self._conn.execute("CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at)")
            self._conn.execute("CREATE INDEX IF NOT EXISTS tasks_result ON tasks(result_key, user, status)")

    def _one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def create(self, record: TaskRecord) -> TaskRecord:
        now = time.time()
        record.created_at = record.created_at or now
        record.updated_at = now
        values = []
        for key in _COLUMNS:
            value = getattr(record, key)
            if key == "status":
                value = TaskStatus(value).value
            elif key == "cancel_requested":
                value = int(bool(value))
            values.append(_dump(value) if key in _JSON_FIELDS else value)
        placeholders = ",".join("?" for _ in _COLUMNS)
        try:
            with self._lock:
                self._conn.execute(f"INSERT INTO tasks ({','.join(_COLUMNS)}) VALUES ({placeholders})", values)
        except sqlite3.IntegrityError as e:
            raise ConflictError(f"task id {record.id!r} is already in use", field="task_id") from e
        return record

    def get(self, task_id: str) -> TaskRecord | None:
        row = self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _row_to_record(row) if row else None

    def find_idempotent(self, user: str | None, key: str, since: float) -> TaskRecord | None:
        row = self._one("SELECT * FROM tasks WHERE idempotency_key = ? AND user IS ? AND created_at >= ? "
                        "ORDER BY created_at DESC LIMIT 1", (key, user, since))
        return _row_to_record(row) if row else None

    def list(self, *, user: str | None = None, status: builtins.list[TaskStatus] | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[TaskRecord]:
        where, args = [], []
        if user is not None:
            where.append("user = ?")
            args.append(user)
        if status:
            where.append(f"status IN ({','.join('?' for _ in status)})")
            args.extend(TaskStatus(s).value for s in status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._conn.execute(f"SELECT * FROM tasks {clause} ORDER BY created_at DESC, rowid DESC "
                                      "LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
        return [_row_to_record(r) for r in rows]

    def list_unfinished(self) -> builtins.list[TaskRecord]:
        """Waiting and running records, oldest first (what a restarted worker must deal with)."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM tasks WHERE status IN ('waiting', 'running') "
                                      "ORDER BY created_at, rowid").fetchall()
        return [_row_to_record(r) for r in rows]

    def count(self, status: TaskStatus) -> int:
        row = self._one("SELECT COUNT(*) FROM tasks WHERE status = ?", (TaskStatus(status).value,))
        assert row is not None  # an aggregate always answers one row
        return int(row[0])

    def mark_running(self, task_id: str, started_at: float) -> TaskRecord | None:
        with self._lock:
            cur = self._conn.execute("UPDATE tasks SET status = 'running', runs = runs + 1, started_at = ?, "
                                     "updated_at = ? WHERE id = ? AND status = 'waiting'",
                                     (started_at, time.time(), task_id))
            return self.get(task_id) if cur.rowcount else None

    def set_progress(self, task_id: str, fraction: float, state: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET progress = ?, progress_state = ?, updated_at = ? "
                               "WHERE id = ? AND status = 'running'", (fraction, _dump(state), time.time(), task_id))

    def finish(self, task_id: str, status: TaskStatus, *, images: builtins.list[str] | None = None, info: Any = None,
               error: str | None = None, error_code: int | None = None, finished_at: float) -> SinkItem | None:
        progress = 1.0 if status == TaskStatus.SUCCEEDED else None
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(
                    "UPDATE tasks SET status = ?, images = ?, info = ?, error = ?, error_code = ?, finished_at = ?, "
                    "updated_at = ?, progress = COALESCE(?, progress) WHERE id = ? "
                    "AND status IN ('waiting', 'running')",
                    (TaskStatus(status).value, _dump(images or []), _dump(info), error, error_code, finished_at,
                     time.time(), progress, task_id))
                if not cur.rowcount:
                    self._conn.execute("ROLLBACK")
                    return None
                user = self._conn.execute("SELECT user FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
                cur = self._conn.execute("INSERT INTO sink (task_id, user, created_at) VALUES (?, ?, ?)",
                                         (task_id, user, finished_at))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return SinkItem(index=int(cur.lastrowid or 0), task_id=task_id, user=user, created_at=finished_at)

    def requeue(self, task_id: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET status = 'waiting', started_at = NULL, progress = 0, "
                               "updated_at = ? WHERE id = ? AND status = 'running' AND cancel_requested = 0",
                               (time.time(), task_id))

    def request_cancel(self, task_id: str) -> bool:
        with self._lock:
            cur = self._conn.execute("UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? "
                                     "AND status IN ('waiting', 'running')", (time.time(), task_id))
            return bool(cur.rowcount)

    def record_webhook(self, task_id: str, webhook: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET webhook = ?, updated_at = ? WHERE id = ?",
                               (_dump(webhook), time.time(), task_id))

    def sink_read(self, *, after: int, user: str | None, consumer: str, limit: int) -> builtins.list[SinkItem]:
        sql = ("SELECT s.idx, s.task_id, s.user, s.created_at FROM sink s WHERE s.idx > ? "
               "AND NOT EXISTS (SELECT 1 FROM sink_commits c WHERE c.consumer = ? AND c.idx = s.idx)")
        args: builtins.list[Any] = [after, consumer]
        if user is not None:
            sql += " AND s.user = ?"
            args.append(user)
        sql += " ORDER BY s.idx LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [SinkItem(index=r[0], task_id=r[1], user=r[2], created_at=r[3]) for r in rows]

    def sink_commit(self, consumer: str, indexes: builtins.list[int]) -> int:
        now = time.time()
        with self._lock:
            before = self._conn.total_changes
            self._conn.executemany("INSERT OR IGNORE INTO sink_commits (consumer, idx, committed_at) "
                                   "SELECT ?, idx, ? FROM sink WHERE idx = ?", [(consumer, now, i) for i in indexes])
            return self._conn.total_changes - before

    def sink_last_index(self) -> int:
        row = self._one("SELECT COALESCE(MAX(idx), 0) FROM sink")
        assert row is not None  # an aggregate always answers one row
        return int(row[0])

    def list_purgeable(self, finished_before: float, limit: int) -> builtins.list[TaskRecord]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM tasks WHERE purged_at IS NULL AND finished_at IS NOT NULL "
                                      "AND finished_at < ? AND status IN ('succeeded', 'failed', 'cancelled') "
                                      "ORDER BY finished_at, rowid LIMIT ?", (finished_before, limit)).fetchall()
        return [_row_to_record(r) for r in rows]

    def mark_purged(self, task_id: str, *, params: dict[str, Any] | None, purged_at: float) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET images = '[]', inputs = '[]', params = ?, purged_at = ?, "
                               "updated_at = ? WHERE id = ?", (_dump(params), purged_at, time.time(), task_id))

    def record_usage(self, task_id: str, usage: TaskUsage) -> None:
        columns = usage.to_columns()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._lock:
            self._conn.execute(f"UPDATE tasks SET {assignments}, updated_at = ? WHERE id = ?",
                               (*columns.values(), time.time(), task_id))

    def list_usage(self, *, since: float | None = None, until: float | None = None,
                   user: str | None = None) -> builtins.list[TaskRecord]:
        where: builtins.list[str] = ["finished_at IS NOT NULL", "run_seconds IS NOT NULL"]
        args: builtins.list[object] = []
        if since is not None:
            where.append("finished_at >= ?")
            args.append(since)
        if until is not None:
            where.append("finished_at < ?")
            args.append(until)
        if user is not None:
            where.append("user IS ?")
            args.append(user)
        with self._lock:
            rows = self._conn.execute(f"SELECT * FROM tasks WHERE {' AND '.join(where)} "
                                      "ORDER BY finished_at, rowid", args).fetchall()
        return [_row_to_record(r) for r in rows]

    def set_result_key(self, task_id: str, key: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET result_key = ? WHERE id = ?", (key, task_id))

    def find_result(self, user: str | None, key: str) -> TaskRecord | None:
        row = self._one("SELECT * FROM tasks WHERE result_key = ? AND user IS ? AND status = 'succeeded' "
                        "AND purged_at IS NULL AND images IS NOT NULL AND images != '[]' "
                        "ORDER BY finished_at DESC LIMIT 1", (key, user))
        return _row_to_record(row) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
