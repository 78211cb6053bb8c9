"""Sliding-window limits: threads of one process (local), processes sharing Redis.

Windows are seconds long instead of 60 s to keep the suite fast; the limits shrink
in proportion.
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from captions.llm.base import BackendError
from captions.llm.ratelimit import (
    LocalRateLimiter,
    NoRateLimit,
    RateLimitTimeout,
    RedisRateLimiter,
    rate_limiter_for,
)
from tests.captions.llm.conftest import REDIS_URL
from tests.fake_openai import max_in_any_window
from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[3]
# Start times are taken by the callers just after the limiter let them go, so they
# lag the limiter's own clock by a scheduling delay; a window this much shorter
# absorbs that lag without hiding a real excess (a second window's worth).
CLOCK_SLACK_S = 0.1

_WORKER = """
import json, sys, threading, time
from captions.llm.ratelimit import RedisRateLimiter

config = json.loads(sys.argv[1])
limiter = RedisRateLimiter(
    config["url"], config["key"], requests_per_minute=config["rpm"],
    tokens_per_minute=config["tpm"], window_s=config["window_s"],
)
starts, lock = [], threading.Lock()

def work():
    for _ in range(config["per_thread"]):
        limiter.acquire(config["tokens"], timeout_s=30)
        with lock:
            starts.append(time.time())

