"""The Lua scripts of the Redis queue (modules/tasks/queue_redis.py). Each transition is one script, so it
happens whole or not at all, and two processes never both take, finish or re-queue one task.

Keys (under the prefix): `q:<priority>:users` (sorted set of the users with waiting tasks, by name),
`q:<priority>:u:<user>` (that user's waiting task ids, score = submission order), `q:where` (task id -> JSON
[priority, user, order]), `q:count` (waiting per priority), `q:cursor` (priority -> the user served last),
`deliveries` (the stream every start goes through; consumer group `workers`), `delivery` (task id -> its
stream entry), `running` (task ids, score = start time), `worker:<name>` (the heartbeat hash, with a TTL),
`workers` (their names), `prog:<id>` / `preview:<id>` / `prevwant:<id>` (live progress, the encoded preview
and who wants it), `ctl:<id>` (interrupt / skip signals, a list), `stats`, `settings`, `dead` (dead-letter
stream).
"""
from __future__ import annotations

from modules.tasks.store_redis import CREATE_FN, FINISH_FN, LUA_PRELUDE

GROUP = "workers"

QUEUE_FNS = """
local GROUP = 'workers'
local function enqueue(id, prio, user, order)
  if order == nil or order == '' then order = redis.call('INCR', P .. 'q:seq') end
  redis.call('ZADD', P .. 'q:' .. prio .. ':u:' .. user, order, id)
  redis.call('ZADD', P .. 'q:' .. prio .. ':users', 0, user)
  redis.call('HSET', P .. 'q:where', id, cjson.encode({prio, user, tonumber(order)}))
  redis.call('HINCRBY', P .. 'q:count', prio, 1)
  redis.call('PUBLISH', P .. 'wake', id)
end
local function dequeue(id)
  local w = redis.call('HGET', P .. 'q:where', id)
  if not w then return false end
  local e = cjson.decode(w)
  local k = P .. 'q:' .. e[1] .. ':u:' .. e[2]
  redis.call('ZREM', k, id)
  if redis.call('ZCARD', k) == 0 then redis.call('ZREM', P .. 'q:' .. e[1] .. ':users', e[2]) end
  redis.call('HDEL', P .. 'q:where', id)
  redis.call('HINCRBY', P .. 'q:count', e[1], -1)
  return w
end
local function deliver(id, worker)
  -- The start goes through the consumer group: added and read by this worker in one step, so the entry is
  -- in the worker's pending list (acknowledged when the task ends, reclaimed if the worker dies).
  local stream = P .. 'deliveries'
  local entry = redis.call('XADD', stream, '*', 'task', id)
  for _ = 1, 100 do
    local got = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', 1, 'STREAMS', stream, '>')
    if not got then break end
    local seen = got[1][2][1][1]
    if seen == entry then break end
    redis.call('XACK', stream, GROUP, seen)  -- left by a script that failed half-way: nothing refers to it
    redis.call('XDEL', stream, seen)
  end
  redis.call('HSET', P .. 'delivery', id, entry)
  return entry
end
local function forget_delivery(id, entry)
  if entry and entry ~= '' then
    redis.call('XACK', P .. 'deliveries', GROUP, entry)
    redis.call('XDEL', P .. 'deliveries', entry)
  end
  redis.call('HDEL', P .. 'delivery', id)
  redis.call('ZREM', P .. 'running', id)
  redis.call('DEL', P .. 'prog:' .. id, P .. 'preview:' .. id, P .. 'prevwant:' .. id, P .. 'ctl:' .. id)
end
local function worker_state(name, state, id, model, started)
  local k = P .. 'worker:' .. name
  if redis.call('EXISTS', k) == 1 then  -- never re-create an expired heartbeat
    redis.call('HSET', k, 'state', state, 'task', id, 'task_model', model, 'task_started', started)
  end
end
"""

_HEAD = LUA_PRELUDE + CREATE_FN + FINISH_FN + QUEUE_FNS

SUBMIT = _HEAD + """
-- ARGV: prefix, max waiting, priority, user key, then the create arguments (id, created_at, ...)
local waiting = redis.call('ZCARD', P .. 'idx:status:waiting')
if waiting >= tonumber(ARGV[2]) then return {-1, waiting} end
local seq = create_task(5)
if not seq then return {0, waiting} end
enqueue(ARGV[5], ARGV[3], ARGV[4], '')
return {seq, waiting}
"""

