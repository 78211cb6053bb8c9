"""/metrics: Prometheus' view of the site (docs/operations.md lists every metric).

Two sources. django-prometheus' middlewares time each request by view, in the
process that served it. Everything else is read from the database when Prometheus
asks (`SiteFiguresCollector`): captions, queues, claims, jobs, workers and the LLM's
use per model. Every web process shares the one database, so each reports the same
figures, and workers need no metrics server of their own.

Only Prometheus may ask: a request with `Authorization: Bearer <METRICS_TOKEN>`, or
one from an address in METRICS_ALLOWED_IPS (the connection's own, never a header a
client can write).
"""

import datetime as dt
import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from captions.models import Caption, GenerationJob
from captions.workers import live_worker_count
from verification.models import GoldCaption, QaReview
from verification.queue import free, held

SAFE_METHODS = ("GET", "HEAD")
# Prometheus scrapes every 15-60 s, from one server or two; the figures cost a few
# indexed counts, and within this long every scrape of a process shares them.
FIGURES_FRESH_FOR_S = 5.0


@dataclass(frozen=True)
class ModelUsage:
    model: str
    requests: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass(frozen=True)
class SiteFigures:
    captions: dict[str, int]
    queue_depth: dict[str, int]
    claims_held: dict[str, int]
    jobs: dict[str, int]
    live_workers: int
    models: list[ModelUsage]


def _counts_by(queryset, field: str, choices: list[str]) -> dict[str, int]:
    """Rows per value of `field`, every choice present (0 when none)."""
    counts = dict.fromkeys(choices, 0)
    for value, count in (
        queryset.order_by().values_list(field).annotate(count=Count("*"))
    ):
        counts[value] = count
    return counts


