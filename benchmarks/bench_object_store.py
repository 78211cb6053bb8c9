"""Ingest and export with an S3-compatible object store beside local files (issue 13).

Targets: ingest into the object store at least 150 patches/s per worker process,
the same target as local files, both in one run; the JSONL export of 173,488 pairs
unchanged with the store (<= 20 s, flat memory).

The store is moto's standalone server on loopback (tests/object_store.py), a fresh
bucket per run. Ingest: the 5120x5120 synthetic scene of `bench_ingest.py`, each run
in a fresh process with a fresh SQLite database, local files and the store
alternated, medians of `--repeat`. Export: one PostgreSQL database filled once by
`make_benchmark_data`, served by gunicorn with local files and with the store,
alternated; the export names images by this site's URLs whichever the storage, so
it should not move.

    python benchmarks/bench_object_store.py [--size 5120] [--pairs 173488]
"""

import argparse
import json
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_export  # noqa: E402
import bench_ingest  # noqa: E402

from tests.object_store import ACCESS_KEY, REGION, SECRET_KEY, MotoServer  # noqa: E402


def store_env(server: MotoServer) -> dict[str, str]:
    """The variables that put previews and releases in a fresh bucket of `server`."""
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    return {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_S3_REGION_NAME": REGION,
    }


def ingest(server: MotoServer, size: int, repeat: int) -> dict:
    runs: dict[str, list[dict]] = {"local": [], "store": []}
    with tempfile.TemporaryDirectory() as scenes:
        image, landcover = bench_ingest.make_scene(Path(scenes), size)
        for _ in range(repeat):
            for where in ("local", "store"):
                extra = store_env(server) if where == "store" else {}
                server_cpu = server.cpu_seconds()
                run = bench_ingest.measure(
                    image, landcover, "ingest", None, extra_env=extra
                )
                if where == "store":
                    bucket = extra["AWS_STORAGE_BUCKET_NAME"]
                    run["objects"] = len(server.keys(bucket, "media/"))
                    run["server_cpu_s"] = server.cpu_seconds() - server_cpu
                print(f"  ingest {where}: {run}")
                runs[where].append(run)
    medians = {where: bench_ingest.median_run(done) for where, done in runs.items()}
    medians["store_server_cpu_s"] = statistics.median(
        run["server_cpu_s"] for run in runs["store"]
    )
    return medians


def export(server: MotoServer, database_url: str, pairs: int, repeat: int) -> dict:
    env, _ = bench_export.fill(database_url, pairs)
    store = {**env, **store_env(server)}
    runs: dict[str, list[dict]] = {"local": [], "store": []}
    for _ in range(repeat):
        for where, run_env in (("local", env), ("store", store)):
            web = bench_export.Server(run_env)
            try:
                result = bench_export.download_export(web, web.token())
                result["server_peak_mb"] = bench_export.worker_peak_mb(web.process.pid)
            finally:
                web.stop()
            print(f"  export {where}: {result}")
            runs[where].append(result)
    return {
        where: {
            "seconds": statistics.median(run["seconds"] for run in done),
            "server_peak_mb": max(run["server_peak_mb"] for run in done),
            "lines": done[0]["lines"],
            "runs": len(done),
        }
        for where, done in runs.items()
    }


def block(results: dict) -> list[str]:
    """The section of docs/benchmarks.md."""
    local, store = results["ingest"]["local"], results["ingest"]["store"]
    lines = [
        INTRO,
        "| ingest into | patches | patches/s | worker CPU s | patches per worker "
        "CPU s | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, run in (("local files", local), ("object store (moto)", store)):
        lines.append(
            f"| {label} | {run['patches']} | {run['patches_per_s']:.0f} | "
            f"{run['cpu_seconds']:.2f} | {run['patches'] / run['cpu_seconds']:.0f} | "
            f"{run['peak_mb']:.0f} MB |"
        )
    ratio = store["patches_per_s"] / local["patches_per_s"]
    lines += [
        "",
        f"Object store vs local files: **{ratio:.2f}×** the throughput; the moto "
        f"server used {results['ingest']['store_server_cpu_s']:.2f} CPU s of the "
        "machine's two cores during the median store run.",
    ]
    if "export" in results:
        exported = results["export"]
        lines += [
            "",
            f"| export of {exported['local']['lines']:,} pairs (JSONL, HTTP) | "
            "seconds | server peak |",
            "|---|---:|---:|",
        ]
        for label, key in (("local files", "local"), ("object store", "store")):
            run = exported[key]
            lines.append(
                f"| {label} | {run['seconds']:.1f} | {run['server_peak_mb']:.0f} MB |"
            )
    return lines


INTRO = """\
## Object storage: ingest and export (issue 13)

Targets: ingest into the object store at least 150 patches/s per worker process (as
into local files, both in this run); the export of 173,488 pairs unchanged with the
store (<= 20 s, flat memory). `benchmarks/bench_object_store.py`: moto's S3 server on
loopback, a fresh bucket per
run; ingest of the 5120×5120 synthetic scene in a fresh process and SQLite database
per run, local files and the store alternated, medians of 3; previews go to the
store 8 at a time, and a batch's rows are saved once its previews are written. The
export is served by gunicorn (one worker) from one PostgreSQL database, with local
files and with the store, alternated, medians of 2.

Worker CPU s is the ingest process's own CPU time, all its threads (the ingest reads,
encodes and writes side by side, on both cores). Writing to the store adds signing
and HTTP to the worker (about 1.4 ms of CPU a PUT, two PUTs a patch), and moto spends
about 3 ms of CPU a PUT on the same two cores: this machine runs the worker and the
store at once, where production runs the store elsewhere.
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=5120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=173488)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs:
        server = MotoServer(Path(logs))
        try:
            results = {"ingest": ingest(server, args.size, args.repeat)}
            if args.database_url and args.pairs:
                results["export"] = export(server, args.database_url, args.pairs, 2)
        finally:
            server.stop()
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
