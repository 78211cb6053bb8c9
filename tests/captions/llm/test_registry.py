import pytest

from captions.llm.base import BackendError
from captions.llm.openai_backend import OpenAIBackend
from captions.llm.registry import BACKENDS, get_backend


def test_openai_backend_is_built_with_the_jobs_options():
    backend = get_backend(
        "openai",
        base_url="http://127.0.0.1:8000/v1",
        api_key="none",
        timeout_s=12,
        max_retries=1,
    )

    assert isinstance(backend, OpenAIBackend)
    assert backend.base_url == "http://127.0.0.1:8000/v1"
    assert (backend.timeout_s, backend.max_retries) == (12, 1)


def test_offline_backend_needs_no_configuration():
    pytest.importorskip("captions.llm.offline")

    assert get_backend("offline", base_url="ignored", timeout_s=1).name == "offline"


def test_an_unknown_backend_is_a_config_error_naming_the_choices():
    with pytest.raises(BackendError) as failure:
        get_backend("anthropic")

    assert failure.value.reason == "config"
    assert failure.value.message == (
        "unknown backend 'anthropic'; choose offline or openai"
    )
    assert BACKENDS == ("offline", "openai")
