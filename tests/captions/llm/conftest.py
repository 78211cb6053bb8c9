import os
import uuid
from collections.abc import Iterator

import pytest

from tests.fake_openai import FakeOpenAI
from tests.services import require_redis

# A database of its own: the suite's Celery broker uses another one.
REDIS_URL = os.environ.get("RATELIMIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
API_KEY = "sk-test-alice"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "redis: needs Redis (skipped when it does not answer, unless CI=true)",
    )


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=API_KEY, retry_after_s=1.0) as server:
        yield server


@pytest.fixture
def redis_key() -> Iterator[str]:
    """A key of its own in the test database, deleted afterwards."""
    client = require_redis(REDIS_URL)
    key = f"test:ratelimit:{uuid.uuid4().hex}"
    yield key
    client.delete(key)
