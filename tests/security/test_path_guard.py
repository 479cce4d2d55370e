"""The core path guard (modules/path_guard.py), in process: confinement, protected paths, check-then-create."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from modules.errors import ForbiddenPathError, InvalidRequestError
from modules.path_guard import PathGuard, is_within, make_dirs


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path]:
    data, outside = tmp_path / "data", tmp_path / "data-outside"
    (data / "private").mkdir(parents=True)
    (data / "private" / "secrets.json").write_text("{}")
    (data / "tasks.sqlite3").write_text("")
    outside.mkdir()
    return data, outside


def _guard(data: Path) -> PathGuard:
    return PathGuard(data, protected=[data / "private", data / "tasks.sqlite3", data / "tasks.sqlite3-wal"])


def test_is_within_is_separator_safe():
    assert is_within("/a/data", "/a/data/x") and is_within("/a/data", "/a/data")
    assert not is_within("/a/data", "/a/data-outside/x") and not is_within("/a/data", "/a")


@pytest.mark.parametrize("path", ["..", "../data-outside", "a/../../x", "/etc", "a\\b", "a\x00b"])
def test_escapes_are_403(tree, path):
    with pytest.raises(ForbiddenPathError):
        _guard(tree[0]).resolve(path)


@pytest.mark.parametrize("path", ["x" * 256, "a/" + "é" * 128, "a/" * 2049])
def test_overlong_names_and_paths_are_422(tree, path):
    with pytest.raises(InvalidRequestError):
        _guard(tree[0]).resolve(path)


@pytest.mark.parametrize("path", ["private", "private/secrets.json", "./private//secrets.json", "PRIVATE/Secrets.json",
                                  "tasks.sqlite3", "Tasks.SQLite3", "tasks.sqlite3-wal"])
def test_protected_paths_in_every_spelling(tree, path):
    data = tree[0]
    for spelling in (path, str(data / path)):
        with pytest.raises(ForbiddenPathError):
            _guard(data).resolve(spelling)


def test_links_to_protected_paths(tree):
    data = tree[0]
    (data / "soft").symlink_to(data / "private" / "secrets.json")
    os.link(data / "private" / "secrets.json", data / "hard")
    for name in ("soft", "hard"):
        with pytest.raises(ForbiddenPathError):
            _guard(data).resolve(name)
    assert _guard(data).resolve("other.txt").rel == "other.txt"


def test_aliases_stand_for_the_root(tree):
    data = tree[0]
    guard = PathGuard(data, aliases=["/mnt/data"])
    assert guard.resolve("/mnt/data/out").real == data.resolve() / "out"
    with pytest.raises(ForbiddenPathError):
        guard.resolve("/mnt/datax/out")


def test_make_dirs_checks_first_and_creates_after(tree):
    data, outside = tree
    (data / "x").mkdir()
    (data / "x" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ForbiddenPathError):
        make_dirs(data / "x" / "link" / "2024-01-01", _guard(data))
    assert list(outside.iterdir()) == []
    with pytest.raises(ForbiddenPathError):
        make_dirs(data / "private" / "new", _guard(data))
    made = make_dirs(data / "outputs" / "a" / "b", _guard(data))
    assert made == (data / "outputs" / "a" / "b").resolve() and made.is_dir()
