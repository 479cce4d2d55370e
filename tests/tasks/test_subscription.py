"""The result subscription: watch from an index with a window, commit, redelivery after reconnect."""
from __future__ import annotations

from tests.tasks.helpers import SMALL, read_sse, submit_async, wait_status


def _watch(client, **params) -> list[dict]:
    with client.stream("GET", "/sdapi/v1/results/watch", params=params) as stream:
        return [data for name, data in read_sse(stream) if name == "result"]


def test_window_commit_and_redelivery(client):
    start = client.get("/sdapi/v1/results", params={"index": 10**9}).json()["last_index"] + 1
    ids = [submit_async(client, {**SMALL, "seed": 100 + i}) for i in range(3)]
    for task_id in ids:
        wait_status(client, task_id)
    consumer = "sub-test"
    # window 2: only two uncommitted items are out, even though three are there
    first = _watch(client, index=start, window=2, consumer=consumer, timeout=2)
    assert [item["task_id"] for item in first] == ids[:2]
    assert first[0]["task"]["status"] == "succeeded" and first[0]["task"]["urls"]
    # the client went away without committing: a reconnect redelivers the same items
    again = _watch(client, index=start, window=2, consumer=consumer, timeout=2)
    assert [item["index"] for item in again] == [item["index"] for item in first]
    # commit the first: the window moves on by one
    commit = client.post("/sdapi/v1/results/commit", json={"consumer": consumer, "indexes": [first[0]["index"]]})
    assert commit.json()["committed"] == 1
    moved = _watch(client, index=start, window=2, consumer=consumer, timeout=2)
    assert [item["task_id"] for item in moved] == ids[1:]
    # a plain read shows what is still uncommitted; committing it all leaves nothing to deliver
    pending = client.get("/sdapi/v1/results", params={"index": start, "consumer": consumer}).json()["items"]
    assert [item["task_id"] for item in pending] == ids[1:]
    client.post("/sdapi/v1/results/commit", json={"consumer": consumer, "indexes": [i["index"] for i in pending]})
    assert _watch(client, index=start, window=2, consumer=consumer, timeout=1) == []
    # another consumer has its own acknowledgements
    other = _watch(client, index=start, window=5, consumer="someone-else", timeout=2)
    assert [item["task_id"] for item in other] == ids


def test_items_are_streamed_as_tasks_finish_and_auto_commit(client):
    start = client.get("/sdapi/v1/results", params={"index": 10**9}).json()["last_index"] + 1
    task_id = submit_async(client, {**SMALL, "seed": 200})
    with client.stream("GET", "/sdapi/v1/results/watch",
                       params={"index": start, "window": 4, "consumer": "auto", "auto_commit": "true",
                               "timeout": 120}) as stream:
        events = read_sse(stream, limit=1)
    assert events[0][1]["task_id"] == task_id
    assert client.get("/sdapi/v1/results", params={"index": start, "consumer": "auto"}).json()["items"] == []
