"""A release's quality figures for ChatEarthNet's 173,488 pairs (issue 12, item 5),
and its coverage (issue 14, item 4).

PostgreSQL, `make_benchmark_data` with every pair verified, then a tenth of the pairs
given a second opinion (agreed, disagreed or adjudicated, as a real QA sample) and 2%
marked gold. Timed, median of `--repeat`: `verification.quality_statement`, what a
release's freeze reads for its dataset card, against the plain way measured in the
same run (each pair's land cover, QA state and gold flag read row by row and counted
in Python, ids 10,000 at a time).

Then, on the same data (`COVERAGE_SCRIPT`), a release of every pair is frozen and the
coverage of its card (`captions/export/release_coverage.py`: the footprints read,
counted, `coverage.png` drawn, the tables) is timed and its Python peak memory
(tracemalloc) taken, against the rest of the build in the same run: the freeze, the
images' statistics pass, the formats of every split, the card without coverage. The
images themselves are not copied (issue 11's bench_release.py measures that).

    DEBUG=1 .venv/bin/python benchmarks/bench_card.py [--pairs 173488]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_release import manage  # noqa: E402
from bench_review import reset_postgres  # noqa: E402

TIME_SCRIPT = """
import json, random, statistics, time
from collections import Counter
from django.contrib.auth import get_user_model
from captions.models import Caption
from verification import quality_statement
from verification.models import GoldCaption, QaReview

repeat = int(REPEAT)
user = get_user_model().objects.order_by("pk").first()
ids = list(Caption.objects.filter(status__in=["approved", "edited"])
           .order_by("pk").values_list("pk", flat=True))
