"""The review queue through a real multi-process server (issue 4).

Same targets as bench_review.py, measured the way annotators meet them: gunicorn with
several worker processes on loopback, PostgreSQL, and 20 annotators as client threads
in this process, each with their own session, claiming the next caption, opening its
page and approving it, with a pause between items as a person would take. Latency is
measured twice: at the client (loopback HTTP included, an upper bound) and as the
server's own time, which every response reports in its Server-Timing header
(chatearthnet_site/middleware.py). Each annotator's first two items are left out of
the percentiles (they meet server processes still loading Django), not out of the
duplicate count.

    python benchmarks/bench_review_http.py [--captions 200000] [--claims 10000]
"""

import argparse
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import SEED, reset_postgres  # noqa: E402

WARM_UP_ITEMS = 2

# With second opinions and gold (issue 12): a third of the captions verified before
# the run by a reviewer outside the 20, a `qa_rate` share of those open for a second
# opinion and a `gold_rate` share of all captions gold; the run's own approvals add
# QA reviews at `qa_rate`, and annotators get gold at `gold_rate`.
QUALITY_SEED = r"""
from verification.models import GoldCaption, QaReview, QualitySettings, Revision
from verification.blind import qa_draw
QualitySettings.objects.create(qa_rate=qa_rate, gold_rate=gold_rate)
if qa_rate or gold_rate:
    first = get_user_model().objects.create_user("first-reviewer", password="x")
    ids = list(Caption.objects.order_by("pk").values_list("pk", flat=True))[::3]
    gold_ids = set(ids[: int(gold_rate * count)])
    for start in range(0, len(ids), 10000):
        chunk = ids[start:start + 10000]
        Caption.objects.filter(pk__in=chunk).update(
            status="approved", version=2, reviewed_by=first)
        revisions = Revision.objects.bulk_create(
            [Revision(caption_id=pk, user=first, action="approve",
                      status_before="pending", status_after="approved",
                      text_before=text, text_after=text, version_after=2)
             for pk in chunk])
        QaReview.objects.bulk_create(
            [QaReview(caption_id=r.caption_id, shown_text=text, first_revision=r,
                      first_reviewer=first, first_action="approve", first_text=text)
             for r in revisions
             if r.caption_id not in gold_ids and qa_draw(r.caption_id) < qa_rate])
        GoldCaption.objects.bulk_create(
            [GoldCaption(caption_id=pk, action="approve", text=text, shown_text=text,
                         marked_by=first)
             for pk in chunk if pk in gold_ids])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
"""


SETUP = (
    r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from captions.models import Caption, Patch, Scene
from verification.roles import ANNOTATOR, ensure_groups

count, annotators = int(sys.argv[1]), int(sys.argv[2])
qa_rate, gold_rate = float(sys.argv[3]), float(sys.argv[4])
"""
    + SEED
    + QUALITY_SEED
    + r"""
group = ensure_groups()[ANNOTATOR]
keys = []
for n in range(annotators):
    user = get_user_model().objects.create_user(f"a{n}", password="x")
    user.groups.add(group)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps(keys))
