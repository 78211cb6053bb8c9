"""Building a release in ChatEarthNet's layout against the product layout (issue 11).

The product layout copies each stored preview (lossless WebP) as it is; ChatEarthNet's
layout decodes it and writes PNG under the patch's name, as the released dataset has
its images. Same frozen pairs, same process, alternating layouts, median of
`--repeat` builds each; the ratio is the price of the PNG images. The release build
runs in this process, as a worker runs it (no broker: `release_build` directly).

    DEBUG=1 .venv/bin/python benchmarks/bench_release.py --pairs 2000
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUILD_SCRIPT = """
import json, statistics, sys, time
from unittest import mock
from django.contrib.auth import get_user_model
from captions.export import releases
from captions.export.filters import export_filters_from
from captions.models import Release

curator = get_user_model().objects.get(username="bench-curator")
repeat = int(sys.argv[1])
seconds = {"product": [], "chatearthnet": []}
images = 0
for _ in range(repeat):
    for layout in ("product", "chatearthnet"):
        with mock.patch("captions.tasks.build_release.delay"):
            release = releases.release_create(
                filters=export_filters_from({}), user=curator, layout=layout
            )
        started = time.perf_counter()
        release = releases.release_build(release_id=release.pk)
        seconds[layout].append(time.perf_counter() - started)
        assert release.status == Release.Status.DONE, release.error
        images = release.images_total
print(json.dumps({"seconds": seconds, "images": images,
                  "pairs": release.pairs_total}))
"""


def manage(env: dict, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {arguments[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def measure(pairs: int, repeat: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-release-", dir=ROOT / "var"))
    # Only what this run sets: other benchmarks of `make bench` leave theirs behind.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(folder)),
        "DEBUG": "1",
        "VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "LOG_LEVEL": "ERROR",
    }
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        # Distinct previews, one per patch: each image is read and encoded for real.
        manage(env, "make_benchmark_data", "--patches", str(pairs),
               "--templates", str(pairs), "--verified-fraction", "1",
               "--no-progress")  # fmt: skip
        manage(env, "create_user", "bench-curator", "--role", "curator",
               "--password", "bench-curator-pw")  # fmt: skip
        output = manage(env, "shell", "-c", BUILD_SCRIPT.replace(
            "int(sys.argv[1])", str(repeat)))  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = json.loads(output.strip().splitlines()[-1])
    medians = {
        layout: statistics.median(values)
        for layout, values in result["seconds"].items()
    }
    return {
        "pairs": result["pairs"],
        "images": result["images"],
        "repeat": repeat,
        "product_s": medians["product"],
        "chatearthnet_s": medians["chatearthnet"],
        "product_images_per_s": result["images"] / medians["product"],
        "chatearthnet_images_per_s": result["images"] / medians["chatearthnet"],
        "ratio": medians["chatearthnet"] / medians["product"],
        "measured_at": time.strftime("%Y-%m-%d"),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    result = measure(options.pairs, options.repeat)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
