"""A release's quality figures for ChatEarthNet's 173,488 pairs (issue 12, item 5).

PostgreSQL, `make_benchmark_data` with every pair verified, then a tenth of the pairs
given a second opinion (agreed, disagreed or adjudicated, as a real QA sample) and 2%
marked gold. Timed, median of `--repeat`: `verification.quality_statement`, what a
release's freeze reads for its dataset card, against the plain way measured in the
same run (each pair's land cover, QA state and gold flag read row by row and counted
in Python, ids 10,000 at a time).

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
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = json.loads(output.strip().splitlines()[-1])
    return {
        **result,
        "repeat": repeat,
        "ratio": result["plain_s"] / result["statement_s"],
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
