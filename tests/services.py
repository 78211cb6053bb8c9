"""Real services the tests talk to: skipped where they are absent, required in CI."""

import os

import pytest
import redis


def require_redis(url: str) -> redis.Redis:
    """A client for the Redis at `url`; skip the test if it does not answer, or fail
    it under CI=true, where a missing service is a broken machine, not a laptop."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis does not answer at {url}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the tests need it)")
        pytest.skip(message)
    return client
