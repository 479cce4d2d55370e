"""One login for the API: Basic, Bearer tokens, the managed service's bare Authorization header; admin routes;
tokens and users changed through the admin routes (persisted, effective at once); brute-force lockout."""
from __future__ import annotations

import os
import stat

from modules.users.directory import read_users_file
from tests.users.conftest import CI_TOKEN, PASSWORDS, client_for


def test_every_credential_form_names_a_user(users_server, anonymous):
    assert anonymous.get("/sdapi/v1/samplers").status_code == 401
    assert anonymous.get("/internal/me").status_code == 401
    for headers in ({"Authorization": f"Bearer {CI_TOKEN}"}, {"Authorization": CI_TOKEN}, {"Token": CI_TOKEN}):
        me = anonymous.get("/internal/me", headers=headers)
        assert me.status_code == 200, (headers, me.text)
        assert me.json()["name"] == "bob" and me.json()["role"] == "user"
    with client_for(users_server, "brenda") as brenda:  # a bcrypt hash
        assert brenda.get("/internal/me").json()["name"] == "brenda"
    with client_for(users_server, "ops") as ops:  # an --api-auth pair: an admin
        assert ops.get("/internal/me").json() == {**ops.get("/internal/me").json(), "role": "admin",
                                                  "source": "--api-auth"}
    wrong = anonymous.get("/sdapi/v1/samplers", auth=("alice", "nope"))
    assert wrong.status_code == 401 and wrong.json()["detail"] == "Incorrect username or password"
    bad_token = anonymous.get("/sdapi/v1/samplers", headers={"Authorization": "Bearer easel_not-a-token"})
    assert bad_token.status_code == 401 and "token" in bad_token.json()["detail"]


def test_admin_routes_need_the_admin_role(alice, root):
    for path in ("/internal/users", "/internal/usage", "/metrics", "/internal/safety/blocklist"):
        refused = alice.get(path)
        assert refused.status_code == 403 and "not an admin" in refused.json()["detail"], path
        assert root.get(path).status_code == 200, path
    listing = root.get("/internal/users").json()
    assert {u["name"] for u in listing} >= {"alice", "bob", "root", "ops"}
    assert "hash" not in str(listing)  # no password or token hash leaves the server


def test_tokens_are_hashed_at_rest_and_revoked_at_once(users_server, root, anonymous):
    made = root.post("/internal/users/alice/tokens", json={"label": "laptop"})
    assert made.status_code == 201, made.text
    token, token_id = made.json()["token"], made.json()["id"]
    on_disk = users_server.users_file.read_text()
    assert token not in on_disk and token_id in on_disk
    assert stat.S_IMODE(os.stat(users_server.users_file).st_mode) == 0o600
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/internal/me", headers=headers).json()["name"] == "alice"
    assert root.delete(f"/internal/users/alice/tokens/{token_id}").status_code == 200
    assert anonymous.get("/internal/me", headers=headers).status_code == 401
    assert root.delete(f"/internal/users/alice/tokens/{token_id}").status_code == 404
    assert token_id not in users_server.users_file.read_text()


def test_users_added_and_removed_through_the_admin_routes(users_server, root, anonymous):
    added = root.post("/internal/users", json={"name": "carol", "password": "carol-pw",
                                               "quota": {"max_waiting_tasks": 4}})
    assert added.status_code == 201, added.text
    assert added.json()["quota"]["max_waiting_tasks"] == 4 and added.json()["role"] == "user"
    assert root.post("/internal/users", json={"name": "carol", "password": "x"}).status_code == 409
    bad = root.post("/internal/users", json={"name": "../x", "password": "x"})
    assert bad.status_code == 422 and "name" in bad.json()["detail"]
    stored = {u.name: u for u in read_users_file(users_server.users_file)}
    assert stored["carol"].password_hash.startswith("$argon2id$") and "carol-pw" not in users_server.users_file.read_text()
    assert "ops" not in stored  # a command-line user stays on the command line
    assert anonymous.get("/internal/me", auth=("carol", "carol-pw")).json()["name"] == "carol"
    promoted = root.request("PATCH", "/internal/users/carol", json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert root.delete("/internal/users/carol").status_code == 200
    assert anonymous.get("/internal/me", auth=("carol", "carol-pw")).status_code == 401
    assert "carol" not in {u.name for u in read_users_file(users_server.users_file)}
    assert root.delete("/internal/users/ops").status_code == 409  # defined by --api-auth


def test_failed_logins_lock_the_name_out(anonymous, bob):
    for _ in range(3):  # --login-max-failures 3
        assert anonymous.get("/internal/me", auth=("dave", "guess")).status_code == 401
    locked = anonymous.get("/internal/me", auth=("dave", PASSWORDS["dave"]))  # even the right password now
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 120
    assert "dave" in locked.json()["detail"]
    assert bob.get("/internal/me").status_code == 200  # other names are not affected
