"""End-to-end ingest throughput and peak memory (issue 2).

Targets: at least 150 patches/s per worker process on a 5120x5120 synthetic scene
(read, align, previews, statistics, database writes), and peak memory flat in scene
size. Each measurement runs in a fresh process with a fresh database, so the peak RSS
is the ingest's own. The baseline, measured in the same run on the same scene, is the
straightforward per-patch pipeline: a window read and a label reprojection per patch,
`transform_bounds` per patch, `np.unique` statistics and PNG at Pillow's default level.

    python benchmarks/bench_ingest.py [--sizes 2560,5120] [--database-url URL]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = r"""
import json, os, sys, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from captions.ingest import scenes
image, landcover, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
if mode == "ingest":
    options = scenes.IngestOptions()
    scene = scenes.scene_create(name="bench", image_path=image,
                                  landcover_path=landcover, options=options)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = scenes.scene_ingest(scene_id=scene.pk)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    patches = result.patches_created + result.patches_skipped
else:
    sys.path.insert(0, os.environ["BENCH_DIR"])
    from naive_ingest import naive_ingest
    start, cpu_start = time.perf_counter(), time.process_time()
    patches = naive_ingest(image, landcover, Path(os.environ["MEDIA_ROOT"]),
                           limit=int(sys.argv[4]))
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
status = Path("/proc/self/status").read_text().splitlines()
peak_mb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
print(json.dumps({"patches": patches, "seconds": seconds, "cpu_seconds": cpu_seconds,
                  "peak_mb": peak_mb}))
"""


def measure(
    image: Path,
    landcover: Path,
    mode: str,
    database_url: str | None,
    limit: int = 0,
    extra_env: dict[str, str] | None = None,
) -> dict:
    with tempfile.TemporaryDirectory() as work:
        env = {
            **os.environ,
            "VAR_DIR": work,
            "MEDIA_ROOT": f"{work}/media",
            "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
            "BENCH_DIR": str(Path(__file__).parent),
            **(extra_env or {}),
        }
        env.pop("DATABASE_URL", None)
        if database_url:
            env["DATABASE_URL"] = database_url
            _reset_postgres(database_url)
        command = [sys.executable, "-c", MEASURE, str(image), str(landcover), mode]
        output = subprocess.run(
            [*command, str(limit)],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    result = json.loads(output.strip().splitlines()[-1])
    result["patches_per_s"] = result["patches"] / result["seconds"]
    return result


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput, with the highest peak memory of all."""
    ordered = sorted(runs, key=lambda run: run["patches_per_s"])
    median = dict(ordered[len(ordered) // 2])
    median["peak_mb"] = max(run["peak_mb"] for run in runs)
    median["runs"] = len(runs)
    return median


def _reset_postgres(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    for statement in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin_url, "-qc", statement], check=True)


def make_scene(out_dir: Path, size: int) -> tuple[Path, Path]:
    from captions.devdata.demo.scene import make_demo_scene

    scene = make_demo_scene(out_dir, size=size, seed=0, name=f"bench{size}")
    return scene.image_path, scene.landcover_path


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2560,5120")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--baseline-patches", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict = {"database": "postgresql" if args.database_url else "sqlite"}
    with tempfile.TemporaryDirectory() as scenes:
        for size in sizes:
            started = time.perf_counter()
            image, landcover = make_scene(Path(scenes), size)
            print(f"scene {size}: generated in {time.perf_counter() - started:.1f}s")
            ours = median_run(
                [measure(image, landcover, "ingest", args.database_url)
                 for _ in range(args.repeat)]
            )  # fmt: skip
            print(f"  ingest   {ours}")
            results[f"ingest_{size}"] = ours
            if size == max(sizes) and args.baseline_patches:
                naive = measure(
                    image, landcover, "naive", None, limit=args.baseline_patches
                )
                print(f"  baseline {naive}")
                results[f"baseline_{size}"] = naive
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
