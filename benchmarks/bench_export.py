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

`--formats jsonl,geojson` compares export formats instead (issue 14): per size, the
database is filled once, and each format's file is downloaded `--runs` times, each
from a freshly started server so that each peak is that download's alone; the
patches list as GeoJSON (`/api/v1/patches/?format=geojson`) is measured beside them.

    python benchmarks/bench_export.py --formats jsonl,geojson --runs 3
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
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


def download_export(
    server: Server, token: str, path: str = "/api/v1/export/?format=jsonl"
) -> dict:
    connection = server.connection()
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
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


def download_with_peak(
    server: Server, token: str, path: str = "/api/v1/export/?format=jsonl"
) -> dict:
    """`download_export`, with the server worker's peak memory while it ran."""
    sampler_peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            sampler_peak[0] = max(sampler_peak[0], worker_peak_mb(server.process.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        export = download_export(server, token, path)
    finally:
        done.set()
        sampler.join()
    export["server_peak_mb"] = max(sampler_peak[0], worker_peak_mb(server.process.pid))
    return export


def measure(database_url: str, pairs: int, page_repeat: int) -> dict:
    env, fill_seconds = fill(database_url, pairs)
    server = Server(env)
    try:
        token = server.token()
        export = download_with_peak(server, token)
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


# What `--formats` downloads besides the export formats: the patches as GeoJSON.
PATCHES_GEOJSON = "patches-geojson"


def format_path(name: str) -> str:
    if name == PATCHES_GEOJSON:
        return "/api/v1/patches/?format=geojson"
    return f"/api/v1/export/?format={name}"


def measure_formats(
    database_url: str, pairs: int, formats: list[str], runs: int
) -> dict:
    """Each format's download `runs` times over one filled database, each from a
    fresh server (VmHWM never falls: a server that served one download first would
    lend its peak to the next); the order turns each run, so no format always goes
    first while the machine warms up."""
    env, fill_seconds = fill(database_url, pairs)
    names = [*formats, PATCHES_GEOJSON]
    downloads: dict[str, list[dict]] = {name: [] for name in names}
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            server = Server(env)
            try:
                downloads[name].append(
                    download_with_peak(server, server.token(), format_path(name))
                )
            finally:
                server.stop()
    return {
        "pairs": pairs,
        "fill_seconds": fill_seconds,
        "runs": runs,
        "formats": {
            name: {
                "runs": taken,
                **{
                    key: statistics.median(download[key] for download in taken)
                    for key in ("seconds", "first_byte_s", "bytes", "server_peak_mb")
                },
            }
            for name, taken in downloads.items()
        },
    }


FORMATS_INTRO = """\
## GeoJSON export (issue 14)

Target: the GeoJSON export of 173,488 footprints streams in flat memory.
`benchmarks/bench_export.py --formats jsonl,geojson`: per size, a PostgreSQL database
filled once by `make_benchmark_data` (every pair verified, every patch with a
footprint), then each file downloaded {runs} times over loopback by a consumer with a
token, each time from a freshly started gunicorn with one worker process, so that a
peak (the worker's VmHWM, Django's start-up included) is that download's alone; the
figures are medians. `jsonl` is the baseline of the same run; the patches list as
GeoJSON (`/api/v1/patches/?format=geojson`, every patch with its newest caption's
status) is measured beside them. Machine: {machine}.

| pairs | file | seconds | first byte | MB sent | server peak |
| --- | --- | --- | --- | --- | --- |"""


def formats_block(results: list[dict], machine: str) -> list[str]:
    lines = [FORMATS_INTRO.format(runs=results[0]["runs"], machine=machine)]
    for result in results:
        for name, figures in result["formats"].items():
            label = (
                "`/api/v1/patches/?format=geojson`"
                if name == PATCHES_GEOJSON
                else f"export `{name}`"
            )
            lines.append(
                f"| {result['pairs']:,} | {label} | **{figures['seconds']:.1f} s** | "
                f"{figures['first_byte_s']:.2f} s | {figures['bytes'] / 1e6:.0f} | "
                f"**{figures['server_peak_mb']:.0f} MB** |"
            )
    if len(results) > 1:
        small, large = results[0]["formats"], results[-1]["formats"]
        ratios = []
        for name, figures in large.items():
            ratio = figures["server_peak_mb"] / small[name]["server_peak_mb"]
            ratios.append(f"{name} **{ratio:.2f}×**")
        lines += [
            "",
            f"Server peak memory at {results[-1]['pairs']:,} vs "
            f"{results[0]['pairs']:,} pairs: {', '.join(ratios)}.",
        ]
    return lines


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_export"
    )
    parser.add_argument("--sizes", default="20000,173488")
    parser.add_argument("--page-repeat", type=int, default=30)
    parser.add_argument(
        "--formats", default="", help="e.g. jsonl,geojson: compare these formats"
    )
    parser.add_argument("--runs", type=int, default=3, help="with --formats")
    args = parser.parse_args(argv)
    if args.formats:
        return [
            measure_formats(
                args.database_url, int(size), args.formats.split(","), args.runs
            )
            for size in args.sizes.split(",")
        ]
    return [
        measure(args.database_url, int(size), args.page_repeat)
        for size in args.sizes.split(",")
    ]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