ENQUEUE_STORED = _HEAD + """
-- A waiting record the queue does not hold (recovery): queue it. ARGV: prefix, id, priority, user key
local key = tkey(ARGV[2])
if redis.call('HGET', key, 'status') ~= 'waiting' or redis.call('HEXISTS', P .. 'q:where', ARGV[2]) == 1 then
  return 0
end
enqueue(ARGV[2], ARGV[3], ARGV[4], '')
return 1
"""

REQUEUE_STORED = _HEAD + """
-- A running record without a delivery (recovery): waiting again, queued. ARGV: prefix, id, priority, user, now
local key = tkey(ARGV[2])
if redis.call('HGET', key, 'status') ~= 'running' or redis.call('HEXISTS', P .. 'delivery', ARGV[2]) == 1 then
  return 0
end
set_status(ARGV[2], 'waiting')
redis.call('HSET', key, 'started_at', 'null', 'progress', '0.0', 'updated_at', ARGV[5])
enqueue(ARGV[2], ARGV[3], ARGV[4], '')
return 1
"""

TAKE = _HEAD + """
-- ARGV: prefix, id, worker, started_at JSON, now
local id = ARGV[2]
local key = tkey(id)
if redis.call('HGET', key, 'status') ~= 'waiting' then return false end
local w = dequeue(id)
if not w then return false end
local e = cjson.decode(w)
set_status(id, 'running')
redis.call('HINCRBY', key, 'runs', 1)
redis.call('HSET', key, 'started_at', ARGV[4], 'updated_at', ARGV[5], 'qwhere', w)
redis.call('HSET', P .. 'q:cursor', e[1], e[2])
local entry = deliver(id, ARGV[3])
redis.call('ZADD', P .. 'running', ARGV[5], id)
worker_state(ARGV[3], 'busy', id, redis.call('HGET', key, 'model'), ARGV[5])
return {entry, redis.call('HGETALL', key)}
"""

RECLAIM = _HEAD + """
-- A stream entry taken over from a worker that stopped beating. ARGV: prefix, id, entry, worker, started JSON, now
local id, entry = ARGV[2], ARGV[3]
local key = tkey(id)
if redis.call('HGET', key, 'status') ~= 'running' or redis.call('HGET', P .. 'delivery', id) ~= entry then
  redis.call('XACK', P .. 'deliveries', GROUP, entry)
  redis.call('XDEL', P .. 'deliveries', entry)
  return {'gone'}
end
local crashes = redis.call('HINCRBY', key, 'crashes', 1)
if redis.call('HGET', key, 'cancel_requested') == '1' then return {'cancel'} end
if crashes >= 2 then return {'crashed'} end
redis.call('HINCRBY', key, 'runs', 1)
redis.call('HSET', key, 'started_at', ARGV[5], 'updated_at', ARGV[6])
redis.call('ZADD', P .. 'running', ARGV[6], id)
worker_state(ARGV[4], 'busy', id, redis.call('HGET', key, 'model'), ARGV[6])
return {'run', redis.call('HGETALL', key)}
"""

COMPLETE = _HEAD + """
-- ARGV: prefix, finish arguments (2..11), worker, stream entry, duration ('' = none), dead letter JSON ('' = none)
local done = finish_task(2)
forget_delivery(ARGV[2], ARGV[13])
worker_state(ARGV[12], 'idle', '', 'null', '')
local duration = tonumber(ARGV[14])
if duration then
  local old = tonumber(redis.call('HGET', P .. 'stats', 'task_seconds'))
  redis.call('HSET', P .. 'stats', 'task_seconds', old and (0.8 * old + 0.2 * duration) or duration)
end
if done and ARGV[15] ~= '' then redis.call('XADD', P .. 'dead', 'MAXLEN', '~', 10000, '*', 'entry', ARGV[15]) end
return done
"""

REQUEUE_RUN = _HEAD + """
-- A run handed back: after a failure that may be retried, or because its worker stops (then it does not count
-- as a run). ARGV: prefix, id, worker, stream entry, now, '1' when handed back by a stopping worker
local id = ARGV[2]
local key = tkey(id)
if redis.call('HGET', key, 'status') ~= 'running' or redis.call('HGET', key, 'cancel_requested') ~= '0' then
  return 0
end
set_status(id, 'waiting')
redis.call('HSET', key, 'started_at', 'null', 'progress', '0.0', 'updated_at', ARGV[5])
if ARGV[6] == '1' then redis.call('HINCRBY', key, 'runs', -1) end
forget_delivery(id, ARGV[4])
worker_state(ARGV[3], 'idle', '', 'null', '')
local e = cjson.decode(redis.call('HGET', key, 'qwhere') or 'null')
if e then enqueue(id, e[1], e[2], e[3]) else enqueue(id, 'normal', '', '') end
return 1
"""

