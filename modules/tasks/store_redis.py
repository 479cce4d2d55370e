"""The task store on Redis: every API and worker process of a deployment reads and writes the same records.

Layout (under the key prefix, default `easel:`):
- `task:<id>`: a hash, one field per TaskRecord field (JSON), `status`/`runs`/`cancel_requested` plain, `seq` the
  insertion order;
- `idx:all`, `idx:status:<status>`, `idx:user:<user JSON>`: sorted sets (score created_at, member
  `<seq>|<id>` so that equal times keep insertion order) for listing and counting; `idx:finished` (score
  finished_at) for the retention sweep; `idem:<user JSON>:<key>` for idempotency keys;
- `sink` (score = stream index, member task id), `sink:user:<user JSON>`, `sink:seq`, `sink:commits:<consumer>`:
  the result stream and its per-consumer commits;
- `hooks`: the webhook outbox stream (a finished task that asked for a webhook is appended in the same atomic
  step that finishes it; modules/tasks/webhooks_redis.py delivers it once).
Every transition is one Lua script, so two processes never both start or both finish a task.
"""
from __future__ import annotations

import builtins
import json
import time
from dataclasses import fields
from typing import Any

from modules.errors import ConflictError
from modules.tasks.common import TaskStatus
from modules.tasks.redis_conn import DEFAULT_PREFIX, Keys, connect, translate_errors
from modules.tasks.store_base import SinkItem, TaskRecord, TaskStore
from modules.tasks.usage import TaskUsage

FIELDS = tuple(f.name for f in fields(TaskRecord))
PLAIN = ("status", "runs", "cancel_requested")
PAGE = 200

# Helpers every script shares: ARGV[1] is the key prefix.
LUA_PRELUDE = """
local P = ARGV[1]
local function tkey(id) return P .. 'task:' .. id end
local function member(id)
  return string.format('%012d|', tonumber(redis.call('HGET', tkey(id), 'seq'))) .. id
end
local function set_status(id, new)
  local key = tkey(id)
  local old = redis.call('HGET', key, 'status')
  local m = member(id)
  redis.call('ZREM', P .. 'idx:status:' .. old, m)
  redis.call('ZADD', P .. 'idx:status:' .. new, redis.call('HGET', key, 'created_at'), m)
  redis.call('HSET', key, 'status', new)
end
local function unfinished(status) return status == 'waiting' or status == 'running' end
"""

CREATE_FN = """
local function create_task(o)
  -- ARGV[o..o+4]: id, created_at, status, user JSON, idempotency key ('' = none); then field, value, ...
  local id = ARGV[o]
  local key = tkey(id)
  if redis.call('EXISTS', key) == 1 then return false end
  local seq = redis.call('INCR', P .. 'seq')
  local m = string.format('%012d|', seq) .. id
  redis.call('HSET', key, 'seq', seq, unpack(ARGV, o + 5))
  redis.call('ZADD', P .. 'idx:all', ARGV[o + 1], m)
  redis.call('ZADD', P .. 'idx:status:' .. ARGV[o + 2], ARGV[o + 1], m)
  local user = ARGV[o + 3]
  if user ~= 'null' then redis.call('ZADD', P .. 'idx:user:' .. user, ARGV[o + 1], m) end
  if ARGV[o + 4] ~= '' then redis.call('ZADD', P .. 'idem:' .. user .. ':' .. ARGV[o + 4], ARGV[o + 1], m) end
  return seq
end
"""
CREATE = LUA_PRELUDE + CREATE_FN + "return create_task(2) or 0\n"

MARK_RUNNING = LUA_PRELUDE + """
-- ARGV: prefix, id, started_at JSON, updated_at
local key = tkey(ARGV[2])
if redis.call('HGET', key, 'status') ~= 'waiting' then return false end
set_status(ARGV[2], 'running')
redis.call('HINCRBY', key, 'runs', 1)
redis.call('HSET', key, 'started_at', ARGV[3], 'updated_at', ARGV[4])
return redis.call('HGETALL', key)
"""

SET_PROGRESS = LUA_PRELUDE + """
local key = tkey(ARGV[2])
if redis.call('HGET', key, 'status') ~= 'running' then return 0 end
redis.call('HSET', key, 'progress', ARGV[3], 'progress_state', ARGV[4], 'updated_at', ARGV[5])
return 1
"""

