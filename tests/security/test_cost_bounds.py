"""Issue 18 item 9: every request's cost is bounded before it runs; a cancel stops a script's remaining jobs."""
from __future__ import annotations

import pytest

from tests.security.conftest import SMALL, error_text
from tests.support import wait_for


def _refused(api, body: dict, field: str, path: str = "/sdapi/v1/txt2img") -> None:
    before = len(api.get("/sdapi/v1/tasks", params={"limit": 500}).json())
    response = api.post(path, json=body)
    assert response.status_code == 422, response.text[:500]
    assert field in error_text(response)
    assert len(api.get("/sdapi/v1/tasks", params={"limit": 500}).json()) == before  # nothing was queued


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_prompt_length(api, field):
    _refused(api, {**SMALL, field: "a" * 20_001}, field)
    _refused(api, {**SMALL, field: "word " * 2_000_000}, field)  # 10 MB


def test_break_and_and_counts(api):
    _refused(api, {**SMALL, "prompt": "a BREAK " * 300}, "prompt")
    _refused(api, {**SMALL, "negative_prompt": "a BREAK " * 300}, "negative_prompt")
    _refused(api, {**SMALL, "prompt": " AND ".join(f"part{i}" for i in range(20))}, "prompt")
    _refused(api, {**SMALL, "prompt": "[cat|dog] BREAK " * 40, "steps": 20}, "prompt")  # prompt editing multiplies
    assert api.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "a BREAK b AND c AND [d|e]"}).status_code == 200


def test_styles_count(api):
    _refused(api, {**SMALL, "styles": [f"s{i}" for i in range(33)]}, "styles")


def _script(name: str, args: list) -> dict:
    return {**SMALL, "script_name": name, "script_args": args}


def test_prompt_matrix_counts_against_the_image_cap(api):
    for parts in (8, 22):
        prompt = "base|" + "|".join(f"p{i}" for i in range(parts - 1))
        _refused(api, {**_script("prompt matrix", [False, False, "positive", "comma", 0]), "prompt": prompt},
                 "script_args")
    ok = api.post("/sdapi/v1/txt2img", json={**_script("prompt matrix", [False, False, "positive", "comma", 0]),
                                             "prompt": "a|b|c"})
    assert ok.status_code == 200 and len(ok.json()["images"]) == 5  # grid + 4


def test_xyz_plot_counts_against_the_image_cap_and_checks_each_cell(api):
    def xyz(x_type, x_values, y_type="Nothing", y_values=""):
        return _script("x/y/z plot", [x_type, x_values, [], y_type, y_values, [], "Nothing", "", [], True, False,
                                      False, False, False, False, False, 0, True, True])

    _refused(api, xyz("Seed", "1-10", "Var. seed", "1-10"), "script_args")  # 100 cells
    _refused(api, xyz("Seed", "1-1000000000"), "script_args")  # expanded lazily: refused, not built
    _refused(api, xyz("Prompt order", ",".join("abcdefghijklmnop")), "script_args")  # 16! permutations
    _refused(api, xyz("Steps", "1, 100000"), "steps")
    _refused(api, xyz("Size", "64x64, 100000x64"), "width")
    _refused(api, xyz("CFG Scale", "7, nan"), "script_args")
    _refused(api, {**xyz("Seed", "1-40"), "n_iter": 2}, "script_args")  # 40 cells x 2 images


def test_prompts_from_file_counts_against_the_image_cap(api):
    lines = "\n".join(f"line {i}" for i in range(65))
    _refused(api, _script("prompts from file or textbox", [False, False, "start", lines]), "script_args")
    heavy = "--prompt a --n_iter 40\n--prompt b --n_iter 40"
    _refused(api, _script("prompts from file or textbox", [False, False, "start", heavy]), "script_args")
    long_line = "--prompt " + "x " * 15_000
    _refused(api, _script("prompts from file or textbox", [False, False, "start", long_line]), "prompt")


def test_cancel_stops_a_scripts_remaining_jobs(api, secure_server):
    """Prompts from file alternating two checkpoints: after the cancel no further checkpoint is loaded."""
    lines = "\n".join(f"--sd_model {'tiny-a' if i % 2 == 0 else 'tiny-b'} --prompt line {i}" for i in range(8))
    body = {**_script("prompts from file or textbox", [False, False, "start", lines]), "steps": 150,
            "width": 256, "height": 256}
    task = api.post("/sdapi/v1/txt2img", json=body, params={"async": "true"}).json()
    task_id = task.get("task_id") or task.get("id_task") or task.get("taskId")
    assert task_id, task
    wait_for(lambda: api.get(f"/sdapi/v1/tasks/{task_id}").json()["status"] == "running", timeout=120)
    wait_for(lambda: api.get(f"/sdapi/v1/tasks/{task_id}").json()["progress_state"].get("sampling_step", 0) > 0,
             timeout=60)
    log_at_cancel = len(secure_server.log())
    assert api.post(f"/sdapi/v1/tasks/{task_id}/cancel").status_code == 200
    record = wait_for(lambda: (r := api.get(f"/sdapi/v1/tasks/{task_id}").json())["status"] != "running" and r,
                      timeout=120)
    assert record["status"] == "cancelled"
    assert len(record["images"]) <= 1
    after = secure_server.log()[log_at_cancel:]
    assert "loaded checkpoint" not in after and "switched to checkpoint" not in after
