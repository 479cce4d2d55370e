"""A users file with two users and an admin (plus a bcrypt user, a token-only one and a held one), served
in process through the real app."""
from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest

from modules.users.passwords import hash_password, hash_token
from tests.inprocess import InProcessServer
from tests.support import make_data_dir

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw", "brenda": "brenda-pw", "dave": "dave-pw",
             "held": "held-pw"}
CI_TOKEN = "easel_static-token-for-ci"  # bob's token in the file (only its hash is stored)
SMALL = {"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}


def write_users_file(path: Path) -> Path:
    users = [
        {"name": "alice", "password_hash": hash_password(PASSWORDS["alice"]), "role": "user"},
        {"name": "bob", "password_hash": hash_password(PASSWORDS["bob"]), "role": "user",
         "tokens": [{"id": "ci", "hash": hash_token(CI_TOKEN), "label": "ci"}]},
        {"name": "root", "password_hash": hash_password(PASSWORDS["root"]), "role": "admin"},
        {"name": "brenda", "role": "user",
         "password_hash": bcrypt.hashpw(PASSWORDS["brenda"].encode(), bcrypt.gensalt(rounds=4)).decode()},
        {"name": "dave", "password_hash": hash_password(PASSWORDS["dave"])},  # the lockout test's victim
        # never runs a task (max_running_jobs 0): its tasks stay waiting, so the waiting limit can be reached
        {"name": "held", "password_hash": hash_password(PASSWORDS["held"]),
         "quota": {"max_waiting_tasks": 2, "max_running_jobs": 0, "priority": "low"}},
    ]
    path.write_text(json.dumps({"users": users}), encoding="utf-8")
    return path


@pytest.fixture(scope="package")
def users_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("users")
    data_dir = make_data_dir(root, {"tiny-a.safetensors": 0})
    users_file = write_users_file(root / "users.json")
    server = InProcessServer(data_dir, "--ckpt", "tiny-a", "--users-file", str(users_file), "--login-max-failures",
                             "3", "--login-lockout", "120", "--api-auth", "ops:ops-pw").start()
    server.users_file = users_file
    yield server
    server.stop()


def client_for(server, name: str | None = None, **kwargs):
    auth = (name, PASSWORDS.get(name, "ops-pw")) if name else None
    return server.client(auth=auth, **kwargs)


@pytest.fixture()
def alice(users_server):
    with client_for(users_server, "alice") as client:
        yield client


@pytest.fixture()
def bob(users_server):
    with client_for(users_server, "bob") as client:
        yield client


@pytest.fixture()
def root(users_server):
    with client_for(users_server, "root") as client:
        yield client


@pytest.fixture()
def anonymous(users_server):
    with users_server.client() as client:
        yield client
