"""save_dir confinement rules, in process (the live tests check that refusals write nothing)."""
from __future__ import annotations

import os

import pytest

from tests.eas import conftest  # noqa: F401  (puts eas_lib on sys.path)

MOUNTS = ("/code/stable-diffusion-webui/data", "/code/stable-diffusion-webui/data-oss")


def _resolve(save_dir, root, uid=None):
    from eas_lib.paths import resolve_save_dir

    return resolve_save_dir(save_dir, uid, root, MOUNTS)


@pytest.mark.parametrize("save_dir,rel,shown", [
    ("tmp/outputs", "tmp/outputs", "tmp/outputs"),
    ("/code/stable-diffusion-webui/data/outputs", "outputs", "/code/stable-diffusion-webui/data/outputs"),
    ("/code/stable-diffusion-webui/data-oss/outputs/", "outputs", "/code/stable-diffusion-webui/data-oss/outputs"),
    ("./a//b/", "a/b", "a/b")])
def test_accepted(tmp_path, save_dir, rel, shown):
    target = _resolve(save_dir, tmp_path)
    assert target.real == (tmp_path.resolve() / rel) and target.shown == shown


def test_absolute_inside_the_data_dir_and_uid(tmp_path):
    target = _resolve(str(tmp_path / "out"), tmp_path, uid="123")
    assert target.real == tmp_path.resolve() / "out" / "123" and target.shown == f"{tmp_path}/out/123"


@pytest.mark.parametrize("save_dir", ["..", "a/../../b", "/etc", "/code/stable-diffusion-webui/datax/o",
                                      "/code/stable-diffusion-webui/data/../etc", "a\\b", "x\x00"])
def test_refused(tmp_path, save_dir):
    from eas_lib.errors import EasError

    with pytest.raises(EasError) as refused:
        _resolve(save_dir, tmp_path / "data")
    assert refused.value.status == 403


def test_symlink_escapes_are_refused(tmp_path):
    from eas_lib.errors import EasError

    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    os.symlink(outside, data / "link")
    os.symlink(tmp_path / "nowhere", data / "dangling")
    os.symlink(data / "inner", data / "inside-link")
    for save_dir in ("link", "link/sub", "dangling"):
        with pytest.raises(EasError):
            _resolve(save_dir, data)
    assert _resolve("inside-link", data).real == (data / "inner").resolve()


@pytest.mark.parametrize("uid", ["..", "a/b", "", "-x", "x" * 65, True])
def test_bad_uids(uid):
    from eas_lib.errors import EasError
    from eas_lib.paths import check_uid

    with pytest.raises(EasError):
        check_uid(uid)