CANCEL_WAITING = _HEAD + """
-- ARGV: prefix, finish arguments (2..11)
if not dequeue(ARGV[2]) then return false end
return finish_task(2)
"""

POSITION = _HEAD + """
-- 1-based place in run order (priority levels, then round robin between users). ARGV: prefix, id
local w = redis.call('HGET', P .. 'q:where', ARGV[2])
if not w then return false end
local e = cjson.decode(w)
local prio, user = e[1], e[2]
local before = 0
for _, p in ipairs({'high', 'normal', 'low'}) do
  if p == prio then break end
  before = before + (tonumber(redis.call('HGET', P .. 'q:count', p)) or 0)
end
local rank = redis.call('ZRANK', P .. 'q:' .. prio .. ':u:' .. user, ARGV[2])
local cursor = redis.call('HGET', P .. 'q:cursor', prio)
local function turn(u) if cursor and u <= cursor then return 1 end return 0 end
local mine = turn(user)
for _, v in ipairs(redis.call('ZRANGE', P .. 'q:' .. prio .. ':users', 0, -1)) do
  if v ~= user then
    local n = redis.call('ZCARD', P .. 'q:' .. prio .. ':u:' .. v)
    local ahead = math.min(n, rank)
    local tv = turn(v)
    if n > rank and (tv < mine or (tv == mine and v < user)) then ahead = ahead + 1 end
    before = before + ahead
  end
end
return before + rank + 1
"""

SNAPSHOT = _HEAD + """
-- What the scheduler needs: per priority {name, has cursor, cursor, {{user, {{id, order, model, created}}}}},
-- every live worker's heartbeat hash, and the stats. ARGV: prefix, users per level (0: all), tasks per user (0: all)
local U, K = tonumber(ARGV[2]), tonumber(ARGV[3])
local levels = {}
for _, p in ipairs({'high', 'normal', 'low'}) do
  local key = P .. 'q:' .. p .. ':users'
  local cursor = redis.call('HGET', P .. 'q:cursor', p)
  local users
  if cursor then
    users = redis.call('ZRANGEBYLEX', key, '(' .. cursor, '+', 'LIMIT', 0, U > 0 and U or -1)
    local rest = U > 0 and (U - #users) or -1
    if rest ~= 0 then
      for _, u in ipairs(redis.call('ZRANGEBYLEX', key, '-', '[' .. cursor, 'LIMIT', 0, rest)) do
        table.insert(users, u)
      end
    end
  else
    users = redis.call('ZRANGEBYLEX', key, '-', '+', 'LIMIT', 0, U > 0 and U or -1)
  end
  local rows = {}
  for _, u in ipairs(users) do
    local ids = redis.call('ZRANGE', P .. 'q:' .. p .. ':u:' .. u, 0, K > 0 and (K - 1) or -1, 'WITHSCORES')
    local tasks = {}
    for i = 1, #ids, 2 do
      local meta = redis.call('HMGET', tkey(ids[i]), 'model', 'created_at')
      table.insert(tasks, {ids[i], ids[i + 1], meta[1] or 'null', meta[2] or '0'})
    end
    table.insert(rows, {u, tasks})
  end
  table.insert(levels, {p, cursor and 1 or 0, cursor or '', rows})
end
local workers = {}
for _, name in ipairs(redis.call('SMEMBERS', P .. 'workers')) do
  local h = redis.call('HGETALL', P .. 'worker:' .. name)
  if #h == 0 then redis.call('SREM', P .. 'workers', name) else table.insert(workers, h) end
end
return {levels, workers, redis.call('HGETALL', P .. 'stats')}
"""

TOUCH = """
-- Reset the idle time of a consumer's stream entries (only those it still owns).
-- ARGV: stream key, group, consumer, entry, ...
local kept = 0
for i = 4, #ARGV do
  local info = redis.call('XPENDING', ARGV[1], ARGV[2], ARGV[i], ARGV[i], 1)
  if info[1] and info[1][2] == ARGV[3] then
    redis.call('XCLAIM', ARGV[1], ARGV[2], ARGV[3], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""
