"""A1111's launch flags (issue 12 item 7): the managed-service start commands run verbatim, every A1111 1.10 flag
is accepted (honoured, or one warning saying why it has no effect), unknown flags stay errors, --no-hashing,
--time-log and the other honoured ones work, and docs/compatibility.md lists every flag."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modules import a1111_flags
from modules.cmd_args import parse_args, parse_args_with_extensions
from tests.inprocess import InProcessServer
from tests.support import ROOT, free_port, make_data_dir, wait_for

SEED_COMMANDS = (  # /work/shared/seeds: the managed service's containers.script lines
    "--listen --port {port} --skip-version-check --no-hashing --no-download-sd-model --skip-prepare-environment "
    "--api --filebrowser --data-dir={data}",
    "--listen --port {port} --skip-version-check --no-hashing --no-download-sd-model --skip-prepare-environment "
    "--api-log --time-log --nowebui --data-dir={data}",
)
EAS_EXTRAS = "--blade --enable-nsfw-censor --gfpgan-dir {data}/gfpgan --hypernetwork-dir {data}/hn --root-extensions"


def _value_for(flag: a1111_flags.CompatFlag) -> list[str]:
    if flag.kind == a1111_flags.SWITCH:
        return [flag.name]
    if flag.kind == a1111_flags.INT:
        return [flag.name, "3"]
    if flag.name == "--loglevel":
        return [flag.name, "INFO"]
    if flag.name in ("--tls-keyfile", "--tls-certfile", "--gradio-auth-path"):
        return []  # need real files; covered below
    return [flag.name, "x"]


# -- parsing ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", a1111_flags.FLAGS, ids=lambda f: f.name)
def test_every_table_flag_is_accepted(flag):
    argv = _value_for(flag)
    if argv:
        opts = parse_args(argv)
        assert a1111_flags.given(opts, flag)


def test_every_a1111_native_flag_exists():
    parser_flags = set()
    from modules.cmd_args import full_parser

    parser, _ = full_parser([], ROOT)
    for action in parser._actions:
        parser_flags.update(action.option_strings)
    missing = [name for name in (*a1111_flags.A1111_NATIVE, *a1111_flags.EAS_NATIVE) if name not in parser_flags]
    assert not missing


def test_an_unknown_flag_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--not-an-a1111-flag"])
    assert exc.value.code == 2
    assert "--not-an-a1111-flag" in capsys.readouterr().err


def test_no_effect_flags_warn_once_each_and_honoured_ones_do_not(caplog):
    opts = parse_args(["--medvram", "--opt-split-attention", "--blade", "--no-hashing", "--skip-version-check",
                       "--opt-sdp-attention", "--theme", "dark"])
    with caplog.at_level(logging.WARNING, logger="easel.flags"):
        lines = a1111_flags.report(opts)
    assert [line.split(" ")[0] for line in lines] == ["--medvram", "--opt-split-attention", "--theme", "--blade"]
    assert all("has no effect in Easel: " in line for line in lines)
    assert len(caplog.records) == 4


def test_aliases_fold_into_easel_flags(tmp_path):
    opts = parse_args(["--force-enable-xformers", "--skip-prepare-environment"])
    assert opts.xformers is True and opts.skip_install is True
    auth = tmp_path / "auth.txt"
    auth.write_text("ann:pw1,bob:pw2\ncid:pw3\n", encoding="utf-8")
    opts = parse_args(["--gradio-auth", "dan:pw0", "--gradio-auth-path", str(auth)])
    assert opts.gradio_auth == "dan:pw0,ann:pw1,bob:pw2,cid:pw3"
    for bad in (["--loglevel", "LOUD"], ["--tls-keyfile", "k.pem"], ["--gradio-auth-path", str(tmp_path / "no")]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_cmd_flags_masks_the_ngrok_token():
    from modules.cmd_args import masked_flags

    assert masked_flags(parse_args(["--ngrok", "tok-123"]))["ngrok"] == "********"


def test_disable_extra_and_all_extensions(tmp_path):
    _opts, extensions = parse_args_with_extensions(["--data-dir", str(tmp_path), "--disable-extra-extensions"], ROOT)
    assert all(e.enabled == e.is_builtin for e in extensions)
    with pytest.raises(SystemExit):  # no extension's preload ran: --filebrowser is unknown then
        parse_args_with_extensions(["--data-dir", str(tmp_path), "--disable-all-extensions", "--filebrowser"], ROOT)
    _opts, extensions = parse_args_with_extensions(["--data-dir", str(tmp_path), "--disable-all-extensions"], ROOT)
    assert not any(e.enabled for e in extensions)


def test_the_docs_list_every_flag_with_its_status():
    text = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    current = text.split(a1111_flags.DOCS_START, 1)[1].split(a1111_flags.DOCS_END, 1)[0].strip()
    assert current == a1111_flags.docs_table(ROOT), "run: venv/bin/python -m modules.a1111_flags"


# -- honoured flags in a real app -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def no_hashing_server(tmp_path_factory):
    root = make_data_dir(tmp_path_factory.mktemp("no-hashing"))
    styles = tmp_path_factory.mktemp("styles") / "team.csv"
    styles.write_text("name,prompt,negative_prompt\nteam,{prompt} by the team,\n", encoding="utf-8")
    server = InProcessServer(root, "--no-hashing", "--time-log", "--styles-file", str(styles),
                             "--skip-load-model-at-start").start()
    yield server
    server.stop()


def test_no_hashing_never_hashes(no_hashing_server, monkeypatch):
    from modules.model_registry import hashes

    def refuse(path):
        raise AssertionError(f"sha256 of {path} with --no-hashing")

    monkeypatch.setattr(hashes, "compute_sha256", refuse)
    with no_hashing_server.client() as api:
        models = api.get("/sdapi/v1/sd-models").json()
        assert models[0]["hash"] is None and models[0]["sha256"] is None
        assert models[0]["title"] == "tiny-a.safetensors"
        response = api.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 2, "width": 64, "height": 64})
        assert response.status_code == 200, response.text
        text = json.loads(response.json()["info"])["infotexts"][0]
    assert "Model hash" not in text and "Model: tiny-a" in text
    assert not (no_hashing_server.data_dir / "cache" / "hashes.json").exists()


def test_time_log_logs_each_request(no_hashing_server, caplog):
    with caplog.at_level(logging.INFO, logger="easel.api"), no_hashing_server.client() as api:
        api.get("/sdapi/v1/samplers")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("time-log ")]
    assert any(line.startswith("time-log GET /sdapi/v1/samplers 200 ") and line.endswith("s") for line in lines)


def test_styles_file_flag_is_used(no_hashing_server):
    with no_hashing_server.client() as api:
        assert [s["name"] for s in api.get("/sdapi/v1/prompt-styles").json()] == ["team"]


def test_skip_load_model_at_start_loads_on_first_use(tmp_path):
    server = InProcessServer(make_data_dir(tmp_path), "--skip-load-model-at-start").start()
    try:
        assert server.services.models.loaded is None
        with server.client() as api:
            assert api.post("/sdapi/v1/txt2img", json={"steps": 1, "width": 64, "height": 64}).status_code == 200
        assert server.services.models.loaded is not None
    finally:
        server.stop()


def test_models_dir_and_lyco_dir(tmp_path):
    from modules.model_registry.tiny import write_tiny_checkpoint

    models = tmp_path / "shared-models"
    write_tiny_checkpoint(models / "Stable-diffusion" / "elsewhere.safetensors")
    lyco = tmp_path / "lyco"
    lyco.mkdir()
    server = InProcessServer(tmp_path / "data", "--models-dir", str(models), "--lyco-dir-backcompat",
                             str(lyco), "--skip-load-model-at-start").start()
    try:
        assert [c.name for c in server.services.checkpoints.list()] == ["elsewhere.safetensors"]
        assert str(lyco.resolve()) in [str(d) for d in server.services.networks.loras.lora_dirs]
    finally:
        server.stop()


# -- the seed command lines, verbatim (port and data dir adapted) -----------------------------------------------------
class ScriptServer:
    """`./webui.sh <flags>` as the managed service runs it."""

    def __init__(self, data_dir: Path, command: str):
        self.port = free_port()
        self.data_dir = data_dir
        self.argv = command.format(port=self.port, data=data_dir).split()
        self.log_path = data_dir / "webui-sh.log"

    def __enter__(self) -> ScriptServer:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["bash", str(ROOT / "webui.sh"), *self.argv], cwd=ROOT, env=env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"webui.sh exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/internal/ping", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=180, interval=0.2)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


@pytest.mark.parametrize("command", SEED_COMMANDS, ids=["webui", "api-only"])
def test_seed_command_lines_start_easel(tmp_path, command):
    data = make_data_dir(tmp_path / "data")
    with ScriptServer(data, command) as server:
        base = f"http://127.0.0.1:{server.port}"
        models = httpx.get(f"{base}/sdapi/v1/sd-models", timeout=30).json()
        assert models[0]["hash"] is None  # --no-hashing
        answer = httpx.post(f"{base}/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 2, "width": 64,
                                                               "height": 64}, timeout=300)
        assert answer.status_code == 200, answer.text
        page = httpx.get(base + "/", timeout=60)
        if "--nowebui" in command:
            assert wait_for(lambda: "time-log POST /sdapi/v1/txt2img 200" in server.log(), timeout=30)
        else:
            assert page.status_code == 200 and "gradio" in page.text.lower()
        log = server.log()
    assert "has no effect" not in log  # every flag of these commands is honoured
    assert "Easel: requirements already installed" not in log  # --skip-prepare-environment: install.py not run


def test_managed_service_extra_flags_start_with_one_warning_for_blade(tmp_path):
    data = make_data_dir(tmp_path / "data")
    command = SEED_COMMANDS[1] + " " + EAS_EXTRAS
    with ScriptServer(data, command) as server:
        log = server.log()
    assert log.count("--blade has no effect in Easel") == 1
    assert "--enable-nsfw-censor has no effect" not in log  # honoured: modules/safety/nsfw.py
    assert "--root-extensions has no effect" not in log and "--hypernetwork-dir" not in log.split("Easel on")[0]


def test_tls_flags_serve_https(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    data = make_data_dir(tmp_path / "data")
    port = free_port()
    argv = [sys.executable, str(ROOT / "launch.py"), "--skip-install", "--nowebui", "--data-dir", str(data),
            "--port", str(port), "--tls-keyfile", str(key), "--tls-certfile", str(cert), "--skip-load-model-at-start"]
    log_path = tmp_path / "tls.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, HF_HUB_OFFLINE="1"))
        try:
            def up() -> bool:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                try:
                    return httpx.get(f"https://127.0.0.1:{port}/internal/ping", verify=False, timeout=2).is_success
                except httpx.TransportError:
                    return False

            wait_for(up, timeout=120, interval=0.2)
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/internal/ping", timeout=5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