"""
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """One annotator's connection, keeping its session and CSRF cookies."""

    def __init__(self, port: int, session_key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {"sessionid": session_key}

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        all_headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        self.connection.request(method, path, body=body, headers=all_headers)
        response = self.connection.getresponse()
        payload = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            match = re.match(r"(csrftoken|sessionid)=([^;]+)", header)
            if match:
                self.cookies[match.group(1)] = match.group(2)
        return response, payload


def server_ms(response) -> float:
    timing = re.search(r"dur=([\d.]+)", response.headers.get("Server-Timing", ""))
    assert timing, "no Server-Timing header"
    return float(timing.group(1))


def annotator(
    port: int, session_key: str, items: int, think_s: float, out: dict
) -> None:
    browser = Browser(port, session_key)
    for item in range(items):
        started = time.perf_counter()
        response, _ = browser.request("GET", "/review/next/")
        caption_id = int(response.headers["Location"].split("/")[2])
        page, html = browser.request("GET", f"/review/{caption_id}/")
        claimed = time.perf_counter()
        assert page.status == 200, page.status
        version = int(re.search(rb'"version": (\d+)', html).group(1))  # type: ignore[union-attr]
        before = time.perf_counter()
        answer, _ = browser.request(
            "POST", f"/review/{caption_id}/action/",
            body=json.dumps({"action": "approve", "version": version}).encode(),
            headers={"Content-Type": "application/json",
                     "X-CSRFToken": browser.cookies.get("csrftoken", "")},
        )  # fmt: skip
        done = time.perf_counter()
        assert answer.status == 200, answer.status
        out["ids"].append(caption_id)
        # Held for sure from the claim's answer to the save's request: two such
        # spans of one caption that overlap are two holders at once.
        out["spans"].append((caption_id, claimed, before, session_key))
        if item >= WARM_UP_ITEMS:  # a server process's first requests load Django
            out["claim_ms"].append((claimed - started) * 1000)
            out["approve_ms"].append((done - before) * 1000)
            out["claim_server_ms"].append(server_ms(response) + server_ms(page))
            out["approve_server_ms"].append(server_ms(answer))
        time.sleep(think_s)


def two_holders(spans: list[tuple[int, float, float, str]]) -> int:
    """Captions two annotators held at once: one's span (from the claim's answer to
    the save's request, inside the time they held it) overlaps another's. With QA
    and gold a caption may come back to someone else later (a second opinion, a gold
    answer); never at once."""
    by_caption: dict[int, list[tuple[float, float, str]]] = {}
    for caption_id, start, end, who in spans:
        by_caption.setdefault(caption_id, []).append((start, end, who))
    clashes = 0
    for held in by_caption.values():
        held.sort()
        for (_, end, who), (start, _, other) in itertools.pairwise(held):
            clashes += start < end and who != other
    return clashes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_review"
    )
    parser.add_argument("--captions", type=int, default=200_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--think-s", type=float, default=1.0)
    parser.add_argument("--server-processes", type=int, default=4)
    parser.add_argument("--qa-rate", type=float, default=0.0)
    parser.add_argument("--gold-rate", type=float, default=0.0)
    return parser.parse_args(argv)


def _server_environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key",
        # DEBUG off needs the folders ingest may read; none is read here.
        "INGEST_ROOTS": "/nonexistent/benchmark-imagery",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "ERROR",
    }


def _wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def _annotate(
    port: int, keys: list[str], args: argparse.Namespace
) -> tuple[dict, float]:
    """Every annotator at once, each in a thread; the timings and the wall time."""
    out: dict = {
        "claim_ms": [], "approve_ms": [], "ids": [], "spans": [],
        "claim_server_ms": [], "approve_server_ms": [],
    }  # fmt: skip
    per = args.claims // args.annotators
    threads = [
        threading.Thread(target=annotator, args=(port, key, per, args.think_s, out))
        for key in keys
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    args = _arguments(argv)
    reset_postgres(args.database_url)
    env = _server_environment(args.database_url)
    keys = json.loads(
        subprocess.run(
            [sys.executable, "-c", SETUP, str(args.captions), str(args.annotators),
             str(args.qa_rate), str(args.gold_rate)],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "chatearthnet_site.wsgi",
         "-w", str(args.server_processes), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(port)
        out, seconds = _annotate(port, keys, args)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return {
        "captions": args.captions,
        "annotators": args.annotators,
        "server_processes": args.server_processes,
        "think_s": args.think_s,
        "qa_rate": args.qa_rate,
        "gold_rate": args.gold_rate,
        "claims": len(out["ids"]),
        "duplicates": two_holders(out["spans"]),
        "served_again": sum(1 for n in Counter(out["ids"]).values() if n > 1),
        "seconds": seconds,
        **{
            f"{name}_{q}_ms": percentile(out[key], level)
            for name, key in (
                ("claim_page", "claim_ms"),
                ("approve", "approve_ms"),
                ("server_claim_page", "claim_server_ms"),
                ("server_approve", "approve_server_ms"),
            )
            for q, level in (("p50", 0.5), ("p95", 0.95))
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
