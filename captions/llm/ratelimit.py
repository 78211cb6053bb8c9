"""Requests-per-minute and tokens-per-minute limits for calls to an LLM provider.

A sliding window, not a token bucket: in ANY `window_s`-long span (60 s by default)
at most `requests_per_minute` requests and at most `tokens_per_minute` tokens start.
A bucket that refills continuously lets a full bucket go at the end of one minute and
a refilled one at the start of the next, twice the limit in a minute: providers count
the way this module does and answer the second half with 429s.

Each start is kept with its time and tokens. A request may start when the starts of
the last window, plus itself, stay within both limits; otherwise it waits until
enough of the oldest starts have left the window. Tokens are an estimate reserved at
the start (prompt plus `max_tokens`, as providers count them) and never corrected.

`RedisRateLimiter` shares the window between every worker process: the check and the
record happen in one Lua script, so no two processes can both take the last place,
and the clock is the Redis server's (`TIME`), not each worker's. `LocalRateLimiter`
is the zero-setup default: the window is shared by the threads of ONE process only,
so N worker processes send up to N times the limit.
"""

import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis

from captions.llm.base import BackendError

# Waiters that are woken together re-check at slightly different moments.
_WAKE_JITTER_S = 0.005
_MIN_WAIT_S = 0.001


class RateLimiter(Protocol):
    def acquire(self, tokens: int, *, timeout_s: float | None = None) -> None:
        """Block until a request of `tokens` tokens may start, and count it.

        Raises `RateLimitTimeout` when that would take longer than `timeout_s`.
        """


class RateLimitTimeout(BackendError):
    def __init__(self, message: str) -> None:
        super().__init__("rate_limited", message, retryable=True)


class NoRateLimit:
    """No limit configured: every request starts at once."""

    def acquire(self, tokens: int, *, timeout_s: float | None = None) -> None:
        return None


class LocalRateLimiter:
    """A sliding window shared by the threads of this process only."""

    def __init__(
        self,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        window_s: float = 60.0,
    ) -> None:
        _check_limits(requests_per_minute, tokens_per_minute, window_s)
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.window_s = window_s
        self._starts: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def acquire(self, tokens: int, *, timeout_s: float | None = None) -> None:
        _check_request(tokens, self.tokens_per_minute)
        _wait_for_place(lambda: self._try_start(tokens), timeout_s, self._describe())

    def _try_start(self, tokens: int) -> float:
        with self._lock:
            now = time.monotonic()
            while self._starts and self._starts[0][0] < now - self.window_s:
                self._starts.popleft()
            wait = _seconds_until_place(
                list(self._starts),
                now,
                self.window_s,
                self.requests_per_minute,
                self.tokens_per_minute,
                tokens,
            )
            if wait == 0:
                self._starts.append((now, tokens))
            return wait

    def _describe(self) -> str:
        return _describe(
            self.requests_per_minute, self.tokens_per_minute, self.window_s
        )


def _seconds_until_place(
    starts: list[tuple[float, int]],
    now: float,
    window_s: float,
    max_requests: int | None,
    max_tokens: int | None,
    tokens: int,
) -> float:
    """0 if a request may start now, else how long until enough starts have left.

    `starts` are the window's (time, tokens), oldest first; a start leaves the window
    once it is more than `window_s` old. Mirrors the Lua script below.
    """
    waits = []
    if max_requests is not None and len(starts) >= max_requests:
        leaving, _ = starts[len(starts) - max_requests]
        waits.append(leaving + window_s - now)
    if max_tokens is not None:
        excess = sum(spent for _, spent in starts) + tokens - max_tokens
        for start, spent in starts:
            if excess <= 0:
                break
            excess -= spent
            waits.append(start + window_s - now)
    return max(*waits, _MIN_WAIT_S) if waits else 0.0


# KEYS[1]: a sorted set of starts; score: the start in microseconds of Redis time,
# member: "<unique id>:<tokens>". ARGV: window (µs), max requests and max tokens
# (0: no limit), this request's tokens, its id. Returns 0 when the request was
# recorded, else the microseconds to wait. Numbers pass through string.format('%.0f')
# because Lua prints numbers with 14 digits and a time in µs has 16.
_SLIDING_WINDOW_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local window = tonumber(ARGV[1])
local max_requests = tonumber(ARGV[2])
local max_tokens = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',
           '(' .. string.format('%.0f', now - window))
local starts = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local count = #starts / 2
local function spent(i) return tonumber(string.match(starts[i], ':(%d+)$')) end
local wait = 0
if max_requests > 0 and count >= max_requests then
  local leaving = tonumber(starts[(count - max_requests) * 2 + 2])
  wait = math.max(wait, leaving + window - now + 1)
