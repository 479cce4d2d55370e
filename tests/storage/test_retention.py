"""Retention deletes exactly what is older than its period: task results by their records (objects gone,
image keys and base64 inputs scrubbed, summary kept, links 410), other prefixes by object age."""
from __future__ import annotations

import os
import time

import pytest

from modules.errors import GoneError, InvalidRequestError, NotFoundError
from modules.storage.retention import DAY, PURGED, RetentionPolicy, RetentionSweeper, missing_object_error
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord
from modules.tasks.store_sqlite import SqliteTaskStore

INLINE = "iVBORw0KGgo" + "A" * 600  # a base64 PNG-ish input image


@pytest.fixture()
def task_store(tmp_path):
    store = SqliteTaskStore(tmp_path / "tasks.db")
    yield store
    store.close()


def _finished(store, storage, task_id: str, finished_days_ago: float, now: float, *, images: int = 2,
              status: TaskStatus = TaskStatus.SUCCEEDED) -> TaskRecord:
    # base64 inputs in params: how older Easel versions kept them (the pipeline now stores them as objects)
    params = {"prompt": "a cat", "init_images": [INLINE], "mask": f"data:image/png;base64,{INLINE}",
              "alwayson_scripts": {"controlnet": {"args": [{"image": INLINE, "weight": 1.0}]}}}
    inputs = [storage.write(f"tasks/{task_id}/inputs/init_images-0.png", b"input")]
    store.create(TaskRecord(id=task_id, kind="img2img", params=params, payload={"prompt": "a cat", "steps": 2},
                            inputs=inputs, created_at=now - finished_days_ago * DAY - 60))
    keys = [storage.write(f"tasks/{task_id}/{i:05d}.png", b"png") for i in range(images)]
    storage.write(f"inputs/{task_id}/init.png", b"input")  # the inputs folder of older versions
    store.mark_running(task_id, now - finished_days_ago * DAY - 30)
    store.finish(task_id, status, images=keys, info={"seed": 1}, finished_at=now - finished_days_ago * DAY)
    return store.get(task_id)


def test_task_results_older_than_the_period_and_nothing_else(storage, task_store):
    now = time.time()
    _finished(task_store, storage, "old", 8, now)
    _finished(task_store, storage, "old-failed", 30, now, images=0, status=TaskStatus.FAILED)
    _finished(task_store, storage, "recent", 6.9, now)
    task_store.create(TaskRecord(id="waiting", kind="txt2img", params={"prompt": "x"}, created_at=now - 20 * DAY))
    storage.write("txt2img-images/2020-01-01/keep.png", b"not a task result")
    report = RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(7)).sweep(now)
    assert (report.tasks, report.objects, report.errors) == (2, 6, [])
    assert sorted(i.key for i in storage.list("")) == [
        "inputs/recent/init.png", "tasks/recent/00000.png", "tasks/recent/00001.png",
        "tasks/recent/inputs/init_images-0.png", "txt2img-images/2020-01-01/keep.png"]
    old = task_store.get("old")
    assert (old.images, old.inputs, old.purged_at, old.status) == ([], [], now, TaskStatus.SUCCEEDED)
    assert old.payload == {"prompt": "a cat", "steps": 2} and old.info == {"seed": 1}
    assert old.params["prompt"] == "a cat"
    assert old.params["init_images"] == [PURGED] and old.params["mask"] == PURGED
    assert old.params["alwayson_scripts"]["controlnet"]["args"][0] == {"image": PURGED, "weight": 1.0}
    recent = task_store.get("recent")
    assert recent.purged_at is None and len(recent.images) == 2 and recent.params["init_images"] == [INLINE]
    assert task_store.get("waiting").purged_at is None
    assert RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(7)).sweep(now).tasks == 0


def test_links_to_purged_results_are_gone(storage, task_store):
    now = time.time()
    _finished(task_store, storage, "gone", 10, now)
    RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(1)).sweep(now)
    missing = NotFoundError("stored object not found")
    assert isinstance(missing_object_error(task_store, "tasks/gone/00000.png", missing), GoneError)
    assert missing_object_error(task_store, "tasks/never/00000.png", missing) is missing
    assert missing_object_error(task_store, "elsewhere/gone/00000.png", missing) is missing


def test_prefixes_by_object_age(storage, task_store):
    storage.write("txt2img-images/a.png", b"1")
    storage.write("txt2img-images/day/b.png", b"2")
    storage.write("extras-images/c.png", b"3")
    written = time.time()
    sweeper = RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(0, "txt2img-images=1"))
    assert sweeper.sweep(written + 0.9 * DAY).objects == 0
    report = sweeper.sweep(written + 1.1 * DAY)
    assert report.by_prefix == {"txt2img-images": 2}
    assert [i.key for i in storage.list("")] == ["extras-images/c.png"]


def test_local_files_by_mtime(tmp_path, task_store):
    from modules.storage.local import LocalStorage

    storage = LocalStorage(tmp_path / "out")
    storage.write("save/old.png", b"1")
    storage.write("save/new.png", b"2")
    old = time.time() - 3 * DAY
    os.utime(storage.local_path("save/old.png"), (old, old))
    RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(0, "save=2")).sweep()
    assert [i.key for i in storage.list("")] == ["save/new.png"]


def test_policy_flags():
    assert RetentionPolicy.from_flags(0, "").enabled is False
    policy = RetentionPolicy.from_flags(7, "tasks=3, txt2img-images=30,keep=0")
    assert policy.days == {"tasks": 3.0, "txt2img-images": 30.0}
    for spec in ("tasks", "=3", "a=-1", "../x=2", "a=b"):
        with pytest.raises(InvalidRequestError) as info:
            RetentionPolicy.from_flags(0, spec)
        assert info.value.field == "--outputs-retention"


def test_the_background_sweeper_runs_and_stops(storage, task_store):
    now = time.time()
    _finished(task_store, storage, "bg", 3, now)
    sweeper = RetentionSweeper(storage, task_store, RetentionPolicy.from_flags(1), interval=0.1)
    sweeper.start()
    try:
        from tests.support import wait_for

        wait_for(lambda: task_store.get("bg").purged_at, timeout=30)
    finally:
        sweeper.stop()
    assert list(storage.list("tasks")) == []


def test_an_older_task_database_gains_the_purged_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user TEXT, model TEXT, status TEXT "
                 "NOT NULL, progress REAL NOT NULL DEFAULT 0, progress_state TEXT, params TEXT, summary TEXT, images "
                 "TEXT, urls TEXT, info TEXT, error TEXT, runs INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT, "
                 "webhook_url TEXT, base_url TEXT, webhook TEXT, created_at REAL NOT NULL, started_at REAL, "
                 "finished_at REAL, updated_at REAL)")
    conn.execute("INSERT INTO tasks (id, kind, status, created_at) VALUES ('t', 'txt2img', 'waiting', 1.0)")
    conn.commit()
    conn.close()
    store = SqliteTaskStore(path)
    try:
        assert store.get("t").purged_at is None
        store.mark_purged("t", params=None, purged_at=5.0)
        assert store.get("t").purged_at == 5.0
    finally:
        store.close()
