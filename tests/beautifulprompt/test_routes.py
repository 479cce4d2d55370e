"""The REST routes, through a real uvicorn server."""
from __future__ import annotations

import httpx
from bprompt.expander_common import BUILTIN_NAME

from modules.users.directory import UserDirectory
from tests.beautifulprompt.conftest import TINY_MODEL


def test_models_list(bp_server) -> None:
    r = httpx.get(bp_server.url + "/beautifulprompt/models")
    assert r.status_code == 200
    assert r.json() == {"models": [BUILTIN_NAME, TINY_MODEL], "default": BUILTIN_NAME}


def test_routes_win_over_the_webui_mounted_at_root(bp_server) -> None:
    assert httpx.get(bp_server.url + "/").text == "webui"
    assert httpx.get(bp_server.url + "/beautifulprompt/models").status_code == 200


def test_expand_with_builtin(bp_server) -> None:
    body = {"prompt": "a cat", "count": 3, "seed": 5}
    r = httpx.post(bp_server.url + "/beautifulprompt/expand", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"] == BUILTIN_NAME and data["seed"] == 5
    assert len(data["prompts"]) == 3 and all(p.startswith("a cat, ") for p in data["prompts"])
    assert httpx.post(bp_server.url + "/beautifulprompt/expand", json=body).json() == data


def test_expand_with_random_seed_reports_it(bp_server) -> None:
    data = httpx.post(bp_server.url + "/beautifulprompt/expand", json={"prompt": "a cat"}).json()
    assert 0 <= data["seed"] < 2**32 and len(data["prompts"]) == 4


def test_expand_with_tiny_model(bp_server) -> None:
    body = {"prompt": "a cat", "model": TINY_MODEL, "count": 2, "max_length": 10, "seed": 9}
    r = httpx.post(bp_server.url + "/beautifulprompt/expand", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == TINY_MODEL and len(r.json()["prompts"]) == 2
    assert httpx.post(bp_server.url + "/beautifulprompt/expand", json=body, timeout=60).json() == r.json()


def test_empty_prompt_is_422_naming_prompt(bp_server) -> None:
    for body in ({"prompt": ""}, {"prompt": "   "}, {}):
        r = httpx.post(bp_server.url + "/beautifulprompt/expand", json=body)
        assert r.status_code == 422, body
        assert "prompt" in r.json()["errors"]


def test_unknown_model_is_422_naming_model(bp_server) -> None:
    r = httpx.post(bp_server.url + "/beautifulprompt/expand", json={"prompt": "a cat", "model": "../../etc"})
    assert r.status_code == 422
    assert r.json()["error"] == "InvalidRequestError" and "model" in r.json()["detail"]
    assert BUILTIN_NAME in r.json()["detail"]


def test_out_of_range_parameters_are_422(bp_server) -> None:
    for field, value in (("count", 0), ("count", 1000), ("temperature", 0), ("top_p", 1.5),
                         ("repetition_penalty", 0.5), ("max_length", 100000), ("seed", -2), ("top_k", "many")):
        r = httpx.post(bp_server.url + "/beautifulprompt/expand", json={"prompt": "a cat", field: value})
        assert r.status_code == 422, (field, value)
        assert field in r.json()["errors"]


def test_malformed_json_is_422_and_server_keeps_working(bp_server) -> None:
    r = httpx.post(bp_server.url + "/beautifulprompt/expand", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert httpx.get(bp_server.url + "/beautifulprompt/models").status_code == 200


def test_routes_require_api_auth_when_configured(bp_server) -> None:
    bp_server.app.state.users = UserDirectory.for_api({"user": "secret"})
    try:
        assert httpx.get(bp_server.url + "/beautifulprompt/models").status_code == 401
        r = httpx.post(bp_server.url + "/beautifulprompt/expand", json={"prompt": "a cat"})
        assert r.status_code == 401
        r = httpx.get(bp_server.url + "/beautifulprompt/models", auth=("user", "secret"))
        assert r.status_code == 200
    finally:
        bp_server.app.state.users = None
