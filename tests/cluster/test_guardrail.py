"""The prompt guardrail: blocklist rules (route and file) and on_prompt_check extensions refuse a request with 422
naming the rule before anything is queued."""
from __future__ import annotations

import json

import pytest

from modules import script_callbacks
from modules.errors import InvalidRequestError
from modules.safety.blocklist import parse_rules
from tests.cluster.helpers import SMALL, scrape, value

RULES = [{"name": "no-dogs", "words": ["dog", "hot dog"]}, {"name": "no-serials", "regex": r"sn-\d{4}"}]


@pytest.fixture()
def blocklist(alice):
    assert alice.put("/internal/safety/blocklist", json={"rules": RULES}).status_code == 200
    yield
    assert alice.put("/internal/safety/blocklist", json={"rules": []}).status_code == 200


def _tasks(server) -> int:
    return len(server.services.task_store.list(limit=10_000))


def test_a_blocked_word_is_422_naming_the_rule_and_queues_nothing(cluster_server, alice, blocklist):
    before, events = _tasks(cluster_server), scrape(alice)
    for prompt, rule in (("a DOG in the park", "no-dogs"), ("selling hot   dog stands", "no-dogs"),
                         ("label SN-1234 on a box", "no-serials")):
        response = alice.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": prompt, "seed": -1})
        assert response.status_code == 422, prompt
        assert f"'{rule}'" in response.json()["errors"] and "prompt" in response.json()["errors"]
    hires = alice.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1, "enable_hr": True, "hr_prompt": "a dog"})
    assert hires.status_code == 422
    assert _tasks(cluster_server) == before  # nothing stored, nothing queued
    after = scrape(alice)
    assert value(after, "easel_safety_events_total", event="prompt_blocked", rule="no-dogs") == \
        value(events, "easel_safety_events_total", event="prompt_blocked", rule="no-dogs") + 3
    # whole words only, and the negative prompt is not checked
    ok = alice.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "dogma and hotdogs", "negative_prompt": "dog",
                                               "seed": -1})
    assert ok.status_code == 200


def test_the_blocklist_routes_and_file(cluster_server, alice, bob, blocklist):
    listed = alice.get("/internal/safety/blocklist").json()
    assert [r["name"] for r in listed["rules"]] == ["no-dogs", "no-serials"]
    added = alice.post("/internal/safety/blocklist/rules", json={"name": "no-cats", "words": ["cat"]})
    assert added.status_code == 200 and [r["name"] for r in added.json()["rules"]][-1] == "no-cats"
    assert alice.post("/internal/safety/blocklist/rules", json={"name": "no-cats", "words": ["x"]}).status_code == 409
    assert bob.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "a cat", "seed": -1}).status_code == 422
    assert alice.delete("/internal/safety/blocklist/rules/no-cats").status_code == 200
    assert alice.delete("/internal/safety/blocklist/rules/no-cats").status_code == 404
    assert bob.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "a cat", "seed": -1}).status_code == 200

    bad = alice.put("/internal/safety/blocklist", json={"rules": [{"name": "x", "regex": "(unclosed"}]})
    assert bad.status_code == 422 and "rules[0].regex" in bad.json()["errors"]
    # an admin may edit the file by hand: it is read again when it changes
    path = cluster_server.services.paths.data_dir / "prompt_blocklist.json"
    path.write_text(json.dumps({"rules": [{"name": "by-hand", "words": ["lighthouse"]}]}), encoding="utf-8")
    response = bob.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1})
    assert response.status_code == 422 and "'by-hand'" in response.json()["errors"]
    with cluster_server.client() as anonymous:
        assert anonymous.get("/internal/safety/blocklist").status_code == 401


def test_on_prompt_check_extension_hook(cluster_server, bob):
    seen = []

    def no_purple(params: script_callbacks.PromptCheckParams) -> str | None:
        seen.append((params.user, params.mode))
        return "purple is reserved" if "purple" in params.prompt else None

    script_callbacks.on_prompt_check(no_purple)
    try:
        before = _tasks(cluster_server)
        refused = bob.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "a purple sky", "seed": -1})
        assert refused.status_code == 422 and "purple is reserved" in refused.json()["errors"]
        assert _tasks(cluster_server) == before
        assert bob.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1}).status_code == 200
        assert seen == [("bob", "txt2img"), ("bob", "txt2img")]
    finally:
        script_callbacks.remove_callbacks_for_script(__file__)


@pytest.mark.parametrize("rules, field", [
    ([{"name": "a b", "words": ["x"]}], "rules[0].name"),
    ([{"name": "a", "words": []}], "rules[0].words"),
    ([{"name": "a", "words": ["x"], "regex": "y"}], "rules[0]"),
    ([{"name": "a", "words": ["x"]}, {"name": "a", "regex": "y"}], "rules[1].name"),
])
def test_bad_rules_name_their_field(rules, field):
    with pytest.raises(InvalidRequestError) as caught:
        parse_rules(rules)
    assert caught.value.field == field
