"""The mode flags: combinations that cannot work are refused, naming the flag; EASEL_REDIS_URL is --redis-url."""
from __future__ import annotations

import pytest

from modules.cmd_args import build_parser
from modules.errors import InvalidRequestError
from modules.tasks.cluster import check_flags, is_clustered, local_worker_count


@pytest.mark.parametrize(("argv", "flag"), [
    (["--worker"], "--worker"),
    (["--no-worker"], "--no-worker"),
    (["--redis-url", "redis://127.0.0.1:1/0", "--worker", "--no-worker"], "--worker"),
    (["--redis-url", "redis://127.0.0.1:1/0", "--max-delivery", "0"], "--max-delivery"),
    (["--redis-url", "redis://127.0.0.1:1/0", "--worker-heartbeat", "0"], "--worker-heartbeat"),
])
def test_impossible_combinations_name_the_flag(argv, flag):
    with pytest.raises(InvalidRequestError) as error:
        check_flags(build_parser().parse_args(argv))
    assert error.value.field == flag and flag in error.value.message


def test_the_default_is_one_process_and_the_environment_names_redis(monkeypatch):
    plain = build_parser().parse_args([])
    assert not is_clustered(plain) and local_worker_count(plain, 1) == 1
    monkeypatch.setenv("EASEL_REDIS_URL", "redis://10.0.0.5:6379/2")
    opts = build_parser().parse_args(["--no-worker"])
    check_flags(opts)
    assert opts.redis_url == "redis://10.0.0.5:6379/2" and local_worker_count(opts, 1) == 0
