import pytest

from tests.services import require_redis

NOBODY_LISTENS = "redis://127.0.0.1:1/13"


def test_a_missing_redis_skips_the_test_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="Redis does not answer"):
        require_redis(NOBODY_LISTENS)


def test_a_missing_redis_fails_the_test_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_redis(NOBODY_LISTENS)
