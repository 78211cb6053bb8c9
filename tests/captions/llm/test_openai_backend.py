"""The OpenAI backend against a real HTTP server that speaks the API (no mocks)."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from itertools import pairwise

import pytest

from captions.llm.base import BackendError, ChatRequest
from captions.llm.openai_backend import OpenAIBackend, retry_after_s
from tests.captions.llm.conftest import API_KEY
from tests.fake_openai import FakeOpenAI

PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
)


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_API_KEY_FILE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def backend_for(server: FakeOpenAI, **options) -> OpenAIBackend:
    options = {"timeout_s": 5, "max_retries": 4, "backoff_s": 0.05, **options}
    return OpenAIBackend(server.base_url, API_KEY, **options)


def caption_request(
    text: str = "Patch 7: 60% tree cover.", **parameters
) -> ChatRequest:
    return ChatRequest(
        messages=[
            {"role": "system", "content": "You describe satellite image patches."},
            {"role": "user", "content": text},
        ],
        model="gpt-test",
        parameters={"max_tokens": 120, **parameters},
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gaps(arrivals: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(arrivals)]


# --- Answers -----------------------------------------------------------------------


def test_complete_returns_the_caption_with_usage_latency_and_reported_model(
    fake_openai,
):
    result = backend_for(fake_openai).complete(caption_request("Patch 7"))

    assert result.text == "A patch seen by gpt-test: Patch 7"
    assert result.finish_reason == "stop"
    assert result.prompt_tokens > 0
    assert result.completion_tokens == len(result.text.split())
    assert result.model == "gpt-test-2025-01-01"
    assert 0 < result.latency_s < 5


def test_server_receives_model_messages_and_parameters_as_given(fake_openai):
    request = caption_request(temperature=0.2)

    backend_for(fake_openai).complete(request)

    (body,) = fake_openai.requests
    assert body["model"] == "gpt-test"
    assert body["messages"] == request.messages
    assert body["max_tokens"] == 120
    assert body["temperature"] == 0.2


def test_max_completion_tokens_is_sent_instead_of_max_tokens_when_asked(fake_openai):
    request = ChatRequest(
        messages=[{"role": "user", "content": "Patch 7"}],
        model="gpt-test",
        parameters={"max_completion_tokens": 200},
    )

    backend_for(fake_openai).complete(request)

    (body,) = fake_openai.requests
    assert body["max_completion_tokens"] == 200
    assert "max_tokens" not in body


def test_vision_request_sends_the_image_as_a_data_url_part(fake_openai):
    content = [
        {"type": "text", "text": "Describe this patch."},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]
    request = ChatRequest(
        messages=[{"role": "user", "content": content}],
        model="gpt-vision-test",
        parameters={"max_tokens": 50},
    )

    result = backend_for(fake_openai).complete(request)

    (body,) = fake_openai.requests
    (image_part,) = [p for p in body["messages"][0]["content"] if p["type"] != "text"]
    assert image_part == {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}
    assert result.text.endswith("Describe this patch.")


def test_missing_usage_counts_as_zero_tokens(fake_openai):
    fake_openai.enqueue("no_usage")

    result = backend_for(fake_openai).complete(caption_request())

    assert (result.prompt_tokens, result.completion_tokens) == (0, 0)


@pytest.mark.parametrize(
    ("behaviour", "reason", "retryable"),
    [
        ("malformed", "malformed", True),
        ("no_choices", "malformed", True),
        ("empty", "empty", True),
        ("length", "length", False),
        ("refusal", "refused", False),
        ("content_filter", "refused", False),
    ],
)
def test_unusable_reply_fails_without_retrying(
    fake_openai, behaviour, reason, retryable
):
    fake_openai.enqueue(behaviour)

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai).complete(caption_request())

    assert failure.value.reason == reason
    assert failure.value.retryable is retryable
    assert failure.value.fatal is False
    assert len(fake_openai.requests) == 1


# --- Retries -----------------------------------------------------------------------


def test_429_is_retried_after_the_servers_retry_after(fake_openai):
    fake_openai.enqueue("429", "ok")

    result = backend_for(fake_openai).complete(caption_request())

    assert result.text
    assert len(fake_openai.requests) == 2
    assert gaps(fake_openai.arrivals)[0] >= 0.9 * fake_openai.retry_after_s


def test_429_until_retries_run_out_is_rate_limited_and_retryable(fake_openai):
    fake_openai.default = "429"
    fake_openai.retry_after_s = 0.1

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai, max_retries=2).complete(caption_request())

    assert failure.value.reason == "rate_limited"
    assert failure.value.retryable is True
    assert len(fake_openai.requests) == 3


def test_429_asking_for_minutes_is_not_waited_for_in_the_worker(fake_openai):
    fake_openai.enqueue("429")
    fake_openai.retry_after_s = 300

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai).complete(caption_request())

    assert failure.value.reason == "rate_limited"
    assert failure.value.retryable is True
    assert len(fake_openai.requests) == 1


def test_429_for_an_exhausted_quota_stops_the_job_at_once(fake_openai):
    fake_openai.enqueue("429_quota", "ok")

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai).complete(caption_request())

    assert failure.value.reason == "rate_limited"
    assert failure.value.fatal is True
    assert len(fake_openai.requests) == 1


def test_server_errors_are_retried_with_a_growing_backoff(fake_openai):
    fake_openai.enqueue("500", "503", "500", "ok")

    result = backend_for(fake_openai, backoff_s=0.1).complete(caption_request())

    assert result.text
    assert len(fake_openai.requests) == 4
    # The n-th wait is drawn from [backoff·2ⁿ/2, backoff·2ⁿ].
    for attempt, gap in enumerate(gaps(fake_openai.arrivals)):
        assert gap >= 0.1 * 2**attempt / 2


def test_server_errors_until_retries_run_out_are_retryable(fake_openai):
    fake_openai.default = "503"

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai, max_retries=2).complete(caption_request())

    assert failure.value.reason == "server_error"
    assert failure.value.retryable is True
    assert len(fake_openai.requests) == 3


def test_a_server_slower_than_the_timeout_fails_with_timeout_after_retries(
    fake_openai,
):
    fake_openai.default = "slow"

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai, timeout_s=0.3, max_retries=1).complete(
            caption_request()
        )

    assert failure.value.reason == "timeout"
    assert failure.value.retryable is True
    assert len(fake_openai.requests) == 2


def test_a_dropped_connection_is_retried(fake_openai):
    fake_openai.enqueue("drop", "ok")

    result = backend_for(fake_openai).complete(caption_request())

    assert result.text
    assert len(fake_openai.requests) == 2


def test_connections_dropped_until_retries_run_out_are_a_connection_error(
    fake_openai,
):
    fake_openai.default = "drop"

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai, max_retries=1).complete(caption_request())

    assert failure.value.reason == "connection"
    assert failure.value.retryable is True
    assert len(fake_openai.requests) == 2


def test_a_closed_port_is_a_connection_error():
    backend = OpenAIBackend(
        f"http://127.0.0.1:{closed_port()}/v1", API_KEY, max_retries=1, backoff_s=0.01
    )

    with pytest.raises(BackendError) as failure:
        backend.complete(caption_request())

    assert failure.value.reason == "connection"
    assert failure.value.retryable is True
    assert "refused" in failure.value.message.lower()


# --- Client errors: no retries -------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "reason", "fatal"),
    [
        ("401", "auth", True),
        ("403", "auth", True),
        ("404", "not_found", True),
        ("400", "bad_request", False),
    ],
)
def test_client_error_fails_at_once_with_the_servers_words(
    fake_openai, behaviour, reason, fatal
):
    fake_openai.enqueue(behaviour, "ok")

    with pytest.raises(BackendError) as failure:
        backend_for(fake_openai).complete(caption_request())

    assert failure.value.reason == reason
    assert failure.value.fatal is fatal
    assert failure.value.retryable is False
    assert len(fake_openai.requests) == 1
    assert f"({behaviour})" in failure.value.message


def test_a_wrong_key_is_fatal_after_exactly_one_request(fake_openai):
    backend = OpenAIBackend(fake_openai.base_url, "sk-not-alices-key")

    with pytest.raises(BackendError) as failure:
        backend.complete(caption_request())

    assert (failure.value.reason, failure.value.fatal) == ("auth", True)
    assert "Incorrect API key" in failure.value.message
    assert len(fake_openai.requests) == 1


# --- Many threads --------------------------------------------------------------------


def test_concurrent_calls_get_their_own_answers_and_overlap_at_the_server():
    with FakeOpenAI(api_key=API_KEY, latency_s=0.5) as server:
        backend = backend_for(server)
        start_together = threading.Barrier(32)

        def caption(number: int) -> str:
            start_together.wait()
            return backend.complete(caption_request(f"patch {number}")).text

        with ThreadPoolExecutor(max_workers=32) as pool:
            texts = list(pool.map(caption, range(32)))

    assert texts == [f"A patch seen by gpt-test: patch {n}" for n in range(32)]
    assert server.max_in_flight >= 16


# --- Configuration ---------------------------------------------------------------


def test_the_environment_routes_no_request_and_lends_no_key(fake_openai, monkeypatch):
    # The SDK itself would fall back to these; the backend never lets it.
    with FakeOpenAI(api_key=None) as elsewhere:
        monkeypatch.setenv("OPENAI_BASE_URL", elsewhere.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")

        OpenAIBackend(fake_openai.base_url, API_KEY).complete(caption_request())

        assert elsewhere.received == []
    assert [seen.authorization for seen in fake_openai.received] == [
        f"Bearer {API_KEY}"
    ]


@pytest.mark.parametrize(("base_url", "api_key"), [("", API_KEY), ("x", " ")])
def test_the_backend_has_no_default_url_or_key(base_url, api_key):
    with pytest.raises(ValueError, match="required"):
        OpenAIBackend(base_url, api_key)


def test_a_server_without_auth_takes_the_key_none():
    with FakeOpenAI(api_key=None) as server:
        backend = OpenAIBackend(server.base_url, "none")
        backend.check()
        assert backend.complete(caption_request()).text


def test_check_reports_a_base_url_nobody_listens_on_within_seconds():
    started = time.monotonic()

    with pytest.raises(BackendError) as failure:
        OpenAIBackend(f"http://127.0.0.1:{closed_port()}/v1", API_KEY).check()

    assert failure.value.reason == "connection"
    assert time.monotonic() - started < 5


def test_check_with_a_refused_key_is_a_fatal_auth_error(fake_openai):
    with pytest.raises(BackendError) as failure:
        OpenAIBackend(fake_openai.base_url, "sk-not-alices-key").check()

    assert (failure.value.reason, failure.value.fatal) == ("auth", True)


def test_check_asks_the_models_endpoint(fake_openai):
    backend_for(fake_openai).check()

    assert fake_openai.model_list_requests == 1
    assert fake_openai.requests == []


def test_check_accepts_a_server_without_a_models_endpoint():
    with FakeOpenAI(api_key=API_KEY, serve_models=False) as server:
        backend_for(server).check()


# --- Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "0"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_milliseconds_then_seconds(headers, seconds):
    assert retry_after_s(headers) == seconds


def test_retry_after_reads_an_http_date():
    headers = {"retry-after": formatdate(time.time() + 30, usegmt=True)}

    assert 28 <= (retry_after_s(headers) or 0) <= 30
