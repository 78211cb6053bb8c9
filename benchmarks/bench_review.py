"""The review queue under load on PostgreSQL (issue 4).

Targets, with 200,000 captions and 20 annotators working at once: claim-next plus the
review page, server time p95 <= 50 ms; an approve round trip p95 <= 50 ms; 10,000
concurrent claims give zero duplicates. Server time is measured around Django's own
request handling (middleware, view, template, database) in-process, with 20 threads
each logged in as its own annotator; network and browser time are not in it.

The baseline, measured in the same run, is the same work on a queue of 20,000
captions: the ratio shows whether the queue stays flat as the dataset grows.

    python benchmarks/bench_review.py [--database-url URL] [--sizes 20000,200000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEED = r"""
stats = {"height": 256, "width": 256, "valid_pixels": 65536,
         "overall": [
             {"code": 10, "name": "tree", "pixels": 40000, "fraction": 0.6104},
             {"code": 80, "name": "water", "pixels": 25536, "fraction": 0.3896}],
         "regions": {name: [{"code": 10, "name": "tree", "pixels": 16384,
                             "fraction": 1.0}]
                     for name in ("top_left", "top_right", "bottom_left",
                                  "bottom_right", "middle")}}
scene = Scene.objects.create(name="bench", source_kind="geotiff", image_path="/b.tif",
                             status="ready")
text = ("Tree cover fills most of the image, above all in the upper half, while water "
        "lies along the bottom. The top left is a large portion of trees.")
for start in range(0, count, 10000):
    n = min(10000, count - start)
    patches = Patch.objects.bulk_create(
        [Patch(scene=scene, row_off=(start + i) * 256, col_off=0, width=256, height=256,
               rgb_preview=f"b/{start + i}.webp",
               landcover_preview=f"b/{start + i}.png",
               landcover=stats, invalid_fraction=0.0, split="train")
         for i in range(n)])
    Caption.objects.bulk_create(
        [Caption(patch=p, source="bench", generated_text=text, text=text,
                 failed_checks=(1 if (start + i) % 7 == 0 else 0))
         for i, p in enumerate(patches)])
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
"""

WORK = (
    r"""
import json, os, sys, threading, time
from collections import Counter
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from django.test import Client
from captions.models import Caption, Patch, Scene
from verification.roles import ANNOTATOR, ensure_groups
from django.contrib.auth import get_user_model

count, annotators, claims = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
think_s = float(sys.argv[4])
"""
    + SEED
    + r"""
group = ensure_groups()[ANNOTATOR]
users = []
for n in range(annotators):
    user = get_user_model().objects.create_user(f"a{n}", password="x")
    user.groups.add(group)
    users.append(user)

claim_ms, approve_ms, claimed = [], [], []
lock = threading.Lock()
per_user = claims // annotators
start_together = threading.Barrier(annotators)

def work(user):
    client = Client()
    client.force_login(user)
    mine_claim, mine_approve, mine_ids = [], [], []
    start_together.wait()
    for _ in range(per_user):
        t0 = time.perf_counter()
        response = client.get("/review/next/")
        caption_id = int(response["Location"].split("/")[2])
        page = client.get(f"/review/{caption_id}/")
        t1 = time.perf_counter()
        assert page.status_code == 200, page.status_code
        version = Caption.objects.values_list("version", flat=True).get(pk=caption_id)
        t2 = time.perf_counter()
        answer = client.post(f"/review/{caption_id}/action/",
                             data=json.dumps({"action": "approve", "version": version}),
                             content_type="application/json")
        t3 = time.perf_counter()
        assert answer.status_code == 200, answer.content
        mine_claim.append((t1 - t0) * 1000)
        mine_approve.append((t3 - t2) * 1000)
        mine_ids.append(caption_id)
        time.sleep(think_s)  # reading the page; a person takes seconds
    connection.close()
    with lock:
        claim_ms.extend(mine_claim); approve_ms.extend(mine_approve)
        claimed.extend(mine_ids)

threads = [threading.Thread(target=work, args=(u,)) for u in users]
t = time.perf_counter()
for thread in threads: thread.start()
for thread in threads: thread.join()
elapsed = time.perf_counter() - t

def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]

duplicates = sum(1 for n in Counter(claimed).values() if n > 1)
print(json.dumps({"captions": count, "annotators": annotators, "claims": len(claimed),
                  "think_s": think_s,
                  "duplicates": duplicates, "seconds": elapsed,
                  "claim_page_p50_ms": pct(claim_ms, 0.5),
                  "claim_page_p95_ms": pct(claim_ms, 0.95),
                  "approve_p50_ms": pct(approve_ms, 0.5),
                  "approve_p95_ms": pct(approve_ms, 0.95)}))
"""
)


def reset_postgres(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    for statement in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin_url, "-qc", statement], check=True)


def measure(
    database_url: str, count: int, annotators: int, claims: int, think_s: float
) -> dict:
    reset_postgres(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "LOG_LEVEL": "ERROR",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key",
        # DEBUG off needs the folders ingest may read; none is read here.
        "INGEST_ROOTS": "/nonexistent/benchmark-imagery",
        "ALLOWED_HOSTS": "testserver",
    }
    run = subprocess.run(
        [sys.executable, "-c", WORK, str(count), str(annotators), str(claims),
         str(think_s)],
        cwd=ROOT, env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"the measurement failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_review"
    )
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--claims", type=int, default=10000)
    parser.add_argument("--think-s", type=float, default=0.05)
    args = parser.parse_args(argv)
    results = {}
    for size in (int(size) for size in args.sizes.split(",")):
        results[str(size)] = measure(
            args.database_url, size, args.annotators, args.claims, args.think_s
        )
        print(size, json.dumps(results[str(size)]), flush=True)
    sizes = sorted(results, key=int)
    small, large = results[sizes[0]], results[sizes[-1]]
    results["flatness_p95"] = large["claim_page_p95_ms"] / small["claim_page_p95_ms"]
    results["median_of_p50s"] = statistics.median(
        r["claim_page_p50_ms"] for k, r in results.items() if k.isdigit()
    )
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
