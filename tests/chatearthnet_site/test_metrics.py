"""/metrics: Prometheus' figures, for the token's holder or an allowed address only.

Prometheus scrapes with the token (`Authorization: Bearer …`) or from the monitoring
network (10.9.0.0/24 here). A visitor from elsewhere is refused, whatever
X-Forwarded-For claims; a wrong token is told so. The figures are the database's:
rows made here come back counted.
"""

import datetime as dt
import ipaddress

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from captions.models import Caption, GenerationJob, Patch, WorkerHeartbeat
from captions.workers import worker_heartbeat_record
from chatearthnet_site.metrics import SITE_FIGURES
from tests.api_data import (
    hand_to,
    make_caption,
    make_job,
    make_patch,
    make_scene,
    two_class_codes,
)
from tests.chatearthnet_site.test_settings import settings_in_subprocess
from verification.models import GoldCaption, QaReview

TOKEN = "prometheus-scrape-token-0123456789"
MONITORING = "10.9.0.7"  # in METRICS_ALLOWED_IPS
OUTSIDER = "203.0.113.50"  # not


@pytest.fixture(autouse=True)
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.9.0.0/24")]
    SITE_FIGURES.forget()
    yield
    SITE_FIGURES.forget()


def job_of(model: str, status: str, **counts) -> None:
    job = make_job(status, **counts)
    GenerationJob.objects.filter(pk=job.pk).update(model=model)


def scrape(**headers) -> dict[tuple[str, frozenset], float]:
    response = Client(REMOTE_ADDR=OUTSIDER).get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


# --- who may ask ------------------------------------------------------------------


def test_an_anonymous_visitor_from_elsewhere_is_refused():
    response = Client(REMOTE_ADDR=OUTSIDER).get("/metrics")
    assert response.status_code == 403
    assert b"chatearthnet" not in response.content


def test_a_forwarded_for_header_naming_an_allowed_address_changes_nothing():
    client = Client(REMOTE_ADDR=OUTSIDER)
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR=MONITORING)
    assert response.status_code == 403


def test_a_wrong_token_is_a_401_however_close_to_the_right_one():
    client = Client(REMOTE_ADDR=OUTSIDER)
    for wrong in (TOKEN[:-1], TOKEN + "x", "", TOKEN.upper()):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {wrong}")
        assert response.status_code == 401, wrong
        assert response["WWW-Authenticate"].startswith("Bearer")
    # The token in another scheme is no bearer token.
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    assert response.status_code == 403


def test_with_no_token_configured_no_token_opens_it(settings):
    settings.METRICS_TOKEN = ""
    client = Client(REMOTE_ADDR=OUTSIDER)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == (
        401
    )


@pytest.mark.django_db
def test_the_right_token_gets_the_figures():
    samples = scrape()
    assert value(samples, "chatearthnet_captions", status="pending") == 0


@pytest.mark.django_db
def test_an_allowed_address_needs_no_token():
    response = Client(REMOTE_ADDR=MONITORING).get("/metrics")
    assert response.status_code == 200
    assert b"chatearthnet_queue_depth" in response.content
    # An address in no allowed network, IPv6 included.
    assert Client(REMOTE_ADDR="10.9.1.7").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 403


def test_only_get_and_head_are_answered():
    client = Client(REMOTE_ADDR=MONITORING)
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)("/metrics")
        assert response.status_code == 405, method
        assert response["Allow"] == "GET, HEAD"
    head = client.head("/metrics")
    assert head.status_code == 200
    assert head.content == b""


# --- what it says -----------------------------------------------------------------


