"""kill -9 with tasks waiting and one running: on restart the waiting ones run, the interrupted one is
re-queued once (a second crash fails it with a clear error), and finished results stay retrievable."""
from __future__ import annotations

import os
import signal

from tests.support import EaselServer, make_data_dir
from tests.tasks.helpers import SMALL, submit_async, task, wait_for, wait_running, wait_status

FLAGS = ("--ckpt", "tiny-a")


def _kill(server: EaselServer) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    server.stop()


def test_kill_9_and_restart_loses_nothing(tmp_path):
    data_dir = make_data_dir(tmp_path)
    server = EaselServer(data_dir, *FLAGS).start()
    try:
        with server.client() as client:
            done = submit_async(client, SMALL)
            finished = wait_status(client, done)
            interrupted = submit_async(client, {**SMALL, "steps": 150, "seed": 7})
            waiting = [submit_async(client, {**SMALL, "seed": 8 + i}) for i in range(2)]
            wait_running(client, interrupted)
    finally:
        _kill(server)

    server = EaselServer(data_dir, *FLAGS).start()
    try:
        with server.client() as client:
            # re-queued once: it runs again first (second run)
            wait_for(lambda: (t := task(client, interrupted))["status"] == "running" and t["runs"] == 2)
    finally:
        _kill(server)

    server = EaselServer(data_dir, *FLAGS).start()
    try:
        with server.client() as client:
            failed = task(client, interrupted)
            assert failed["status"] == "failed"
            assert "re-queued once" in failed["error"]
            for task_id in waiting:
                assert wait_status(client, task_id)["status"] == "succeeded"
            again = task(client, done)
            assert again["status"] == "succeeded" and again["images"] == finished["images"]
            image = client.get(again["urls"][0])
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            signed_before = finished["urls"][0].split("/storage/", 1)[1]
            old_link = client.get("/storage/" + signed_before)  # links signed before the crashes still work
            assert old_link.status_code == 200
    finally:
        server.stop()