def site_figures(now: dt.datetime) -> SiteFigures:
    """The figures of the whole site, in seven grouped counts over indexed columns."""
    captions = _counts_by(Caption.objects, "status", Caption.Status.values)
    qa = QaReview.objects.filter(state=QaReview.State.OPEN).aggregate(
        open=Count("*"), held=Count("pk", filter=held(now))
    )
    gold = GoldCaption.objects.filter(active=True).aggregate(
        free=Count("pk", filter=free(now)),
        held=Count("pk", filter=held(now)),
    )
    captions_held = Caption.objects.filter(
        held(now), status=Caption.Status.PENDING
    ).count()
    usage = (
        GenerationJob.objects.order_by()
        .values_list("model")
        .annotate(
            done=Sum("done"),
            failed=Sum("failed"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost=Sum("actual_cost"),
        )
        .order_by("model")
    )
    return SiteFigures(
        captions=captions,
        queue_depth={
            "caption": captions[Caption.Status.PENDING],
            "qa": qa["open"],
            "gold": gold["free"],
        },
        claims_held={"caption": captions_held, "qa": qa["held"], "gold": gold["held"]},
        jobs=_counts_by(GenerationJob.objects, "status", GenerationJob.Status.values),
        live_workers=live_worker_count(),
        models=[
            ModelUsage(
                model=model,
                requests=done + failed,
                errors=failed,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
            )
            for model, done, failed, tokens_in, tokens_out, cost in usage
        ],
    )


class SiteFiguresCollector(Collector):
    """The database's figures as gauges, read at most every FIGURES_FRESH_FOR_S.

    The LLM figures are sums over the jobs in the database: a retried job starts its
    failed count again and a deleted job takes its figures with it, so they are
    gauges, not counters (a counter that falls reads as a reset).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: SiteFigures | None = None
        self._read_at = 0.0

    def forget(self) -> None:
        with self._lock:
            self._figures = None

    def figures(self) -> SiteFigures:
        with self._lock:
            stale = time.monotonic() - self._read_at > FIGURES_FRESH_FOR_S
            if self._figures is None or stale:
                self._figures = site_figures(timezone.now())
                self._read_at = time.monotonic()
            return self._figures

    def collect(self) -> Iterator[Metric]:
        return _families(self.figures())

    def describe(self) -> Iterator[Metric]:
        # What the registry asks when it registers the collector: the names, read
        # without the database (it may not be there yet at import).
        return _families(SiteFigures({}, {}, {}, {}, 0, []))


def _families(figures: SiteFigures) -> Iterator[Metric]:
    yield _by_label(
        "chatearthnet_captions", "Captions by status.", "status", figures.captions
    )
    yield _by_label(
        "chatearthnet_queue_depth",
        "Review work waiting: pending captions, open QA reviews, active gold "
        "captions nobody holds.",
        "kind",
        figures.queue_depth,
    )
    yield _by_label(
        "chatearthnet_claims_held",
        "Queue items someone holds now (an unexpired claim), by kind.",
        "kind",
        figures.claims_held,
    )
    yield _by_label(
        "chatearthnet_jobs", "Generation jobs by status.", "status", figures.jobs
    )
    yield GaugeMetricFamily(
        "chatearthnet_workers_live",
        "Celery workers whose heartbeat is fresh (WORKER_HEARTBEAT_MAX_AGE_S).",
        value=figures.live_workers,
    )
    yield from _llm_usage(figures.models)


def _by_label(
    name: str, documentation: str, label: str, values: dict[str, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in values.items():
        family.add_metric([value], count)
    return family


def _llm_usage(models: list[ModelUsage]) -> Iterator[GaugeMetricFamily]:
    requests = GaugeMetricFamily(
        "chatearthnet_llm_requests",
        "LLM requests that ended in a caption or a failure, over the jobs in the "
        "database, by the job's model.",
        labels=["model"],
    )
    errors = GaugeMetricFamily(
        "chatearthnet_llm_request_errors",
        "LLM requests that failed (no caption), by the job's model.",
        labels=["model"],
    )
    tokens = GaugeMetricFamily(
        "chatearthnet_llm_tokens",
        "Tokens sent (in) and received (out), by the job's model.",
        labels=["model", "direction"],
    )
    cost = GaugeMetricFamily(
        "chatearthnet_llm_cost_usd",
        "What the LLM requests cost in USD at the jobs' prices, by the job's model.",
        labels=["model"],
    )
    for usage in models:
        requests.add_metric([usage.model], usage.requests)
        errors.add_metric([usage.model], usage.errors)
        tokens.add_metric([usage.model, "in"], usage.tokens_in)
        tokens.add_metric([usage.model, "out"], usage.tokens_out)
        cost.add_metric([usage.model], usage.cost_usd)
    yield from (requests, errors, tokens, cost)


SITE_FIGURES = SiteFiguresCollector()
# With PROMETHEUS_MULTIPROC_DIR set (several gunicorn processes behind one port) the
# request metrics live in files that each scrape reads together; otherwise in this
# process's default registry, which the database's figures join once.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if not MULTIPROCESS:
    REGISTRY.register(SITE_FIGURES)


def _registry() -> CollectorRegistry:
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(SITE_FIGURES)
    return registry


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_IPS)


def _refused(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(
        f"{reason}\n", status=status, content_type="text/plain; charset=utf-8"
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    if status == 405:
        response["Allow"] = ", ".join(SAFE_METHODS)
    add_never_cache_headers(response)
    return response


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text exposition, to the token's holder or an allowed address."""
    if request.method not in SAFE_METHODS:
        return _refused(405, "method not allowed: use GET or HEAD")
    token = _bearer_token(request)
    expected = settings.METRICS_TOKEN
    token_right = bool(token and expected) and hmac.compare_digest(
        (token or "").encode(), expected.encode()
    )
    if not (token_right or _address_allowed(request)):
        if token is not None:
            reason = "wrong metrics token" if expected else "no token is accepted"
            return _refused(401, reason)
        return _refused(403, "metrics are for Prometheus only")
    body = b"" if request.method == "HEAD" else generate_latest(_registry())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    add_never_cache_headers(response)
    return response
