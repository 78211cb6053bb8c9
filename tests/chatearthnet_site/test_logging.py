"""Log lines: one JSON object a line with LOG_FORMAT=json, the request's id on every
line of a request, the job's and chunk's on every line of a chunk.

The lines are caught by a handler built as settings.LOGGING builds the console's
(the site's filter and formatter), attached to the root logger: what adds the ids is
the filter, as in production.
"""

import datetime as dt
import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from captions import tasks
from captions.generation.runner import job_run_chunk
from captions.llm.offline import OfflineBackend
from captions.log_context import log_ids
from captions.models import GenerationJob, JobChunk
from chatearthnet_site.logs import JsonLineFormatter, LogIdsFilter, TextFormatter
from tests.captions.generation_fixtures import KEY, launch, make_patches
from tests.chatearthnet_site.test_settings import settings_in_subprocess
from tests.conftest import wait_for
from tests.fake_openai import FakeOpenAI

logger = logging.getLogger("tests.logging")
FRESH_ID = re.compile(r"[0-9a-f]{32}")


# --- A few views, for the request tests (`pytest.mark.urls(__name__)`) -------------


def view_that_logs(request: HttpRequest) -> HttpResponse:
    logger.info("inside the view")
    return HttpResponse("ok")


def view_that_answers_409(request: HttpRequest) -> HttpResponse:
    return HttpResponse("taken", status=409)