draw = random.Random(0)
states = ["agreed"] * 8 + ["disagreed", "adjudicated"]
QaReview.objects.bulk_create(
    [QaReview(caption_id=pk, state=draw.choice(states), shown_text="x",
              first_action="approve", first_text="x", first_reviewer=user,
              second_reviewer=user, action="approve", verdict_agrees=True)
     for pk in draw.sample(ids, len(ids) // 10)], batch_size=5000)
GoldCaption.objects.bulk_create(
    [GoldCaption(caption_id=pk, action="approve", text="x", shown_text="x")
     for pk in draw.sample(ids, len(ids) // 50)], batch_size=5000)

def plain():
    pairs, classes, states = 0, Counter(), Counter()
    for start in range(0, len(ids), 10000):
        rows = Caption.objects.filter(pk__in=ids[start:start + 10000]).values_list(
            "patch__landcover", "qa_review__state", "gold__active")
        for landcover, state, gold in rows:
            pairs += 1
            states[state] += 1
            for entry in landcover["overall"]:
                classes[entry["code"]] += 1
    return pairs

def timed(work):
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)

product = timed(lambda: quality_statement.quality_statement(ids))
baseline = timed(plain)
statement = quality_statement.quality_statement(ids)
print(json.dumps({"pairs": len(ids), "statement_s": product, "plain_s": baseline,
                  "qa_answered": statement["qa_answered"]}))
"""


COVERAGE_SCRIPT = """
import json, shutil, statistics, tempfile, time, tracemalloc
from pathlib import Path
from unittest import mock
from django.contrib.auth import get_user_model
from captions.export import release_coverage, release_files, releases
from captions.export.dataset_card import ClassTotals, dataset_card_lines
from captions.export.filters import export_filters_from
from captions.export.release_io import Progress
from captions.models import Release
from captions.selectors import release_images

repeat = int(REPEAT)
scratch = Path(tempfile.mkdtemp(prefix="coverage-", dir="SCRATCH"))
curator = get_user_model().objects.get(username="bench-curator")

def frozen(**filters):
    with mock.patch("captions.tasks.build_release.delay"):
        release = releases.release_create(
            filters=export_filters_from(filters), user=curator)
    started = time.perf_counter()
    releases._freeze(release)
    release.refresh_from_db()
    return release, time.perf_counter() - started

def classes_of(release):
    classes = ClassTotals()
    for image in release_images(release_id=release.pk):
        classes.add(image.landcover)
    return classes

def coverage_of(release):
    coverage = release_coverage.release_coverage(release)
    release_coverage.write_coverage_image(release, coverage, scratch)
    return coverage, list(release_coverage.coverage_card_lines(coverage))

def card(release, classes, coverage=None):
    return sum(len(line) for line in dataset_card_lines(
        release, classes, coverage=coverage))

def formats(release):
    folder = Path(tempfile.mkdtemp(dir=scratch))
    release_files._write_splits(release, folder, Progress(release.pk, enabled=False))
    shutil.rmtree(folder)

def timed(work, times=repeat):
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)

def peak(work):
    tracemalloc.start()
    work()
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak_bytes

release, freeze_s = frozen()
started = time.perf_counter()
coverage, _ = coverage_of(release)  # the first in a process rasterises the world
first_coverage_s = time.perf_counter() - started
classes = classes_of(release)
result = {
    "release_pairs": release.pairs_total,
    "release_images": release.images_total,
    "located": coverage.located,
    "continents": dict(coverage.continent_rows()),
    "png_bytes": (scratch / "coverage.png").stat().st_size,
    "freeze_s": freeze_s,
    "coverage_first_s": first_coverage_s,
    "coverage_s": timed(lambda: coverage_of(release)),
    "classes_s": timed(lambda: classes_of(release)),
    "card_s": timed(lambda: card(release, classes)),
    "card_with_coverage_s": timed(
        lambda: card(release, classes, coverage_of(release)[0])),
    "formats_s": timed(lambda: formats(release), times=1),
    "coverage_peak_bytes": peak(lambda: coverage_of(release)),
    "card_peak_bytes": peak(lambda: card(release, classes)),
}
small, _ = frozen(split="val")
result["small_images"] = small.images_total
result["small_coverage_peak_bytes"] = peak(lambda: coverage_of(small))
shutil.rmtree(scratch)
print(json.dumps(result))
"""


def measure(pairs: int, repeat: int, database_url: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-card-", dir=ROOT / "var"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(folder)),
        "DEBUG": "1",
        "VAR_DIR": str(folder),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "ERROR",
    }
    reset_postgres(database_url)
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "make_benchmark_data", "--patches", str(pairs),
               "--verified-fraction", "1", "--no-progress")  # fmt: skip
        output = manage(env, "shell", "-c", TIME_SCRIPT.replace("REPEAT", str(repeat)))
        manage(env, "create_user", "bench-curator", "--role", "curator",
               "--password", "bench-curator-pw")  # fmt: skip
        coverage = manage(env, "shell", "-c", COVERAGE_SCRIPT.replace(
            "REPEAT", str(repeat)).replace("SCRATCH", str(folder)))  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = json.loads(output.strip().splitlines()[-1])
    return {
        **result,
        "repeat": repeat,
        "ratio": result["plain_s"] / result["statement_s"],
        "coverage": json.loads(coverage.strip().splitlines()[-1]),
    }


INTRO = """\
## A release's quality figures (issue 12)

Target: the dataset card's quality statistics for 173,488 pairs in <= 5 s
(`benchmarks/bench_card.py`): PostgreSQL, `make_benchmark_data` with every pair
verified, a tenth with a second opinion (agreed, disagreed or adjudicated) and 2%
gold; `verification.quality_statement.quality_statement`, what a release's freeze
reads, median of {repeat}. Baseline in the same run: each pair's land cover, QA state
and gold flag read row by row (10,000 ids at a time) and counted in Python.

| pairs | second opinions | figures | baseline | ratio |
| --- | --- | --- | --- | --- |"""


def block(result: dict) -> list[str]:
    """The section of docs/benchmarks.md (benchmarks/run.py, section 'card')."""
    return [
        INTRO.format(repeat=result["repeat"]),
        f"| {result['pairs']:,} | {result['qa_answered']:,} | "
        f"**{result['statement_s']:.2f} s** | {result['plain_s']:.2f} s | "
        f"{result['ratio']:.1f}× |",
    ]


COVERAGE_INTRO = """\
## Coverage in the dataset card (issue 14)

The coverage of a release's card (`captions/export/release_coverage.py`:
footprints read from a cursor 5,000 at a time, counted by 1° cell, continent and
latitude band in numpy, `coverage.png` drawn with Pillow, the two tables), for a
release of every pair of `benchmarks/bench_card.py`'s data (PostgreSQL,
`make_benchmark_data`), against the rest of the build in the same run. Medians of
{repeat} (the formats: one run); memory is Python's peak (tracemalloc) during the
step.

| step | time | peak memory |
| --- | --- | --- |"""


def coverage_block(result: dict) -> list[str]:
    """The coverage section of docs/benchmarks.md (benchmarks/run.py, 'card')."""
    cov = result["coverage"]
    mib = 2**20
    rest = cov["freeze_s"] + cov["classes_s"] + cov["formats_s"] + cov["card_s"]
    return [
        COVERAGE_INTRO.format(repeat=result["repeat"]),
        f"| freeze {cov['release_pairs']:,} pairs | {cov['freeze_s']:.2f} s | |",
        f"| images' statistics ({cov['release_images']:,} images) | "
        f"{cov['classes_s']:.2f} s | |",
        f"| formats of every split | {cov['formats_s']:.2f} s | |",
        f"| card without coverage | {cov['card_s']:.2f} s | "
        f"{cov['card_peak_bytes'] / mib:.1f} MiB |",
        f"| **coverage** ({cov['located']:,} footprints, PNG "
        f"{cov['png_bytes'] / 1024:.0f} KiB) | **{cov['coverage_s']:.2f} s** "
        f"(first in a process {cov['coverage_first_s']:.2f} s) | "
        f"{cov['coverage_peak_bytes'] / mib:.1f} MiB |",
        f"| coverage of a release of {cov['small_images']:,} images | | "
        f"{cov['small_coverage_peak_bytes'] / mib:.1f} MiB |",
        f"| card with coverage | {cov['card_with_coverage_s']:.2f} s | |",
        "",
        f"Coverage is {100 * cov['coverage_s'] / rest:.1f} % of the rest of the "
        f"build measured here ({rest:.1f} s, images not copied).",
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=173_488)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_card"
    )
    options = parser.parse_args(argv)
    result = measure(options.pairs, options.repeat, options.database_url)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
