"""Caption generation through real Celery workers (issue 3).

Targets:
- offline: at least 500 captions/s through a real worker, database writes included;
- openai against a local server that answers after 1 s: at least 90% of the configured
  concurrency per second (64 in flight over 2 worker processes: >= 57.6 captions/s),
  and never more requests in any 60 s window than the configured limit (counted at
  the server).

Each run uses a fresh database, a fresh broker and fresh worker processes. Baselines
from the same run: for offline, the same captions written one `INSERT` at a time in
one process (no batching, no worker); for openai, ChatEarthNet's own scripts (one
request at a time, then a 0.5 s sleep).

    python benchmarks/bench_generation.py [--database-url URL --broker-url URL]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_openai import FakeOpenAI, max_in_any_window  # noqa: E402

KEY = "sk-bench"

SETUP = r"""
import sys, numpy as np, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from captions.landcover import landcover_stats
from captions.models import Patch, Scene
count = int(sys.argv[1])
rng = np.random.default_rng(0)
stats = []
for _ in range(200):
    small = rng.choice(np.array([0, 10, 20, 30, 40, 50, 60, 80, 90], np.uint8), (8, 8))
    stats.append(landcover_stats(np.kron(small, np.ones((32, 32), np.uint8))))
scene = Scene.objects.create(name="bench", source_kind="geotiff", image_path="/b.tif",
                             status="ready")
Patch.objects.bulk_create(
    [Patch(scene=scene, row_off=n * 256, col_off=0, width=256, height=256,
           rgb_preview=f"b/{n}.webp", landcover_preview=f"b/{n}.png",
           landcover=stats[n % 200], invalid_fraction=0.0, split="train")
     for n in range(count)], batch_size=2000)
"""

NAIVE = r"""
import json, time, django
django.setup()
from captions.generation.checks import check_caption
from captions.generation.templates import spec_of, template_get
from captions.llm.offline import write_caption
from captions.models import Caption, Patch
from captions.generation.prompts import render_messages
spec = spec_of(template_get("chatearthnet-text"))
patches = list(Patch.objects.all()[:1000])
start = time.perf_counter()
for patch in patches:
    text = write_caption(patch.landcover, patch.pk)
    Caption.objects.create(
        patch=patch, source="naive", generated_text=text, text=text,
        messages=render_messages(spec, patch.landcover),
        checks=check_caption(text, patch.landcover))
print(json.dumps({"captions": len(patches), "seconds": time.perf_counter() - start}))
"""


def environment(work: str, database_url: str | None, broker_url: str | None) -> dict:
    env = {
        **os.environ,
        "VAR_DIR": work,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "OPENAI_API_KEY": KEY,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
        _reset_postgres(database_url)
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
        subprocess.run(["redis-cli", "-u", broker_url, "flushdb"], check=True,
                       capture_output=True)  # fmt: skip
    return env


def _reset_postgres(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    for statement in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin_url, "-qc", statement], check=True)


def python(code_or_args: list[str], env: dict) -> str:
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip


def start_workers(env: dict, processes: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "chatearthnet_site", "worker",
         f"--concurrency={processes}", "--loglevel=WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # the job has ended: nothing is lost
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_job(env: dict, arguments: list[str]) -> dict:
    output = python(
        ["manage.py", "generate_captions", "--wait", "--json", *arguments], env
    )
    job = json.loads(output.strip().splitlines()[-1])
    started = _timestamp(job["started_at"])
    finished = _timestamp(job["finished_at"])
    job["seconds"] = finished - started
    job["captions_per_s"] = job["done"] / job["seconds"]
    return job


def _timestamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def bench_offline(database_url: str | None, broker_url: str | None, count: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        env = environment(work, database_url, broker_url)
        python(["-c", SETUP, str(count)], env)
        workers = start_workers(env, processes=2)
        try:
            job = run_job(env, ["--backend", "offline", "--chunk-size", "500"])
        finally:
            stop(workers)
        naive = json.loads(python(["-c", NAIVE], env).strip().splitlines()[-1])
    naive["captions_per_s"] = naive["captions"] / naive["seconds"]
    return {"job": job, "baseline": naive}


def bench_openai(
    database_url: str | None, broker_url: str | None, count: int, rpm: int | None
) -> dict:
    with (
        tempfile.TemporaryDirectory() as work,
        FakeOpenAI(api_key=KEY, latency_s=1.0) as server,
    ):
        env = environment(work, database_url, broker_url)
        # The loopback server is an endpoint of the operator's configuration, for
        # the command and for the workers alike; jobs name it.
        env["LLM_ENDPOINTS"] = f"fake {server.base_url} OPENAI_API_KEY"
        python(["-c", SETUP, str(count)], env)
        workers = start_workers(env, processes=2)
        arguments = ["--backend", "openai", "--model", "gpt-3.5-turbo",
                     "--endpoint", "fake", "--in-flight", "32",
                     "--chunk-size", "320"]  # fmt: skip
        if rpm:
            arguments += ["--rpm", str(rpm)]
        try:
            job = run_job(env, arguments)
        finally:
            stop(workers)
        arrivals = list(server.arrivals)
    job["max_in_flight"] = server.max_in_flight
    job["max_per_60s"] = max_in_any_window(arrivals, 60.0)
    job["requests"] = len(arrivals)
    return job


def bench_chatearthnet_scripts(requests: int = 4) -> dict:
    """One request at a time, then 0.5 s of sleep, as ChatEarthNet's scripts did."""
    from captions.llm.base import ChatRequest
    from captions.llm.openai_backend import OpenAIBackend

    with FakeOpenAI(api_key=KEY, latency_s=1.0) as server:
        backend = OpenAIBackend(server.base_url, KEY)
        start = time.perf_counter()
        for _ in range(requests):
            backend.complete(
                ChatRequest(
                    messages=[{"role": "user", "content": "x"}], model="gpt-3.5-turbo"
                )
            )
            time.sleep(0.5)
        seconds = time.perf_counter() - start
    return {"captions": requests, "captions_per_s": requests / seconds}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--broker-url")
    parser.add_argument("--offline-count", type=int, default=20000)
    parser.add_argument("--openai-count", type=int, default=2560)
    parser.add_argument("--rpm", type=int, default=1200)
    parser.add_argument("--rpm-count", type=int, default=1600)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatearthnet_site.settings")
    results: dict = {
        "database": "postgresql" if args.database_url else "sqlite",
        "broker": "redis" if args.broker_url else "filesystem",
    }
    results["offline"] = bench_offline(
        args.database_url, args.broker_url, args.offline_count
    )
    print("offline", json.dumps(results["offline"]), flush=True)
    if args.broker_url:
        results["openai"] = bench_openai(
            args.database_url, args.broker_url, args.openai_count, None
        )
        print("openai", json.dumps(results["openai"]), flush=True)
        if args.rpm:
            results["openai_rpm"] = bench_openai(
                args.database_url, args.broker_url, args.rpm_count, args.rpm
            )
            results["openai_rpm"]["rpm_limit"] = args.rpm
            print("openai rpm", json.dumps(results["openai_rpm"]), flush=True)
        results["chatearthnet_scripts"] = bench_chatearthnet_scripts()
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