time.sleep(max(0.0, config["start_at"] - time.time()))
threads = [threading.Thread(target=work) for _ in range(config["threads"])]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(starts))
"""


def starts_in_processes(key: str, *, processes: int = 2, **config) -> list[float]:
    """Start times of `acquire` calls made by threads of several worker processes."""
    config = {"url": REDIS_URL, "key": key, "start_at": time.time() + 0.8, **config}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    starts: list[float] = []
    for worker in workers:
        out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        starts += json.loads(out)
    return starts


def starts_in_threads(limiter, *, threads: int, per_thread: int, tokens: int = 1):
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(per_thread):
            limiter.acquire(tokens, timeout_s=30)
            with lock:
                starts.append(time.monotonic())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return starts


# --- Redis: shared by processes --------------------------------------------------


@pytest.mark.redis
def test_requests_from_two_processes_never_exceed_the_limit_in_any_window(redis_key):
    # 30 requests a minute, scaled: 8 per 2 s, 16 requests from 2 × 4 threads.
    starts = starts_in_processes(
        redis_key, threads=4, per_thread=2, rpm=8, tpm=None, tokens=1, window_s=2.0
    )

    assert len(starts) == 16
    assert max_in_any_window(starts, 2.0 - CLOCK_SLACK_S) <= 8
    # Not a bucket that refills as it goes: the 9th waited a whole window.
    assert max(starts) - min(starts) >= 2.0 - CLOCK_SLACK_S


@pytest.mark.redis
def test_tokens_from_two_processes_never_exceed_the_limit_in_any_window(redis_key):
    # 100 tokens per 2 s, 40 tokens a request: two requests per window.
    starts = starts_in_processes(
        redis_key, threads=2, per_thread=1, rpm=None, tpm=100, tokens=40, window_s=2.0
    )

    assert len(starts) == 4
    assert max_in_any_window(starts, 2.0 - CLOCK_SLACK_S) <= 2
    assert max(starts) - min(starts) >= 2.0 - CLOCK_SLACK_S


@pytest.mark.redis
def test_redis_limiter_times_out_at_once_when_the_wait_is_longer(redis_key):
    limiter = RedisRateLimiter(
        REDIS_URL, redis_key, requests_per_minute=1, tokens_per_minute=None, window_s=5
    )
    limiter.acquire(1)
    started = time.monotonic()

    with pytest.raises(RateLimitTimeout) as failure:
        limiter.acquire(1, timeout_s=0.2)

    assert time.monotonic() - started < 1
    assert (failure.value.reason, failure.value.retryable) == ("rate_limited", True)
    assert "1 requests per 5 s" in failure.value.message


@pytest.mark.redis
def test_redis_window_expires_once_idle(redis_key):
    RedisRateLimiter(
        REDIS_URL, redis_key, requests_per_minute=5, tokens_per_minute=None, window_s=2
    ).acquire(1)

    ttl_ms = require_redis(REDIS_URL).pttl(redis_key)

    assert 0 < ttl_ms <= 3000


def test_redis_that_does_not_answer_is_a_retryable_connection_error():
    limiter = RedisRateLimiter(
        "redis://127.0.0.1:1/13", "test", requests_per_minute=5, tokens_per_minute=None
    )

    with pytest.raises(BackendError) as failure:
        limiter.acquire(1)

    assert (failure.value.reason, failure.value.retryable) == ("connection", True)


# --- Local: shared by threads ------------------------------------------------------


def test_local_limiter_lets_a_full_window_through_then_waits_for_the_oldest():
    limiter = LocalRateLimiter(
        requests_per_minute=4, tokens_per_minute=None, window_s=0.5
    )
    started = time.monotonic()
    for _ in range(4):
        limiter.acquire(1)

    limiter.acquire(1)

    # The fifth had to wait for the first to leave the window.
    assert time.monotonic() - started >= 0.5


def test_local_limiter_never_exceeds_the_limit_in_any_window_across_threads():
    limiter = LocalRateLimiter(
        requests_per_minute=6, tokens_per_minute=None, window_s=0.5
    )

    starts = starts_in_threads(limiter, threads=8, per_thread=3)

    assert len(starts) == 24
    assert max_in_any_window(starts, 0.5 - 0.02) <= 6
    assert max(starts) - min(starts) >= 3 * 0.5 - 0.02


def test_local_limiter_counts_tokens():
    limiter = LocalRateLimiter(
        requests_per_minute=None, tokens_per_minute=100, window_s=0.5
    )

    starts = starts_in_threads(limiter, threads=3, per_thread=1, tokens=40)

    assert max_in_any_window(starts, 0.5 - 0.02) <= 2
    assert max(starts) - min(starts) >= 0.5 - 0.02


def test_local_limiter_times_out_at_once_when_the_wait_is_longer():
    limiter = LocalRateLimiter(requests_per_minute=1, tokens_per_minute=None)
    limiter.acquire(1)

    with pytest.raises(RateLimitTimeout):
        limiter.acquire(1, timeout_s=0.2)


def test_a_request_larger_than_the_token_limit_is_refused_not_waited_for():
    limiter = LocalRateLimiter(requests_per_minute=None, tokens_per_minute=100)

    with pytest.raises(BackendError) as failure:
        limiter.acquire(101, timeout_s=None)

    assert (failure.value.reason, failure.value.fatal) == ("config", True)


@pytest.mark.parametrize("limit", [0, -5, 2.5])
def test_limits_must_be_whole_positive_numbers(limit):
    with pytest.raises(ValueError, match="requests_per_minute"):
        LocalRateLimiter(requests_per_minute=limit, tokens_per_minute=None)


# --- Choosing a limiter ----------------------------------------------------------


def test_no_limits_give_a_limiter_that_never_waits():
    limiter = rate_limiter_for("redis://127.0.0.1:6379/0", "llm", None, None)

    assert isinstance(limiter, NoRateLimit)
    limiter.acquire(10**9)


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/0", "rediss://cache:6380"])
def test_a_redis_broker_gives_a_limiter_shared_through_redis(broker):
    assert isinstance(rate_limiter_for(broker, "llm", 30, None), RedisRateLimiter)


def test_other_brokers_give_a_limiter_per_process_shared_by_its_jobs():
    first = rate_limiter_for("filesystem://", "llm:gpt-test", 30, 10_000)
    again = rate_limiter_for("filesystem://", "llm:gpt-test", 30, 10_000)

    assert isinstance(first, LocalRateLimiter)
    assert again is first
    assert rate_limiter_for("filesystem://", "llm:other-model", 30, 10_000) is not first
