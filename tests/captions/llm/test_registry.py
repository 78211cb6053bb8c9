import pytest

from captions.llm.base import BackendError
from captions.llm.endpoints import Endpoint
from captions.llm.openai_backend import OpenAIBackend
from captions.llm.registry import BACKENDS, get_backend
from tests.captions.llm.conftest import API_KEY

LOCAL = Endpoint("local", "http://127.0.0.1:8000/v1", "LOCAL_LLM_KEY")


def test_openai_backend_is_built_with_the_endpoint_and_the_jobs_options():
    backend = get_backend(
        "openai",
        endpoint=LOCAL,
        environ={"LOCAL_LLM_KEY": "sk-local"},
        timeout_s=12,
        max_retries=1,
    )

    assert isinstance(backend, OpenAIBackend)
    assert backend.base_url == "http://127.0.0.1:8000/v1"
    assert (backend.timeout_s, backend.max_retries) == (12, 1)


def test_the_endpoints_key_goes_to_the_endpoints_url_only(fake_openai):
    endpoint = Endpoint("fake", fake_openai.base_url, "FAKE_KEY")

    get_backend("openai", endpoint=endpoint, environ={"FAKE_KEY": API_KEY}).check()

    assert [(seen.path, seen.authorization) for seen in fake_openai.received] == [
        ("/v1/models", f"Bearer {API_KEY}")
    ]


def test_a_remote_backend_without_an_endpoint_is_a_config_error():
    with pytest.raises(BackendError) as failure:
        get_backend("openai", environ={"OPENAI_API_KEY": "sk-unused"})

    assert (failure.value.reason, failure.value.fatal) == ("config", True)


def test_an_endpoint_without_its_key_builds_no_backend_and_sends_nothing(fake_openai):
    endpoint = Endpoint("fake", fake_openai.base_url, "FAKE_KEY")

    with pytest.raises(BackendError) as failure:
        get_backend("openai", endpoint=endpoint, environ={"OPENAI_API_KEY": API_KEY})

    assert (failure.value.reason, failure.value.fatal) == ("config", True)
    assert "FAKE_KEY" in failure.value.message
    assert fake_openai.received == []


def test_offline_backend_needs_no_configuration():
    pytest.importorskip("captions.llm.offline")

    assert get_backend("offline", endpoint=LOCAL, timeout_s=1).name == "offline"


def test_an_unknown_backend_is_a_config_error_naming_the_choices():
    with pytest.raises(BackendError) as failure:
        get_backend("anthropic")

    assert failure.value.reason == "config"
    assert failure.value.message == (
        "unknown backend 'anthropic'; choose offline or openai"
    )
    assert BACKENDS == ("offline", "openai")
