"""A batch job of 10,000 requests, planned, uploaded and ingested (issue 13, item 5).

Target: <= 60 s of the product's own time against the loopback server. The steps run
in one process, one after the other, as the workers and Celery beat run them
(captions/generation/batches.py): the launch plans the job (its batches), the
submission writes the JSONL and uploads it and creates the batch, the polls ask about
it, the ingest reads the results into captions. The product's own time is the wall
time of those steps less what the loopback server spent on them (parsing the upload,
running the 10,000 requests when the batch ends: `FakeOpenAI.batch_api_s`); the wait
between polls (Celery beat's interval, the provider's hours) is not in it.

Baseline, same run, same database: the same 10,000 patches as an online job, every
chunk run in one process (32 requests in flight) against the same server answering
at once.

    python benchmarks/bench_batch.py [--database-url URL] [--requests 10000]
"""

import argparse
import http.server
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_generation import SETUP, environment, python  # noqa: E402

from tests.fake_openai import BatchScript, FakeOpenAI  # noqa: E402

KEY = "sk-bench"
TARGET_S = 60.0

MEASURE = r"""
import json, sys, time, django
django.setup()
from captions.generation.batches import batch_ingest, batch_submit, batches_poll
from captions.generation.jobs import job_launch
from captions.generation.options import JobOptions, Selection
from captions.generation.runner import job_run_chunk
from captions.models import Caption, LLMBatch
import urllib.request

def server_s():
    return float(urllib.request.urlopen(sys.argv[1]).read())

def launch(batch):
    return job_launch(
        selection=Selection(only_uncaptioned=False), backend="openai",
        model="gpt-3.5-turbo", template="chatearthnet-text", endpoint="fake",
        options=JobOptions(batch=batch, chunk_size=500, in_flight_per_worker=32),
    )

steps = {}
server_before = server_s()
start = time.perf_counter()
job = launch(batch=True)
steps["plan_s"] = time.perf_counter() - start
mark = time.perf_counter()
for batch_id in job.batches.values_list("pk", flat=True):
    batch_submit(batch_id=batch_id)
steps["write_upload_create_s"] = time.perf_counter() - mark
mark = time.perf_counter()
polls = 0
while job.batches.filter(status__in=LLMBatch.OPEN).exists():
    batches_poll(min_interval_s=0)
    polls += 1
steps["poll_s"] = time.perf_counter() - mark
mark = time.perf_counter()
for batch_id in job.batches.values_list("pk", flat=True):
    batch_ingest(batch_id=batch_id)
steps["ingest_s"] = time.perf_counter() - mark
wall = time.perf_counter() - start
server = server_s() - server_before
job.refresh_from_db()
result = {
    "requests": job.total, "done": job.done, "failed": job.failed,
    "status": job.status, "batches": job.batches.count(), "polls": polls,
    "input_bytes": sum(job.batches.values_list("input_bytes", flat=True)),
    "wall_s": wall, "server_s": server, "product_s": wall - server, **steps,
    "actual_cost": job.actual_cost, "estimated_cost": job.estimated_cost,
}
start = time.perf_counter()
online = launch(batch=False)
for index in online.chunks.order_by("index").values_list("index", flat=True):
    job_run_chunk(job_id=online.pk, index=index)
online.refresh_from_db()
result["online"] = {
    "seconds": time.perf_counter() - start, "done": online.done,
    "status": online.status, "actual_cost": online.actual_cost,
}
print(json.dumps(result))
"""

INTRO = """## A batch job of 10,000 requests through the Batch API (issue 13)

Target: a batch job of 10,000 requests planned, uploaded and ingested in **≤ 60 s of
the product's own time** against the loopback server. One process runs the steps
as the workers and Celery beat would (`benchmarks/bench_batch.py`): plan (the launch
writes the job and its batch), write the JSONL and upload it and create the batch,
poll until it has ended (the server says "in progress" once), ingest the results into
captions with their checks. The product's time is the wall time less the loopback
server's own work (parsing the upload; running 10,000 requests when the batch ends),
and without the wait between polls. Baseline, same run and database: the same
patches as an online job, its chunks run in one process with 32 requests in flight
against the same server answering at once.

""" + (
    "| database | requests | plan | write + upload + create | polls | ingest "
    "| **product's time** | server's time | online job (baseline) |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def measure(requests: int, database_url: str | None) -> dict:
    with (
        tempfile.TemporaryDirectory() as work,
        FakeOpenAI(api_key=KEY) as server,
    ):
        server.batch_default = BatchScript(polls=1)
        env = environment(work, database_url, None)
        env["LLM_ENDPOINTS"] = f"fake {server.base_url} OPENAI_API_KEY"
        python(["-c", SETUP, str(requests)], env)
        with _server_seconds_url(server) as seconds_url:
            output = python(["-c", MEASURE, seconds_url], env)
    result = json.loads(output.strip().splitlines()[-1])
    result["database"] = "postgresql" if database_url else "sqlite"
    result["load_average"] = os.getloadavg()[0]  # at the end: what it ran beside
    return result


@contextmanager
def _server_seconds_url(server: FakeOpenAI) -> Iterator[str]:
    """A loopback URL that tells the measuring process how many seconds the fake
    server has spent on the Batch API so far."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{server.batch_api_s:.6f}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    answering = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=answering.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{answering.server_address[1]}/"
    finally:
        answering.shutdown()
        answering.server_close()


def block(results: list[dict]) -> list[str]:
    """The section of docs/benchmarks.md (benchmarks/run.py, section 'batch')."""
    rows = [INTRO]
    for run in results:
        verdict = "✓" if run["product_s"] <= TARGET_S else "✗"
        rows.append(
            f"| {run['database']} | {run['done']:,} of {run['requests']:,} | "
            f"{run['plan_s']:.1f} s | {run['write_upload_create_s']:.1f} s | "
            f"{run['poll_s']:.2f} s ({run['polls']}) | {run['ingest_s']:.1f} s | "
            f"**{run['product_s']:.1f} s** {verdict} | {run['server_s']:.1f} s | "
            f"{run['online']['seconds']:.1f} s |"
        )
    loads = ", ".join(f"{run['database']} {run['load_average']:.1f}" for run in results)
    rows.append(f"\nThe machine's 1-minute load average as each run ended: {loads}.")
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--database-url", action="append", default=[])
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatearthnet_site.settings")
    results = []
    for database_url in [None, *options.database_url]:
        run = measure(options.requests, database_url)
        print("batch", json.dumps(run), flush=True)
        results.append(run)
    return results


if __name__ == "__main__":
    main()