@pytest.fixture
def site(media_root, annotator, curator):
    """Three pending captions (Anna holds one), two approved (one has an open QA
    review Cora holds, the other is gold nobody holds); three jobs under two models;
    one live worker and one long dead."""
    scene = make_scene("S2A_METRICS")
    codes = two_class_codes(10, 80)
    patches = [
        make_patch(scene, media_root, codes, row_off=32 * i, split=Patch.Split.TRAIN)
        for i in range(5)
    ]
    captions = [make_caption(patch, "Trees and water.") for patch in patches]
    approved = captions[3:]
    Caption.objects.filter(pk__in=[c.pk for c in approved]).update(
        status=Caption.Status.APPROVED
    )
    hand_to(captions[0], annotator)
    QaReview.objects.create(
        caption=approved[0], shown_text="Trees and water.", first_reviewer=curator,
        first_action="approve", first_text="Trees and water.", claimed_by=annotator,
        claim_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip
    GoldCaption.objects.create(
        caption=approved[1], action="approve", text="Trees.", shown_text="Trees.",
        claimed_by=annotator, claim_expires_at=timezone.now() - dt.timedelta(hours=1),
    )  # fmt: skip
    job_of(
        "gpt-4o-mini", GenerationJob.Status.FINISHED, done=40, failed=2,
        tokens_in=50_000, tokens_out=8_000, actual_cost=0.0123,
    )  # fmt: skip
    job_of(
        "gpt-4o-mini", GenerationJob.Status.RUNNING, done=10, failed=3,
        tokens_in=10_000, tokens_out=2_000, actual_cost=0.0027,
    )  # fmt: skip
    job_of("llava-13b", GenerationJob.Status.QUEUED)
    now = timezone.now()
    worker_heartbeat_record(hostname="celery@alive", pid=1, started_at=now)
    worker_heartbeat_record(hostname="celery@dead", pid=2, started_at=now)
    WorkerHeartbeat.objects.filter(hostname="celery@dead").update(
        last_seen=now - dt.timedelta(hours=1)
    )


def test_captions_queues_and_claims_are_counted(site):
    samples = scrape()
    assert value(samples, "chatearthnet_captions", status="pending") == 3
    assert value(samples, "chatearthnet_captions", status="approved") == 2
    assert value(samples, "chatearthnet_captions", status="rejected") == 0
    assert value(samples, "chatearthnet_queue_depth", kind="caption") == 3
    assert value(samples, "chatearthnet_queue_depth", kind="qa") == 1
    # The gold caption's claim ran out an hour ago: it is free again.
    assert value(samples, "chatearthnet_queue_depth", kind="gold") == 1
    assert value(samples, "chatearthnet_claims_held", kind="caption") == 1
    assert value(samples, "chatearthnet_claims_held", kind="qa") == 1
    assert value(samples, "chatearthnet_claims_held", kind="gold") == 0


def test_jobs_workers_and_llm_use_per_model_are_counted(site):
    samples = scrape()
    assert value(samples, "chatearthnet_jobs", status="finished") == 1
    assert value(samples, "chatearthnet_jobs", status="running") == 1
    assert value(samples, "chatearthnet_jobs", status="queued") == 1
    assert value(samples, "chatearthnet_jobs", status="failed") == 0
    assert value(samples, "chatearthnet_workers_live") == 1
    mini = {"model": "gpt-4o-mini"}
    assert value(samples, "chatearthnet_llm_requests", **mini) == 55
    assert value(samples, "chatearthnet_llm_request_errors", **mini) == 5
    assert value(samples, "chatearthnet_llm_tokens", **mini, direction="in") == 60_000
    assert value(samples, "chatearthnet_llm_tokens", **mini, direction="out") == 10_000
    assert value(samples, "chatearthnet_llm_cost_usd", **mini) == pytest.approx(0.015)
    assert value(samples, "chatearthnet_llm_requests", model="llava-13b") == 0


def test_the_figures_take_a_few_grouped_queries(site, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        SITE_FIGURES.figures()
    # Read again within FIGURES_FRESH_FOR_S: no query at all.
    with django_assert_max_num_queries(0):
        SITE_FIGURES.figures()


@pytest.mark.django_db
def test_a_views_request_latency_is_measured_by_view_name():
    def served(samples: dict) -> float:
        name = "django_http_requests_latency_seconds_by_view_method_count"
        labels = frozenset({"view": "healthz", "method": "GET"}.items())
        return samples.get((name, labels), 0)

    before = served(scrape())
    assert Client().get("/healthz").status_code == 200
    assert served(scrape()) == before + 1


# --- settings ---------------------------------------------------------------------


def test_a_malformed_allowed_address_stops_the_settings():
    loaded = settings_in_subprocess(METRICS_ALLOWED_IPS="10.0.0.0/8, 10.0.0.300")
    assert loaded.returncode != 0
    assert "METRICS_ALLOWED_IPS: '10.0.0.300' is not an IP address or network" in (
        loaded.stderr
    )


def test_allowed_addresses_are_read_and_loopback_is_only_a_development_default():
    code = "print(sorted(map(str, settings.METRICS_ALLOWED_IPS)))"
    loaded = settings_in_subprocess(
        code, METRICS_ALLOWED_IPS="10.0.0.0/8, 192.0.2.4, fd00::/8"
    )
    assert loaded.stdout.strip() == "['10.0.0.0/8', '192.0.2.4/32', 'fd00::/8']"
    loaded = settings_in_subprocess(code)
    assert loaded.stdout.strip() == "['127.0.0.1/32', '::1/128']"
    production = {
        "SECRET_KEY": "a-production-key-that-is-long-and-random-enough-0123456789",
        "INGEST_ROOTS": "/srv/imagery",
    }
    loaded = settings_in_subprocess(code, debug="0", **production)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_with_a_shared_folder_each_scrape_reads_it_and_the_database(
    site, monkeypatch, tmp_path
):
    # What gunicorn's processes write there (PROMETHEUS_MULTIPROC_DIR): a counter
    # file as prometheus_client's multiprocess mode leaves it.
    from prometheus_client import values
    from prometheus_client.metrics import Counter

    from chatearthnet_site import metrics

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 4242))
    Counter("studio_probe_served", "A counter of another process.", registry=None).inc(
        3
    )
    monkeypatch.setattr(metrics, "MULTIPROCESS", True)
    samples = scrape()
    assert value(samples, "studio_probe_served_total") == 3
    assert value(samples, "chatearthnet_captions", status="pending") == 3