FINISH_FN = """
local function finish_task(o)
  -- ARGV[o..o+9]: id, status, images, info, error, error_code, finished_at, updated_at, progress ('' = keep),
  -- outbox ('1': append to the webhook outbox when the task has a webhook_url). {index, user JSON} or false.
  local id = ARGV[o]
  local key = tkey(id)
  local old = redis.call('HGET', key, 'status')
  if not old or not unfinished(old) then return false end
  set_status(id, ARGV[o + 1])
  redis.call('HSET', key, 'images', ARGV[o + 2], 'info', ARGV[o + 3], 'error', ARGV[o + 4], 'error_code', ARGV[o + 5],
             'finished_at', ARGV[o + 6], 'updated_at', ARGV[o + 7])
  if ARGV[o + 8] ~= '' then redis.call('HSET', key, 'progress', ARGV[o + 8]) end
  redis.call('ZADD', P .. 'idx:finished', ARGV[o + 6], member(id))
  local index = redis.call('INCR', P .. 'sink:seq')
  redis.call('ZADD', P .. 'sink', index, id)
  local user = redis.call('HGET', key, 'user')
  if user ~= 'null' then redis.call('ZADD', P .. 'sink:user:' .. user, index, id) end
  if ARGV[o + 9] == '1' and redis.call('HGET', key, 'webhook_url') ~= 'null' then
    redis.call('HSET', key, 'webhook', '{"state":"pending","attempts":[]}')
    redis.call('XADD', P .. 'hooks', '*', 'task', id)
  end
  redis.call('PUBLISH', P .. 'done', id)
  return {index, user}
end
"""
FINISH = LUA_PRELUDE + FINISH_FN + "return finish_task(2)\n"

REQUEUE = LUA_PRELUDE + """
local key = tkey(ARGV[2])
if redis.call('HGET', key, 'status') ~= 'running' or redis.call('HGET', key, 'cancel_requested') ~= '0' then
  return 0
end
set_status(ARGV[2], 'waiting')
redis.call('HSET', key, 'started_at', 'null', 'progress', '0.0', 'updated_at', ARGV[3])
return 1
"""

REQUEST_CANCEL = LUA_PRELUDE + """
local key = tkey(ARGV[2])
local status = redis.call('HGET', key, 'status')
if not status or not unfinished(status) then return 0 end
redis.call('HSET', key, 'cancel_requested', '1', 'updated_at', ARGV[3])
return 1
"""

MARK_PURGED = LUA_PRELUDE + """
local key = tkey(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('ZREM', P .. 'idx:finished', member(ARGV[2]))
redis.call('HSET', key, 'images', '[]', 'inputs', '[]', 'params', ARGV[3], 'purged_at', ARGV[4], 'updated_at', ARGV[5])
return 1
"""

SINK_COMMIT = """
local P = ARGV[1]
local added = 0
for i = 3, #ARGV do
  if redis.call('ZCOUNT', P .. 'sink', ARGV[i], ARGV[i]) > 0 then
    added = added + redis.call('SADD', P .. 'sink:commits:' .. ARGV[2], ARGV[i])
  end
end
return added
"""


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def encode(record: TaskRecord) -> dict[str, str]:
    out = {}
    for name in FIELDS:
        value = getattr(record, name)
        if name == "status":
            out[name] = TaskStatus(value).value
        elif name == "runs":
            out[name] = str(int(value))
        elif name == "cancel_requested":
            out[name] = "1" if value else "0"
        elif name == "usage":
            out[name] = dump(value.as_dict() if value is not None else None)
        else:
            out[name] = dump(value)
    return out


def decode(data: dict[str, str] | list[str]) -> TaskRecord:
    if isinstance(data, list):  # HGETALL as a script returns it: field, value, ...
        data = dict(zip(data[::2], data[1::2], strict=True))
    values: dict[str, Any] = {}
    for name in FIELDS:
        if name not in data:
            continue
        raw = data[name]
        if name == "status":
            values[name] = TaskStatus(raw)
        elif name == "runs":
            values[name] = int(raw)
        elif name == "cancel_requested":
            values[name] = raw == "1"
        else:
            values[name] = json.loads(raw)
    for name, empty in (("progress_state", {}), ("inputs", []), ("images", []), ("webhook", {})):
        values[name] = values.get(name) or empty
    if values.get("usage") is not None:
        values["usage"] = TaskUsage.from_dict(values["usage"])
    return TaskRecord(**values)


def _task_id(member: str) -> str:
    return member.split("|", 1)[1]


