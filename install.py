"""Idempotent dependency installer for Easel. Imports no torch.

Installs requirements.txt into the running interpreter's environment (the venv made by webui.sh), keeps
torchvision out (only CUDA builds are reachable and they break diffusers' imports), installs open-clip-torch
without dependencies for its CLIP BPE file, and runs each extension's install.py. A stamp file records what
was installed, so a second run with unchanged requirements takes well under a second.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
STAMP = Path(sys.prefix) / ".easel-install-stamp"
NO_DEPS = ["open-clip-torch==3.3.0", "spandrel==0.4.2"]  # both declare torchvision; neither needs it here
# Test only, without dependencies: CodeFormer's architecture lives in spandrel-extra-arches under its authors'
# non-commercial S-Lab License 1.0, so Easel does not install it for serving (operators who accept that licence
# install it themselves); k-diffusion is the independent reference of the sampler tests (its package __init__
# needs torchvision, so the tests load only its sampling/external modules).
NO_DEPS_TEST = ["spandrel-extra-arches==0.2.0", "k-diffusion==0.1.1.post1"]


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def _requirement_files(extra: list[str]) -> list[Path]:
    return [ROOT / "requirements.txt", *(ROOT / name for name in extra)]


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(NO_DEPS + NO_DEPS_TEST).encode())
    return digest.hexdigest()


def install_requirements(extra: list[str]) -> None:
    files = _requirement_files(extra)
    fingerprint = _fingerprint(files)
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        print("Easel: requirements already installed", flush=True)
        return
    args = ["install"]
    for path in files:
        args += ["-r", str(path)]
    _pip(*args)
    _pip("install", "--no-deps", *NO_DEPS, *(NO_DEPS_TEST if "requirements-test.txt" in extra else []))
    if importlib.util.find_spec("torchvision") is not None:
        _pip("uninstall", "-y", "torchvision")
    STAMP.write_text(fingerprint)


def run_extension_installers() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for base in ("extensions_builtin", "extensions"):
        folder = ROOT / base
        if not folder.is_dir():
            continue
        for ext in sorted(p for p in folder.iterdir() if (p / "install.py").is_file()):
            print(f"Easel: running {base}/{ext.name}/install.py", flush=True)
            result = subprocess.run([sys.executable, str(ext / "install.py")], cwd=ext, env=env)
            if result.returncode != 0:
                print(f"Easel: {ext.name}/install.py failed with exit code {result.returncode}; "
                      "the extension may not work", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    extra = ["requirements-test.txt"] if "--with-tests" in argv else []
    install_requirements(extra)
    run_extension_installers()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
