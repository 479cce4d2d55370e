"""The one request pipeline, in process: WebUI and API jobs run the same scripts, a job's override_settings never
reach the saved options, NaN outputs fail clearly, and a stored task is data that another instance can run."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file, save_file

from modules.generation.bodies import Txt2ImgBody
from modules.generation.pipeline import Submission
from modules.model_registry.tiny import ARCH_METADATA_KEY, write_tiny_checkpoint
from tests.inprocess import InProcessServer, assemble
from tests.support import ROOT, make_data_dir, wait_for

SMALL = {"prompt": "a lighthouse", "steps": 3, "width": 64, "height": 64, "seed": 5}
EXTENSION = ROOT / "extensions" / "test-pipeline-always-on"
ALWAYS_ON = '''
from modules import scripts


class MarkEveryJob(scripts.Script):
    def title(self):
        return "Mark every job"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p):
        p.extra_generation_params["Always-on mark"] = "webui" if not p.is_api else "api"
'''


def _poisoned_checkpoint(path) -> None:
    """A tiny checkpoint whose VAE decoder weights are NaN (its UNet is fine)."""
    write_tiny_checkpoint(path, seed=3)
    state = load_file(str(path))
    for key in state:
        if key.startswith("first_stage_model.decoder.conv_out"):
            state[key] = state[key].clone().fill_(float("nan"))
    save_file(state, str(path), metadata={"format": "pt", ARCH_METADATA_KEY: _hints_of(path)})


def _hints_of(path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()[ARCH_METADATA_KEY]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    (EXTENSION / "scripts").mkdir(parents=True, exist_ok=True)
    (EXTENSION / "scripts" / "mark.py").write_text(textwrap.dedent(ALWAYS_ON))
    data_dir = make_data_dir(tmp_path_factory.mktemp("pipeline"))
    _poisoned_checkpoint(data_dir / "models" / "Stable-diffusion" / "nan-vae.safetensors")
    server = InProcessServer(data_dir, "--ckpt", "tiny-a").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(EXTENSION, ignore_errors=True)


def _infotext(record) -> str:
    return record.info["infotexts"][0]


def test_webui_jobs_run_always_on_scripts_like_the_api(server):
    from modules.ui.common import run_generation

    services = server.services
    gallery, info_json, first_infotext, _log, _selected = asyncio.run(
        run_generation(services, Txt2ImgBody(**SMALL), None))
    assert "Always-on mark: webui" in first_infotext
    assert len(gallery.value) == 1 and json.loads(info_json)["seed"] == 5
    with server.client() as client:
        answer = client.post("/sdapi/v1/txt2img", json=SMALL)
    assert answer.status_code == 200
    assert "Always-on mark: api" in json.loads(answer.json()["info"])["infotexts"][0]


def test_override_settings_never_reach_the_saved_options(server):
    with server.client() as client:
        saved = client.get("/sdapi/v1/options").json()["samples_format"]
        assert saved == "png"
        body = {**SMALL, "steps": 150, "override_settings": {"samples_format": "jpg"}}
        task_id = client.post("/sdapi/v1/txt2img", json=body, headers={"Request-Type": "async"}).json()["task_id"]
        sampling = client.get  # wait until the job samples: its override is in effect then
        wait_for(lambda: sampling(f"/sdapi/v1/progress?task_id={task_id}").json()["state"]["sampling_step"] > 0)
        during = client.get("/sdapi/v1/options").json()["samples_format"]
        client.post(f"/sdapi/v1/tasks/{task_id}/cancel")
        done = wait_for(lambda: (t := client.get(f"/sdapi/v1/tasks/{task_id}").json())["status"] == "cancelled" and t)
        after = client.get("/sdapi/v1/options").json()["samples_format"]
    assert during == saved == after
    assert done["images"] and done["images"][0].endswith(".jpg")  # the job itself saw its override


def test_a_nan_vae_fails_clearly_unless_the_check_is_off(server):
    body = {**SMALL, "override_settings": {"sd_model_checkpoint": "nan-vae"}}
    with server.client() as client:
        failed = client.post("/sdapi/v1/txt2img", json=body)
        assert failed.status_code == 500
        assert "NaNs was produced in the VAE" in failed.json()["detail"]
        assert "--no-half-vae" in failed.json()["detail"]
        body["override_settings"]["disable_nan_check"] = True
        image = client.post("/sdapi/v1/txt2img", json=body)
        assert image.status_code == 200 and len(image.json()["images"]) == 1
        assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200  # the next request still works


def test_a_waiting_task_is_run_by_another_instance(tmp_path):
    """Tasks are data: one instance records a task and no worker runs it; a second instance on the same data dir
    (another process, in production) runs it, and the first sees the result."""
    data_dir = make_data_dir(tmp_path)
    services_a, _app = assemble(data_dir)
    services_a.workers.clear()  # an API-only instance
    services_a.start()
    try:
        record = services_a.pipeline.submit(Txt2ImgBody(**SMALL), Submission())
        assert services_a.task_store.get(record.id).status.value == "waiting"
        services_b, _ = assemble(data_dir)
        services_b.start()
        try:
            done = asyncio.run(services_a.queue.wait(record.id, timeout=300))
        finally:
            services_b.stop()
    finally:
        services_a.stop()
    assert done.status.value == "succeeded" and len(done.images) == 1
    assert services_a.storage.read(done.images[0]).startswith(b"\x89PNG")


def test_the_api_package_imports_without_torch():
    code = ("import sys; import modules.api.app, modules.generation.pipeline, modules.services; "
            "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
