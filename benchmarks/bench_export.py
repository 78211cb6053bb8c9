"""Streaming export and list pages through a real server (issue 5).

For each size (20,000 and 173,488 verified pairs by default) a PostgreSQL database is
filled with `make_benchmark_data`, gunicorn serves it with one worker process, and a
consumer downloads `GET /api/v1/export/?format=jsonl` over loopback. Measured: the
seconds end to end (first byte to last), the lines and bytes received, and the peak
resident memory of the server's worker process (VmHWM, which includes Django's own
start-up), so the two sizes show whether memory grows with the dataset.

The baseline of the same run is what other tools do: the same records built as one
list and serialised with one `json.dumps` (in a child process, its peak memory read
from getrusage). List pages (scenes, patches, captions: the first page and a page
deep in the cursor chain) are timed at the client and by the server's Server-Timing.

    python benchmarks/bench_export.py [--sizes 20000,173488]
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import reset_postgres  # noqa: E402
from bench_review_http import free_port, percentile  # noqa: E402

PASSWORD = "bench-consumer-pass"  # a throwaway benchmark database

NAIVE_EXPORT = r"""
import json, resource, sys, time
import django
django.setup()
from captions.models import Caption

started = time.perf_counter()
rows = list(
    Caption.objects.filter(status__in=["approved", "edited"])
    .select_related("patch__scene", "template", "reviewed_by")
    .order_by("id")
)
records = [
    {
        "patch_id": c.patch_id, "image": c.patch.rgb_preview.name, "caption": c.text,
        "original_caption": c.generated_text, "status": c.status,
        "landcover": c.patch.landcover, "scene": c.patch.scene.name,
        "split": c.patch.split, "model": c.model,
        "bounds": [c.patch.west, c.patch.south, c.patch.east, c.patch.north],
        "reviewer": c.reviewed_by.username if c.reviewed_by else None,
        "reviewed_at": c.reviewed_at.isoformat() if c.reviewed_at else None,
    }
    for c in rows
]
body = json.dumps(records)
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "bytes": len(body),
                  "records": len(records)}))
"""


def environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "ERROR",
        "MEDIA_ROOT": str(ROOT / "var" / "bench-export-media"),
        # DEBUG off needs the folders ingest may read; none is read here.
        "INGEST_ROOTS": "/nonexistent/benchmark-imagery",
        # One consumer walks hundreds of pages a minute: measured, not throttled.
        "API_THROTTLE_USER": "1000000/minute",
    }


def manage(env: dict, *arguments: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def fill(database_url: str, pairs: int) -> tuple[dict, float]:
    """A fresh database with `pairs` verified captions; the seconds it took."""
    reset_postgres(database_url)
    env = environment(database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    started = time.perf_counter()
    manage(env, "make_benchmark_data", "--patches", str(pairs),
           "--verified-fraction", "1", "--no-progress", "--replace")  # fmt: skip
    seconds = time.perf_counter() - started
    manage(env, "create_user", "bench-consumer", "--role", "consumer",
           "--password", PASSWORD)  # fmt: skip
    return env, seconds


def worker_peak_mb(master_pid: int) -> float:
    """The highest VmHWM among the gunicorn master's children (its workers)."""
    peak = 0.0
    for child in (
        Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    ):
        status = Path(f"/proc/{child}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        if found:
            peak = max(peak, int(found.group(1)) / 1024)
    return peak


class Server:
    def __init__(self, env: dict) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "chatearthnet_site.wsgi", "-w", "1",
             "-b", f"127.0.0.1:{self.port}", "--timeout", "300",
             "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)

    def token(self) -> str:
        connection = self.connection()
        body = json.dumps({"username": "bench-consumer", "password": PASSWORD})
        connection.request("POST", "/api/v1/auth/token/", body=body,
                           headers={"Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        assert response.status == 201, (response.status, response.read())
        return json.loads(response.read())["token"]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def download_export(server: Server, token: str) -> dict:
    connection = server.connection()
    started = time.perf_counter()
    connection.request("GET", "/api/v1/export/?format=jsonl",
                       headers={"Authorization": f"Token {token}"})  # fmt: skip
    response = connection.getresponse()
    assert response.status == 200, response.status
    size = lines = 0
    first_byte = None
    while chunk := response.read(1 << 16):
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\n")
    return {
        "seconds": time.perf_counter() - started,
        "first_byte_s": first_byte,
        "bytes": size,
        "lines": lines,
    }


def time_pages(server: Server, token: str, path: str, repeat: int) -> dict:
    """First page and a page 50 cursors deep, each `repeat` times."""
    connection = server.connection()
    headers = {"Authorization": f"Token {token}"}

    def get(url: str) -> tuple[dict, float, float]:
        started = time.perf_counter()
        connection.request("GET", url, headers=headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
        client_ms = (time.perf_counter() - started) * 1000
        assert response.status == 200, (url, response.status, payload)
        timing = re.search(r"dur=([\d.]+)", response.headers["Server-Timing"])
        assert timing
        return payload, client_ms, float(timing.group(1))

    first_url = path  # the default page size, as a client that asks for none gets
    deep_url = first_url
    for _ in range(50):
        payload, _, _ = get(deep_url)
        following = payload.get("next")
        if not following:
            break
        deep_url = following.split("127.0.0.1", 1)[-1].split(str(server.port), 1)[-1]
    results = {}
    for name, url in (("first", first_url), ("deep", deep_url)):
        client, server_ms = [], []
        for _ in range(repeat):
            _, client_ms, app_ms = get(url)
            client.append(client_ms)
            server_ms.append(app_ms)
        results[name] = {
            "client_p50_ms": percentile(client, 0.5),
            "client_p95_ms": percentile(client, 0.95),
            "server_p50_ms": percentile(server_ms, 0.5),
            "server_p95_ms": percentile(server_ms, 0.95),
        }
    return results


def naive_baseline(env: dict) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", NAIVE_EXPORT],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def measure(database_url: str, pairs: int, page_repeat: int) -> dict:
    env, fill_seconds = fill(database_url, pairs)
    server = Server(env)
    try:
        token = server.token()
        sampler_peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                sampler_peak[0] = max(
                    sampler_peak[0], worker_peak_mb(server.process.pid)
                )

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            export = download_export(server, token)
        finally:
            done.set()
            sampler.join()
        export["server_peak_mb"] = max(
            sampler_peak[0], worker_peak_mb(server.process.pid)
        )
        pages = {
            path: time_pages(server, token, path, page_repeat)
            for path in ("/api/v1/scenes/", "/api/v1/patches/", "/api/v1/captions/")
        }
    finally:
        server.stop()
    return {
        "pairs": pairs,
        "fill_seconds": fill_seconds,
        "export": export,
        "naive": naive_baseline(env),
        "pages": pages,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_export"
    )
    parser.add_argument("--sizes", default="20000,173488")
    parser.add_argument("--page-repeat", type=int, default=30)
    args = parser.parse_args(argv)
    return [
        measure(args.database_url, int(size), args.page_repeat)
        for size in args.sizes.split(",")
    ]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