end
if max_tokens > 0 then
  local excess = tokens - max_tokens
  for i = 1, #starts, 2 do excess = excess + spent(i) end
  for i = 1, #starts, 2 do
    if excess <= 0 then break end
    excess = excess - spent(i)
    wait = math.max(wait, tonumber(starts[i + 1]) + window - now + 1)
  end
end
if wait > 0 then return string.format('%.0f', wait) end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5] .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(window / 1000) + 1000))
return '0'
"""


class RedisRateLimiter:
    """A sliding window shared by every process that uses the same Redis and key."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        window_s: float = 60.0,
    ) -> None:
        _check_limits(requests_per_minute, tokens_per_minute, window_s)
        self.key = key
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.window_s = window_s
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        self._script = self._redis.register_script(_SLIDING_WINDOW_LUA)

    def acquire(self, tokens: int, *, timeout_s: float | None = None) -> None:
        _check_request(tokens, self.tokens_per_minute)
        _wait_for_place(lambda: self._try_start(tokens), timeout_s, self._describe())

    def _try_start(self, tokens: int) -> float:
        try:
            wait_us = self._script(
                keys=[self.key],
                args=[
                    round(self.window_s * 1_000_000),
                    self.requests_per_minute or 0,
                    self.tokens_per_minute or 0,
                    tokens,
                    uuid.uuid4().hex,
                ],
            )
        except redis.RedisError as error:
            where = self._redis.connection_pool.connection_kwargs
            raise BackendError(
                "connection",
                f"the rate limiter's Redis at {where.get('host')}:{where.get('port')} "
                f"does not answer: {error}",
                retryable=True,
            ) from None
        return int(wait_us) / 1_000_000

    def _describe(self) -> str:
        return _describe(
            self.requests_per_minute, self.tokens_per_minute, self.window_s
        )


_shared_limiters: dict[tuple, RateLimiter] = {}
_shared_limiters_lock = threading.Lock()


def rate_limiter_for(
    broker_url: str,
    key: str,
    requests_per_minute: int | None,
    tokens_per_minute: int | None,
    *,
    window_s: float = 60.0,
) -> RateLimiter:
    """The limiter for `key` (e.g. one per base URL and model).

    Through Redis when the Celery broker is Redis (every worker shares it), else
    local to this process; no limit at all when both limits are None. The same
    arguments give the same limiter, so all the jobs of a process share its window.
    """
    if requests_per_minute is None and tokens_per_minute is None:
        return NoRateLimit()
    identity = (broker_url, key, requests_per_minute, tokens_per_minute, window_s)
    with _shared_limiters_lock:
        limiter = _shared_limiters.get(identity)
        if limiter is None:
            limiter = _new_limiter(*identity)
            _shared_limiters[identity] = limiter
        return limiter


def _new_limiter(
    broker_url: str,
    key: str,
    requests_per_minute: int | None,
    tokens_per_minute: int | None,
    window_s: float,
) -> RateLimiter:
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(
            broker_url,
            key,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            window_s=window_s,
        )
    return LocalRateLimiter(
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        window_s=window_s,
    )


def _wait_for_place(
    try_start: Callable[[], float], timeout_s: float | None, limits: str
) -> None:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        wait = try_start()
        if wait == 0:
            return
        # `wait` is a lower bound (starts only join the window), so a wait past the
        # deadline fails now rather than after sleeping until it.
        if deadline is not None and time.monotonic() + wait > deadline:
            raise RateLimitTimeout(
                f"no place within {timeout_s:g} s under {limits} "
                f"(the next would be in {wait:.1f} s)"
            )
        time.sleep(wait + random.uniform(0, _WAKE_JITTER_S))


def _check_limits(
    requests_per_minute: int | None, tokens_per_minute: int | None, window_s: float
) -> None:
    for name, limit in (
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ):
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(
                f"{name} must be a whole number of at least 1, not {limit!r}"
            )
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, not {window_s}")


def _check_request(tokens: int, tokens_per_minute: int | None) -> None:
    if tokens < 0:
        raise ValueError(f"tokens must be 0 or more, not {tokens}")
    if tokens_per_minute is not None and tokens > tokens_per_minute:
        # It would wait forever; so would every request of the same prompt.
        raise BackendError(
            "config",
            f"a request of about {tokens} tokens can never fit "
            f"tokens_per_minute={tokens_per_minute}",
            fatal=True,
        )


def _describe(
    requests_per_minute: int | None, tokens_per_minute: int | None, window_s: float
) -> str:
    per = "minute" if window_s == 60 else f"{window_s:g} s"
    limits = []
    if requests_per_minute is not None:
        limits.append(f"{requests_per_minute} requests")
    if tokens_per_minute is not None:
        limits.append(f"{tokens_per_minute} tokens")
    return " and ".join(limits) + f" per {per}"