def view_that_breaks(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view broke")


urlpatterns = [
    path("logs/", view_that_logs),
    path("conflict/", view_that_answers_409),
    path("broken/", view_that_breaks),
]


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict]]]:
    """`json_lines()`: every line logged (at INFO and up) since the test began, parsed;
    a line that is not one JSON object fails the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogIdsFilter())
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def lines_with(lines: list[dict], message: str) -> list[dict]:
    return [line for line in lines if message in line["message"]]


# --- The formats ------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_and_the_ids(json_lines):
    with log_ids(job_id=3, chunk_id=7):
        logger.warning("chunk %s is slow", 7)
    (line,) = json_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.logging"
    assert line["message"] == "chunk 7 is slow"
    assert (line["job_id"], line["chunk_id"]) == (3, 7)
    assert "request_id" not in line  # only the ids the line has
    time = dt.datetime.fromisoformat(line["time"])
    assert line["time"].endswith("Z") and time.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - time) < dt.timedelta(minutes=5)


def test_an_exception_is_a_field_of_its_one_line(json_lines):
    try:
        raise ValueError('bad "value"\nsecond line')
    except ValueError:
        logger.exception('failed with\n"quotes" and a newline')
    (line,) = json_lines()  # one line, though message and traceback have several
    assert line["level"] == "ERROR"
    assert line["message"] == 'failed with\n"quotes" and a newline'
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert 'ValueError: bad "value"\nsecond line' in line["exception"]


def test_a_text_line_shows_the_ids_before_the_message():
    record = logger.makeRecord(
        "tests.logging", logging.INFO, __file__, 1, "hello", (), None
    )
    with log_ids(request_id="abc", job_id=3):
        LogIdsFilter().filter(record)
    line = TextFormatter().format(record)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO tests.logging "
        r"\[request_id=abc job_id=3\] hello",
        line,
    )


def test_log_format_json_makes_every_line_of_a_process_json():
    code = (
        "import logging; from captions.log_context import log_ids\n"
        "with log_ids(release_id=5): logging.getLogger('x').warning('from x')"
    )
    done = settings_in_subprocess(code, LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"logger": "x", "message": "from x", "release_id": 5}.items() <= lines[
        -1
    ].items()


def test_the_text_format_is_the_default():
    code = "import logging; logging.getLogger('x').warning('from x')"
    done = settings_in_subprocess(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1].endswith(" WARNING x from x")


def test_an_unknown_log_format_is_refused_at_start_naming_the_allowed_ones():
    done = settings_in_subprocess(LOG_FORMAT="bogus")
    assert done.returncode != 0
    assert "ImproperlyConfigured: LOG_FORMAT='bogus' is not one of text, json" in (
        done.stderr
    )


# --- The request id -----------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_a_line_logged_in_a_view_carries_the_id_the_response_gives(client, json_lines):
    response = client.get("/logs/")
    request_id = response["X-Request-ID"]
    assert FRESH_ID.fullmatch(request_id)
    (line,) = lines_with(json_lines(), "inside the view")
    assert line["request_id"] == request_id
    # Each request has its own, and no line outside a request has one.
    assert client.get("/logs/")["X-Request-ID"] != request_id
    logger.info("after the requests")
    assert "request_id" not in lines_with(json_lines(), "after the requests")[0]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("given", ["a1b2", "edge-proxy.7_X", "x" * 64])
def test_a_plain_short_request_id_from_the_proxy_is_kept(client, json_lines, given):
    response = client.get("/logs/", headers={"X-Request-ID": given})
    assert response["X-Request-ID"] == given
    assert lines_with(json_lines(), "inside the view")[0]["request_id"] == given


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "hostile",
    [
        "abc\nINFO forged line",
        "abc-123\n",  # `$` in a pattern would let this one through
        'abc", "level": "CRITICAL',
        "a" * 500,
        "x" * 65,
        "has space",
        "",
        "caf\u00e9",
    ],
)
def test_a_hostile_request_id_is_replaced_and_never_logged(client, json_lines, hostile):
    response = client.get("/logs/", headers={"X-Request-ID": hostile})
    request_id = response["X-Request-ID"]
    assert FRESH_ID.fullmatch(request_id)
    lines = json_lines()
    assert lines_with(lines, "inside the view")[0]["request_id"] == request_id
    if hostile:
        assert all(hostile not in json.dumps(line) for line in lines)


@pytest.mark.urls(__name__)
def test_djangos_own_request_lines_carry_the_id(json_lines):
    client = Client(raise_request_exception=False)
    # Logged inside the middleware (an exception's answer), and after it has
    # returned (an answer of 4xx a view gave).
    for url, status, message in [
        ("/nope/", 404, "Not Found: /nope/"),
        ("/conflict/", 409, "Conflict: /conflict/"),
        ("/broken/", 500, "Internal Server Error: /broken/"),
    ]:
        response = client.get(url, headers={"X-Request-ID": f"id-{status}"})
        assert response.status_code == status
        (line,) = lines_with(json_lines(), message)
        assert line["logger"] == "django.request"
        assert line["request_id"] == response["X-Request-ID"] == f"id-{status}"
    (broken,) = lines_with(json_lines(), "Internal Server Error")
    assert "RuntimeError: the view broke" in broken["exception"]


def test_an_api_refusal_is_logged_with_the_id_its_answer_gave(db, json_lines):
    response = Client().get("/api/v1/scenes/")
    assert response.status_code in (401, 403)
    (line,) = lines_with(json_lines(), "/api/v1/scenes/")
    assert line["request_id"] == response["X-Request-ID"]


# --- Task lines: a chunk's job and chunk ----------------------------------------------


@pytest.mark.django_db
def test_lines_logged_while_a_chunk_runs_carry_its_job_and_chunk(
    enqueued_chunks, json_lines
):
    make_patches(12)
    job = launch()
    second = JobChunk.objects.get(job=job, index=1)
    job_run_chunk(job_id=job.pk, index=1)
    logger.info("after the chunk")
    lines = json_lines()
    (taken,) = lines_with(lines, f"job {job.pk} chunk 1 taken")
    assert taken["logger"] == "captions.generation.runner"
    assert (taken["job_id"], taken["chunk_id"], taken["chunk_index"]) == (
        job.pk,
        second.pk,
        1,
    )
    assert "request_id" not in taken
    (after,) = lines_with(lines, "after the chunk")
    assert "job_id" not in after and "chunk_id" not in after


@pytest.mark.django_db
def test_a_chunk_that_breaks_logs_its_traceback_with_its_ids(
    enqueued_chunks, json_lines, monkeypatch
):
    def raise_a_surprise(self, request):
        raise KeyError("surprise")

    make_patches(3)
    job = launch()
    monkeypatch.setattr(OfflineBackend, "complete", raise_a_surprise)
    job_run_chunk(job_id=job.pk, index=0)
    (broke,) = lines_with(json_lines(), f"job {job.pk} chunk 0 broke")
    assert broke["level"] == "ERROR"
    assert broke["job_id"] == job.pk
    assert broke["chunk_id"] == JobChunk.objects.get(job=job, index=0).pk
    assert "KeyError: 'surprise'" in broke["exception"]


@pytest.mark.django_db
def test_the_http_lines_of_a_chunks_request_threads_carry_its_ids(
    enqueued_chunks, json_lines, settings, monkeypatch
):
    make_patches(4)
    with FakeOpenAI(api_key=KEY) as server:
        monkeypatch.setenv("FAKE_LLM_KEY", KEY)
        settings.LLM_ENDPOINTS = {
            "fake": {"base_url": server.base_url, "key_variable": "FAKE_LLM_KEY"}
        }
        job = launch(backend="openai", model="gpt-4o-mini", endpoint="fake")
        job_run_chunk(job_id=job.pk, index=0)
    job.refresh_from_db()
    assert job.done == 4
    # httpx logs each request from the thread that sent it.
    sent = lines_with(json_lines(), "HTTP Request: POST")
    assert len(sent) == 4
    assert {(line["job_id"], line["chunk_index"]) for line in sent} == {(job.pk, 0)}


@pytest.mark.django_db
def test_a_tasks_lines_carry_its_task_id_while_it_runs(enqueued_chunks, json_lines):
    make_patches(3)
    job = launch()
    tasks.generate_chunk.apply(args=(job.pk, 0), task_id="task-in-this-process")
    logger.info("after the task")
    lines = json_lines()
    (taken,) = lines_with(lines, f"job {job.pk} chunk 0 taken")
    assert taken["task_id"] == "task-in-this-process"
    assert taken["job_id"] == job.pk
    assert "task_id" not in lines_with(lines, "after the task")[0]


def test_a_real_workers_lines_are_json_with_the_ids(start_worker):
    """A Celery worker replaces the root logger's handlers unless told not to: the
    lines of a real one follow LOG_FORMAT and carry the ids."""
    make_patches(3)
    worker = start_worker(LOG_FORMAT="json")
    job = launch()
    wait_for(
        lambda: GenerationJob.objects.get(pk=job.pk).status not in GenerationJob.ACTIVE,
        timeout=90,
        what="the job",
    )
    wait_for(
        lambda: "succeeded" in worker.log_path.read_text(), what="the task's end line"
    )
    lines = [
        json.loads(text)
        for text in worker.log_path.read_text().splitlines()
        if text.startswith("{")
    ]
    (taken,) = lines_with(lines, f"job {job.pk} chunk 0 taken")
    assert taken["job_id"] == job.pk
    assert taken["chunk_id"] == JobChunk.objects.get(job=job, index=0).pk
    # Celery's own line about the task, written by the same handler.
    (succeeded,) = lines_with(lines, "succeeded")
    assert succeeded["logger"] == "celery.app.trace"
    assert succeeded["task_id"] == taken["task_id"]
    assert f"[{taken['task_id']}]" in succeeded["message"]
