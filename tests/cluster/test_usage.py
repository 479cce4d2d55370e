"""Cost allocation: every task's usage is recorded in the task store, and /internal/usage sums it per user."""
from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from modules import usage
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord
from modules.tasks.store_sqlite import SCHEMA, SqliteTaskStore
from modules.tasks.usage import TaskUsage
from tests.cluster.helpers import SMALL, scrape, value

SUMS = ("run_seconds", "cpu_seconds", "gpu_seconds", "load_seconds", "images", "pixels")


def test_usage_totals_equal_the_sum_of_task_times(cluster_server, alice, bob):
    for client, body in ((alice, {**SMALL, "seed": -1}), (alice, {**SMALL, "seed": -1, "batch_size": 2}),
                         (bob, {**SMALL, "seed": -1, "width": 96})):
        assert client.post("/sdapi/v1/txt2img", json=body).status_code == 200
    report = alice.get("/internal/usage", params={"tasks": "true"}).json()
    rows = report["tasks"]
    store = cluster_server.services.task_store
    assert len(rows) >= 3
    for row in rows:  # each row is what the store recorded for that task, within its own run
        record = store.get(row["task_id"])
        assert record.usage is not None and record.usage.as_dict()["run_seconds"] == row["run_seconds"]
        assert 0 < row["run_seconds"] <= record.finished_at - record.started_at
        assert row["queue_seconds"] == pytest.approx(record.started_at - record.created_at, abs=1e-5)
        assert row["images"] >= 1 and row["pixels"] == row["images"] * record.params["width"] * record.params["height"]
    generated = [r for r in rows if not r["cache_hit"]]
    assert sum(r["images"] for r in rows if r["user"] == "alice") >= 3
    assert any(r["user"] == "bob" and r["pixels"] == 96 * 64 for r in rows)
    assert sum(r["cpu_seconds"] for r in generated) > 0
    # every checkpoint load happened inside a task (--skip-load-model-at-start): charged, and metrics agree
    assert report["totals"]["load_seconds"] > 0
    assert report["totals"]["load_seconds"] == pytest.approx(
        value(scrape(alice), "easel_model_load_seconds_sum", source="disk"), abs=1e-4)
    for name in SUMS:
        assert report["totals"][name] == pytest.approx(sum(r[name] for r in rows), abs=1e-5)
        for entry in report["users"]:
            assert entry[name] == pytest.approx(sum(r[name] for r in rows if r["user"] == entry["user"]), abs=1e-5)
    assert report["totals"]["tasks"] == len(rows) == sum(e["tasks"] for e in report["users"])
    assert {e["user"] for e in report["users"]} >= {"alice", "bob"}


def test_usage_filters_csv_and_errors(cluster_server, alice, bob):
    assert bob.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1}).status_code == 200
    full = alice.get("/internal/usage", params={"tasks": "true"}).json()
    only_bob = alice.get("/internal/usage", params={"user": "bob"}).json()
    assert [e["user"] for e in only_bob["users"]] == ["bob"]
    assert only_bob["totals"]["tasks"] == sum(1 for r in full["tasks"] if r["user"] == "bob")
    last = max(r["finished_at"] for r in full["tasks"])
    after = alice.get("/internal/usage", params={"from": str(last + 1)}).json()
    assert after["totals"]["tasks"] == 0
    before_last = alice.get("/internal/usage", params={"to": str(last)}).json()
    assert before_last["totals"]["tasks"] == full["totals"]["tasks"] - 1
    iso = alice.get("/internal/usage", params={"from": "2000-01-01", "to": "2999-01-01T00:00:00Z"}).json()
    assert iso["totals"]["tasks"] == full["totals"]["tasks"]

    response = alice.get("/internal/usage", headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    by_user = {row["user"]: row for row in csv.DictReader(io.StringIO(response.text))}
    json_users = {e["user"]: e for e in alice.get("/internal/usage").json()["users"]}
    assert set(by_user) == set(json_users)
    for name, entry in json_users.items():
        assert int(by_user[name]["tasks"]) == entry["tasks"]
        assert float(by_user[name]["run_seconds"]) == pytest.approx(entry["run_seconds"])
    per_task = alice.get("/internal/usage", params={"format": "csv", "tasks": "true"}).text
    assert len(list(csv.DictReader(io.StringIO(per_task)))) == full["totals"]["tasks"]

    bad = alice.get("/internal/usage", params={"from": "last tuesday"})
    assert bad.status_code == 422 and "from" in bad.json()["errors"]
    assert alice.get("/internal/usage", params={"format": "xml"}).status_code == 422
    with cluster_server.client() as anonymous:
        assert anonymous.get("/internal/usage").status_code == 401


def test_usage_is_durable_in_the_task_store(cluster_server, alice):
    """A second connection to the same SQLite file (what a restarted server opens) reports the same usage."""
    served = alice.get("/internal/usage").json()
    reopened = SqliteTaskStore(cluster_server.services.paths.tasks_db)
    try:
        again = usage.report(reopened, since=None, until=None, user=None)
    finally:
        reopened.close()
    assert again["totals"] == served["totals"] and again["users"] == served["users"]


def test_an_old_task_database_gains_the_usage_columns(tmp_path):
    path = tmp_path / "tasks.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)  # the schema before usage existed
    conn.execute("INSERT INTO tasks (id, kind, status, created_at, finished_at) VALUES "
                 "('old', 'txt2img', 'succeeded', 1, 2)")
    conn.commit()
    conn.close()
    store = SqliteTaskStore(path)
    try:
        assert store.get("old").usage is None
        assert store.list_usage() == []  # never charged: not in the report
        store.create(TaskRecord(id="new", kind="txt2img", payload={}))
        store.record_usage("new", TaskUsage(run_seconds=1.5, cpu_seconds=2.0, images=2, pixels=8))
        store.finish("new", TaskStatus.SUCCEEDED, finished_at=10.0)
        [record] = store.list_usage(since=5, until=11)
        assert record.usage == TaskUsage(run_seconds=1.5, cpu_seconds=2.0, images=2, pixels=8)
    finally:
        store.close()


def test_parse_time():
    assert usage.parse_time("12.5", "from") == 12.5
    assert usage.parse_time("1970-01-02", "from") == 86400
    assert usage.parse_time("", "from") is None
