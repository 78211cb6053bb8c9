"""An endpoint's key comes from the variable it names, or from `<VARIABLE>_FILE`."""

import pytest

from captions.llm.base import BackendError
from captions.llm.endpoints import NO_KEY, Endpoint, endpoint_api_key, same_url

AZURE = Endpoint("azure", "https://alice.openai.azure.com/openai/v1/", "AZURE_KEY")


def test_the_key_is_read_from_the_variable_the_endpoint_names():
    environ = {"AZURE_KEY": " sk-azure\n", "OPENAI_API_KEY": "sk-other"}

    assert endpoint_api_key(AZURE, environ) == "sk-azure"


def test_the_key_is_read_from_the_file_named_by_the_variable_file(tmp_path):
    key_file = tmp_path / "azure-key"
    key_file.write_text("sk-from-a-secret\n")

    key = endpoint_api_key(AZURE, {"AZURE_KEY_FILE": str(key_file)})

    assert key == "sk-from-a-secret"


def test_the_variable_wins_over_its_file(tmp_path):
    environ = {"AZURE_KEY": "sk-azure", "AZURE_KEY_FILE": str(tmp_path / "missing")}

    assert endpoint_api_key(AZURE, environ) == "sk-azure"


def test_an_endpoint_without_a_key_variable_sends_the_key_none():
    local = Endpoint("ollama", "http://127.0.0.1:11434/v1")

    assert endpoint_api_key(local, {"OPENAI_API_KEY": "sk-not-for-ollama"}) == NO_KEY


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({}, "no API key for the endpoint 'azure': set AZURE_KEY or AZURE_KEY_FILE"),
        ({"AZURE_KEY": "  "}, "set AZURE_KEY or AZURE_KEY_FILE"),
        ({"AZURE_KEY_FILE": "/nonexistent/azure-key"}, "cannot be read"),
    ],
)
def test_a_missing_key_is_a_fatal_config_error_naming_the_variable(environ, words):
    with pytest.raises(BackendError) as failure:
        endpoint_api_key(AZURE, {"OPENAI_API_KEY": "sk-secret", **environ})

    assert (failure.value.reason, failure.value.fatal) == ("config", True)
    assert words in failure.value.message
    assert "sk-secret" not in failure.value.message


def test_an_empty_key_file_is_a_config_error_that_names_the_variable(tmp_path):
    key_file = tmp_path / "azure-key"
    key_file.write_text("\n")

    with pytest.raises(BackendError) as failure:
        endpoint_api_key(AZURE, {"AZURE_KEY_FILE": str(key_file)})

    assert "AZURE_KEY_FILE" in failure.value.message


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/", True),
        (" http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", True),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1", False),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/x", False),
        ("http://127.0.0.1:8000/v1", "https://127.0.0.1:8000/v1", False),
    ],
)
def test_a_url_is_the_same_only_up_to_a_trailing_slash(first, second, same):
    assert same_url(first, second) is same
