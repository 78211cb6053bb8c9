"""The dashboard for a curator at 200,000 captions on PostgreSQL (issue 12).

Target: `GET /` as a curator, p95 <= 200 ms. The world: `make_benchmark_data` with
200,000 captions, half of them verified (reviews spread over the dashboard's last 14
days), the reviews shared among 20 annotators; a second opinion answered on 10% of
the verified captions (by another of the 20: most agree, some disagree, a few
adjudicated) and a gold answer on 2% of the captions. Server time is Django's own
handling of the request (middleware, view, template, queries), in-process with the
test client, DEBUG off, the cache Redis when `--cache-url` answers (as in
production), else the process's memory.

Measured in the same run:

- baseline: every request computes the figures (`FIGURES_FRESH_SECONDS = 0`), what
  the page cost before they were cached;
- cached: one request every `--interval-s` for `--seconds`, longer than the figures
  stay fresh, so the requests that recompute them are in the percentiles at the
  rate a steady visitor meets them;
- each figure on its own, uncached (median of 3), to show where the time goes;
- an annotator's page (their own row, computed on each request).

    python benchmarks/bench_dashboard.py [--captions 200000] [--seconds 150]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import reset_postgres  # noqa: E402

ANNOTATORS = 20

# The 20 annotators and a curator; the benchmark reviewer's reviews shared among the
# 20; second opinions on 10% of the verified captions, gold answers on 2% of all.
QUALITY_SEED = r"""
import json, random, sys
import django
django.setup()
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F
from django.utils import timezone
from verification.models import GoldAnswer, GoldCaption, QaReview, Revision
from verification.roles import ANNOTATOR, CURATOR, ensure_groups

annotators = int(sys.argv[1])
groups = ensure_groups()
users = []
for n in range(annotators):
    user = get_user_model().objects.create_user(f"annotator-{n:02d}", password="x")
    user.groups.add(groups[ANNOTATOR])
    users.append(user.pk)
curator = get_user_model().objects.create_user("bench-curator", password="x",
                                               is_staff=True)
curator.groups.add(groups[CURATOR])
with connection.cursor() as cursor:
    cursor.execute(
        "UPDATE verification_revision SET user_id = (%s::int[])[1 + id %% %s]",
        [users, annotators])
    cursor.execute(
        "UPDATE captions_caption c SET reviewed_by_id = r.user_id "
        "FROM verification_revision r WHERE r.caption_id = c.id")

rng = random.Random(12)
now = timezone.now()
verified = (Revision.objects.filter(action__in=["approve", "edit"])
            .order_by("id").values_list("id", "caption_id", "user_id", "action",
                                        "text_before", "text_after", "created_at"))
qa, gold, answers = [], [], []
for index, (pk, caption, user, action, before, after, at) in enumerate(
        verified.iterator(chunk_size=5000)):
    answered = min(now, at + timedelta(hours=rng.random() * 48))
    second = users[(users.index(user) + 1 + index % (annotators - 1)) % annotators]
    if index % 10 == 0:
        draw = rng.random()
        state = ("agreed" if draw < 0.85 else
                 "disagreed" if draw < 0.95 else "adjudicated")
        agrees = state == "agreed" or draw < 0.9
        qa.append(QaReview(
            caption_id=caption, state=state, shown_text=before, first_revision_id=pk,
            first_reviewer_id=user, first_action=action, first_text=after,
            second_reviewer_id=second, action=action if agrees else "reject",
            text=after, reason="" if agrees else "wrong class",
            seconds_spent=10 + rng.random() * 100, verdict_agrees=agrees,
            text_distance=0.0 if state == "agreed" else 0.4, answered_at=answered))
    elif index % 25 == 1:  # 4% of the verified: 2% of all captions
        gold.append(GoldCaption(caption_id=caption, action=action, text=after,
                                shown_text=before, marked_by=curator))
        right = rng.random() < 0.9
        answers.append((caption, GoldAnswer(
            user_id=second, action=action if right else "reject", text=after,
            reason="" if right else "wrong class",
            seconds_spent=10 + rng.random() * 100, verdict_agrees=right,
            text_distance=rng.random() * 0.3 if action == "edit" else None,
            answered_at=answered)))
QaReview.objects.bulk_create(qa, batch_size=2000)
by_caption = {g.caption_id: g for g in
              GoldCaption.objects.bulk_create(gold, batch_size=2000)}
for caption, answer in answers:
    answer.gold_id = by_caption[caption].pk
GoldAnswer.objects.bulk_create([answer for _, answer in answers], batch_size=2000)
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(json.dumps({"qa_answered": len(qa), "gold_answers": len(answers)}))
"""

MEASURE = r"""
import json, statistics, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from verification import annotator_quality, dashboard, quality