@translate_errors
class RedisTaskStore(TaskStore):
    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, *, client=None, webhook_outbox: bool = True):
        self.url = url
        self.keys = Keys(prefix)
        self.redis = client if client is not None else connect(url)
        self.webhook_outbox = webhook_outbox
        self._scripts = {name: self.redis.register_script(src) for name, src in (
            ("create", CREATE), ("mark_running", MARK_RUNNING), ("set_progress", SET_PROGRESS), ("finish", FINISH),
            ("requeue", REQUEUE), ("request_cancel", REQUEST_CANCEL), ("mark_purged", MARK_PURGED),
            ("sink_commit", SINK_COMMIT))}

    def run(self, name: str, *args: Any, client=None) -> Any:
        """Run one of the store's scripts (the prefix goes first)."""
        return self._scripts[name](args=[self.keys.prefix, *args], client=client)

    # -- records --------------------------------------------------------------------------------------------------
    def create(self, record: TaskRecord) -> TaskRecord:
        self.run("create", *self.create_args(record)) or self._taken(record.id)
        return record

    def create_args(self, record: TaskRecord) -> list[str]:
        """The arguments of the create script after the prefix (the queue's submit script takes them too)."""
        now = time.time()
        record.created_at = record.created_at or now
        record.updated_at = now
        data = encode(record)
        flat = [item for pair in data.items() for item in pair]
        return [record.id, dump(record.created_at), data["status"], data["user"], record.idempotency_key or "", *flat]

    @staticmethod
    def _taken(task_id: str) -> None:
        raise ConflictError(f"task id {task_id!r} is already in use", field="task_id")

    def get(self, task_id: str) -> TaskRecord | None:
        data = self.redis.hgetall(self.keys.task(task_id))
        return decode(data) if data else None

    def get_many(self, task_ids: list[str]) -> list[TaskRecord]:
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hgetall(self.keys.task(task_id))
        return [decode(d) for d in pipe.execute() if d]

    def find_idempotent(self, user: str | None, key: str, since: float) -> TaskRecord | None:
        found = self.redis.zrevrangebyscore(self.keys("idem", dump(user), key), "+inf", since, start=0, num=1)
        return self.get(_task_id(found[0])) if found else None

    def list(self, *, user: str | None = None, status: list[TaskStatus] | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[TaskRecord]:
        wanted = {TaskStatus(s).value for s in status or []}
        if user is not None:
            return self._list_filtered(self.keys("idx", "user", dump(user)), wanted, limit, offset)
        if not wanted:
            members = self.redis.zrevrange(self.keys("idx", "all"), offset, offset + limit - 1)
            return self.get_many([_task_id(m) for m in members])
        merged: builtins.list[tuple[str, float]] = []  # (member, score)
        for value in wanted:
            merged += self.redis.zrevrange(self.keys("idx", "status", value), 0, offset + limit - 1, withscores=True,
                                           score_cast_func=float)
        merged.sort(key=lambda pair: (pair[1], pair[0]), reverse=True)
        return self.get_many([_task_id(m) for m, _ in merged[offset:offset + limit]])

    def _list_filtered(self, index: str, statuses: set[str], limit: int, offset: int) -> builtins.list[TaskRecord]:
        """Newest first from `index`, keeping only `statuses` (all when empty), paging through the index."""
        out: builtins.list[TaskRecord] = []
        skipped, start = 0, 0
        while len(out) < limit:
            members = self.redis.zrevrange(index, start, start + PAGE - 1)
            if not members:
                break
            start += PAGE
            for record in self.get_many([_task_id(m) for m in members]):
                if statuses and record.status.value not in statuses:
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(record)
                if len(out) == limit:
                    break
        return out

    def list_unfinished(self) -> builtins.list[TaskRecord]:
        merged: builtins.list[tuple[str, float]] = []
        for value in (TaskStatus.WAITING.value, TaskStatus.RUNNING.value):
            merged += self.redis.zrange(self.keys("idx", "status", value), 0, -1, withscores=True,
                                        score_cast_func=float)
        merged.sort(key=lambda pair: (pair[1], pair[0]))
        return self.get_many([_task_id(m) for m, _ in merged])

    def count(self, status: TaskStatus) -> int:
        return int(self.redis.zcard(self.keys("idx", "status", TaskStatus(status).value)))

    # -- transitions ----------------------------------------------------------------------------------------------
    def mark_running(self, task_id: str, started_at: float) -> TaskRecord | None:
        data = self.run("mark_running", task_id, dump(started_at), dump(time.time()))
        return decode(data) if data else None

    def set_progress(self, task_id: str, fraction: float, state: dict[str, Any]) -> None:
        self.run("set_progress", task_id, dump(fraction), dump(state), dump(time.time()))

    def finish_args(self, task_id: str, status: TaskStatus, *, images: builtins.list[str] | None = None, info: Any = None,
                    error: str | None = None, error_code: int | None = None, finished_at: float) -> builtins.list[str]:
        progress = dump(1.0) if status == TaskStatus.SUCCEEDED else ""
        return [task_id, TaskStatus(status).value, dump(images or []), dump(info), dump(error), dump(error_code),
                dump(finished_at), dump(time.time()), progress, "1" if self.webhook_outbox else "0"]

    def finish(self, task_id: str, status: TaskStatus, *, images: builtins.list[str] | None = None, info: Any = None,
               error: str | None = None, error_code: int | None = None, finished_at: float) -> SinkItem | None:
        result = self.run("finish", *self.finish_args(task_id, status, images=images, info=info, error=error,
                                                      error_code=error_code, finished_at=finished_at))
        return sink_item(result, task_id, finished_at)

    def requeue(self, task_id: str) -> None:
        self.run("requeue", task_id, dump(time.time()))

    def request_cancel(self, task_id: str) -> bool:
        return bool(self.run("request_cancel", task_id, dump(time.time())))

    def record_webhook(self, task_id: str, webhook: dict[str, Any]) -> None:
        key = self.keys.task(task_id)
        if self.redis.exists(key):
            self.redis.hset(key, mapping={"webhook": dump(webhook), "updated_at": dump(time.time())})

    # -- the result stream ----------------------------------------------------------------------------------------
    def sink_read(self, *, after: int, user: str | None, consumer: str, limit: int) -> builtins.list[SinkItem]:
        index = self.keys("sink") if user is None else self.keys("sink", "user", dump(user))
        commits = self.keys("sink", "commits", consumer)
        found: builtins.list[tuple[str, int]] = []
        low = f"({after}"
        while len(found) < limit:
            page = self.redis.zrangebyscore(index, low, "+inf", start=0, num=PAGE, withscores=True,
                                            score_cast_func=int)
            if not page:
                break
            committed = self.redis.smismember(commits, [str(i) for _, i in page])
            found += [(task_id, i) for (task_id, i), done in zip(page, committed, strict=True) if not done]
            low = f"({page[-1][1]}"
        found = found[:limit]
        pipe = self.redis.pipeline(transaction=False)
        for task_id, _ in found:
            pipe.hmget(self.keys.task(task_id), ["user", "finished_at"])
        rows = pipe.execute() if found else []
        return [SinkItem(index=i, task_id=task_id, user=json.loads(row[0] or "null"),
                         created_at=float(json.loads(row[1] or "0") or 0)) for (task_id, i), row in zip(found, rows, strict=True)]

    def sink_commit(self, consumer: str, indexes: builtins.list[int]) -> int:
        return int(self.run("sink_commit", consumer, *[str(int(i)) for i in indexes]))

    def sink_last_index(self) -> int:
        return int(self.redis.get(self.keys("sink", "seq")) or 0)

    # -- retention ------------------------------------------------------------------------------------------------
    def list_purgeable(self, finished_before: float, limit: int) -> builtins.list[TaskRecord]:
        members = self.redis.zrangebyscore(self.keys("idx", "finished"), "-inf", f"({finished_before}", start=0,
                                           num=limit)
        return self.get_many([_task_id(m) for m in members])

    def mark_purged(self, task_id: str, *, params: dict[str, Any] | None, purged_at: float) -> None:
        self.run("mark_purged", task_id, dump(params), dump(purged_at), dump(time.time()))

    # -- usage (cost allocation) and the result cache ----------------------------------------------------------------
    def record_usage(self, task_id: str, usage: TaskUsage) -> None:
        self.redis.hset(self.keys.task(task_id), mapping={"usage": dump(usage.as_dict()), "updated_at": dump(time.time())})

    def list_usage(self, *, since: float | None = None, until: float | None = None,
                   user: str | None = None) -> builtins.list[TaskRecord]:
        low = "-inf" if since is None else repr(since)
        high = "+inf" if until is None else f"({until!r}"
        members = self.redis.zrangebyscore(self.keys("idx", "finished"), low, high)
        records = self.get_many([_task_id(m) for m in members])
        return sorted((r for r in records if r.usage is not None and r.finished_at is not None
                       and (user is None or r.user == user)), key=lambda r: r.finished_at or 0.0)

    def set_result_key(self, task_id: str, key: str) -> None:
        record = self.get(task_id)
        if record is None:
            return
        self.redis.zadd(self.keys("rkey", dump(record.user), key), {task_id: time.time()})

    def find_result(self, user: str | None, key: str) -> TaskRecord | None:
        for task_id in self.redis.zrevrange(self.keys("rkey", dump(user), key), 0, PAGE - 1):
            record = self.get(task_id)
            if record is not None and record.status == TaskStatus.SUCCEEDED and record.purged_at is None \
                    and record.images:
                return record
        return None

    def close(self) -> None:
        self.redis.close()


def sink_item(result: list | None, task_id: str, finished_at: float) -> SinkItem | None:
    """The finish script's answer ({index, user JSON}, or nothing when the task had already finished)."""
    if not result:
        return None
    return SinkItem(index=int(result[0]), task_id=task_id, user=json.loads(result[1]), created_at=finished_at)
