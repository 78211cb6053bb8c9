"""Workers say they are alive (captions/workers.py); the jobs page tells when none is.

Cora curates: she sees the workers above the job list, and a warning when none has
reported lately. Anna annotates and an anonymous caller has no session: the admin
refuses them its pages, this one included.
"""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from captions.generation.options import JobOptions
from captions.generation.templates import template_get
from captions.models import GenerationJob, WorkerHeartbeat
from captions.workers import (
    FORGET_AFTER,
    worker_heartbeat_record,
    worker_heartbeat_remove,
)
from tests.conftest import stop_worker, wait_for

JOBS_URL = reverse("admin:captions_generationjob_changelist")
WARNING = "No Celery worker has reported in the last 60 seconds"


def seen(hostname: str, *, seconds_ago: float = 0) -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        hostname=hostname,
        pid=1234,
        started_at=now - dt.timedelta(hours=1),
        last_seen=now - dt.timedelta(seconds=seconds_ago),
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the rows ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_keeps_one_row_that_moves_with_each_beat():
    started = timezone.now()
    worker_heartbeat_record(hostname="celery@a", pid=7, started_at=started)
    first = WorkerHeartbeat.objects.get().last_seen
    worker_heartbeat_record(hostname="celery@a", pid=7, started_at=started)
    row = WorkerHeartbeat.objects.get()
    assert row.last_seen > first
    assert (row.pid, row.started_at) == (7, started)


@pytest.mark.django_db
def test_a_stopping_worker_removes_only_its_own_row():
    worker_heartbeat_record(hostname="celery@a", pid=8, started_at=timezone.now())
    # An older process of the same name stops late: the new one's row stays.
    worker_heartbeat_remove(hostname="celery@a", pid=7)
    assert WorkerHeartbeat.objects.filter(hostname="celery@a").exists()
    worker_heartbeat_remove(hostname="celery@a", pid=8)
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db
def test_workers_gone_for_a_day_are_forgotten_at_the_next_beat():
    seen("celery@lost", seconds_ago=FORGET_AFTER.total_seconds() + 60)
    seen("celery@quiet", seconds_ago=3600)
    worker_heartbeat_record(hostname="celery@b", pid=9, started_at=timezone.now())
    assert set(WorkerHeartbeat.objects.values_list("hostname", flat=True)) == {
        "celery@quiet",
        "celery@b",
    }


# --- a real worker ----------------------------------------------------------------


def test_a_real_worker_beats_turns_readyz_green_and_shows_on_the_jobs_page(
    start_worker, curator
):
    page = signed_in(curator)
    assert Client().get("/readyz").status_code == 503
    assert WARNING in page.get(JOBS_URL).content.decode()

    worker = start_worker()
    wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test0@").exists(),
        what="the worker's heartbeat",
    )
    row = WorkerHeartbeat.objects.get()
    assert row.pid == worker.pid
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    html = page.get(JOBS_URL).content.decode()
    assert WARNING not in html
    assert row.hostname in html

    # A clean stop (SIGTERM) removes the row: the worker is gone, not dead.
    stop_worker(worker)
    assert not WorkerHeartbeat.objects.exists()
    assert Client().get("/readyz").status_code == 503


# --- the jobs page ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_jobs_page_warns_cora_when_no_worker_has_reported(curator):
    html = signed_in(curator).get(JOBS_URL).content.decode()
    assert WARNING in html
    assert "none has reported" in html


@pytest.mark.django_db
def test_the_jobs_page_lists_live_workers_without_a_warning(curator):
    seen("celery@gpu-1", seconds_ago=5)
    html = signed_in(curator).get(JOBS_URL).content.decode()
    assert "celery@gpu-1, last seen 5 s ago" in html
    assert WARNING not in html


@pytest.mark.django_db
def test_a_worker_that_stopped_reporting_shows_as_such_with_the_warning(curator):
    seen("celery@gpu-2", seconds_ago=61)
    html = signed_in(curator).get(JOBS_URL).content.decode()
    assert "celery@gpu-2, last seen 61 s ago (not reporting)" in html
    assert WARNING in html


@pytest.mark.django_db
def test_a_waiting_job_warns_on_its_own_page_when_no_worker_runs(curator):
    job = GenerationJob.objects.create(
        backend="offline",
        model="offline-1",
        template=template_get("chatearthnet-text"),
        selection={"scene_ids": [], "splits": [], "only_uncaptioned": True},
        options=JobOptions().as_json(),
        total=10,
    )
    url = reverse("admin:captions_generationjob_change", args=[job.pk])
    page = signed_in(curator)
    assert WARNING in page.get(url).content.decode()
    seen("celery@gpu-1")
    assert WARNING not in page.get(url).content.decode()


@pytest.mark.django_db
def test_anna_and_anonymous_callers_are_refused_the_jobs_page(annotator):
    seen("celery@gpu-1")
    for client in (signed_in(annotator), Client()):
        response = client.get(JOBS_URL)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
        assert "celery@gpu-1" not in response.content.decode()