seconds, interval_s, baseline_requests = (
    float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
users = get_user_model().objects
curator, annotator = Client(), Client()
curator.force_login(users.get(username="bench-curator"))
annotator.force_login(users.get(username="annotator-00"))

def forget_figures():
    # Only the dashboard's keys: the cache's database may serve others.
    for kind in (dashboard.SHARED_FIGURES, dashboard.CURATOR_FIGURES):
        cache.delete_many([dashboard.figures_key(kind),
                           dashboard.figures_key(kind) + ":computing"])

forget_figures()

def timed(client):
    started = time.perf_counter()
    response = client.get("/")
    took = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    return took, response

def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

def summary(values):
    return {"requests": len(values), "p50_ms": pct(values, 0.5),
            "p95_ms": pct(values, 0.95), "max_ms": max(values)}

def median_ms(function):
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        function()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)

since = timezone.now() - dashboard.WINDOW
parts = {
    "dataset_progress": dashboard.dataset_progress,
    "annotator_numbers": lambda: dashboard.annotator_numbers(),
    "annotator_quality": lambda: annotator_quality.annotator_quality(since=since),
    "verified_class_distribution": dashboard.verified_class_distribution,
    "prompt_quality": quality.prompt_quality,
    "ab_comparisons": quality.ab_comparisons,
}
timings = {name: median_ms(function) for name, function in parts.items()}

timed(curator)  # warm-up: the first request loads templates and URL patterns
fresh = dashboard.FIGURES_FRESH_SECONDS
dashboard.FIGURES_FRESH_SECONDS = 0
baseline = [timed(curator)[0] for _ in range(baseline_requests)]
dashboard.FIGURES_FRESH_SECONDS = fresh
forget_figures()

cached, recomputed, body = [], 0, b""
end = time.monotonic() + seconds
while time.monotonic() < end:
    stamp = cache.get(dashboard.figures_key(dashboard.CURATOR_FIGURES))
    took, response = timed(curator)
    cached.append(took)
    after = cache.get(dashboard.figures_key(dashboard.CURATOR_FIGURES))
    recomputed += stamp is None or stamp["as_of"] != after["as_of"]
    body = response.content
    time.sleep(interval_s)
own = [timed(annotator)[0] for _ in range(baseline_requests)]
print(json.dumps({
    "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[1],
    "fresh_seconds": fresh,
    "interval_s": interval_s, "seconds": seconds,
    "baseline": summary(baseline), "cached": {**summary(cached),
                                              "recomputed": recomputed},
    "annotator": summary(own), "parts_ms": timings,
    "page_bytes": len(body), "as_of_shown": b"as of" in body,
}))
"""


def environment(database_url: str, cache_url: str | None) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "ERROR",
        "MEDIA_ROOT": str(ROOT / "var" / "bench-dashboard-media"),
        # DEBUG off needs the folders ingest may read; none is read here.
        "INGEST_ROOTS": "/nonexistent/benchmark-imagery",
    }
    env.pop("CACHE_URL", None)
    if cache_url:
        env["CACHE_URL"] = cache_url
    return env


def python(env: dict, *arguments: str) -> str:
    run = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT, env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"{arguments[:2]} failed:\n{run.stderr[-3000:]}")
    return run.stdout


def fill(env: dict, captions: int) -> dict:
    """A fresh database: the benchmark data, then the annotators, QA and gold."""
    reset_postgres(env["DATABASE_URL"])
    python(env, "manage.py", "migrate", "--noinput", "-v", "0")
    python(env, "manage.py", "make_benchmark_data", "--patches", str(captions),
           "--verified-fraction", "0.5", "--no-progress", "--replace")  # fmt: skip
    seeded = python(env, "-c", QUALITY_SEED, str(ANNOTATORS))
    return json.loads(seeded.strip().splitlines()[-1])


def cache_answers(url: str) -> bool:
    probe = subprocess.run(
        ["redis-cli", "-u", url, "ping"], capture_output=True, check=False
    )
    return probe.returncode == 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_dashboard"
    )
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--captions", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--interval-s", type=float, default=0.25)
    parser.add_argument("--baseline-requests", type=int, default=40)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = _arguments(argv)
    cache_url = args.cache_url if cache_answers(args.cache_url) else None
    env = environment(args.database_url, cache_url)
    started = time.perf_counter()
    world = fill(env, args.captions)
    filled_s = time.perf_counter() - started
    measured = python(
        env, "-c", MEASURE, str(args.seconds), str(args.interval_s),
        str(args.baseline_requests),
    )  # fmt: skip
    return {
        "captions": args.captions,
        "annotators": ANNOTATORS,
        **world,
        "fill_seconds": round(filled_s, 1),
        **json.loads(measured.strip().splitlines()[-1]),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
