"""A real server (launch.py, uvicorn, the WebUI) with a users file: one login for the WebUI, the FileBrowser and
the API; a token made over HTTP works in the managed-service header form; its tasks stay the user's."""
from __future__ import annotations

import httpx
import pytest

from tests.support import EaselServer, make_data_dir
from tests.users.conftest import PASSWORDS, SMALL, write_users_file


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("users-smoke")
    data_dir = make_data_dir(root)
    server = EaselServer(data_dir, "--users-file", str(write_users_file(root / "users.json")),
                         "--login-max-failures", "2", webui=True).start(timeout=240)
    yield server
    server.stop()


def test_one_login_for_webui_filebrowser_and_api(server):
    with server.client() as anonymous:
        assert anonymous.post("/internal/progress", json={"id_task": "x"}).status_code == 401
        assert anonymous.get("/filebrowser/api/list", params={"path": ""}).status_code == 401
        assert anonymous.get("/sdapi/v1/sd-models").status_code == 401
        login = anonymous.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
        assert login.status_code == 200, login.text
        assert anonymous.get("/internal/pending-tasks").status_code == 200  # the WebUI cookie
    with server.client(auth=("alice", PASSWORDS["alice"])) as alice:
        assert alice.get("/filebrowser/api/list", params={"path": ""}).status_code == 200
        assert alice.get("/internal/users").status_code == 403
    with server.client(auth=("root", PASSWORDS["root"])) as root:
        token = root.post("/internal/users/bob/tokens", json={"label": "smoke"}).json()["token"]
    with server.client(headers={"Authorization": token}) as bob:  # the managed service's header form
        answer = bob.post("/sdapi/v1/txt2img", json=SMALL)
        assert answer.status_code == 200, answer.text
        task_id = answer.headers["X-Task-Id"]
        assert bob.get(f"/sdapi/v1/tasks/{task_id}").json()["status"] == "succeeded"
    with server.client(auth=("alice", PASSWORDS["alice"])) as alice:
        assert alice.get(f"/sdapi/v1/tasks/{task_id}").status_code == 404


def test_webui_login_is_throttled(server):
    for _ in range(2):  # --login-max-failures 2
        assert httpx.post(server.url + "/login", data={"username": "dave", "password": "guess"}).status_code >= 400
    locked = httpx.post(server.url + "/login", data={"username": "dave", "password": PASSWORDS["dave"]})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
