"""Run every benchmark and write docs/benchmarks.md (`make bench`).

Machines here are noisy: every figure is a median, and each is set against a
baseline measured in the same run.
"""

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_batch  # noqa: E402
import bench_card  # noqa: E402
import bench_checks  # noqa: E402
import bench_dashboard  # noqa: E402
import bench_export  # noqa: E402
import bench_generation  # noqa: E402
import bench_ingest  # noqa: E402
import bench_landcover  # noqa: E402
import bench_map  # noqa: E402
import bench_object_store  # noqa: E402
import bench_release  # noqa: E402
import bench_review  # noqa: E402
import bench_review_browser  # noqa: E402
import bench_review_http  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def postgres_url() -> str | None:
    url = os.environ.get(
        "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/bench"
    )
    probe = subprocess.run(
        ["psql", url.rsplit("/", 1)[0] + "/postgres", "-qAtc", "select 1"],
        capture_output=True, check=False,
    )  # fmt: skip
    return url if probe.returncode == 0 else None


SECTIONS = (
    "landcover",
    "ingest",
    "generation",
    "review",
    "review_http",
    "export",
    "export_geojson",
    "checks",
    "release",
    "review_browser",
    "dashboard",
    "card",
    "object_store",
    "batch",
    "map",
)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks and write docs/benchmarks.md.

    `--only review_http,export` runs those alone and replaces only their sections of
    the existing report (each section is one `## ` heading), keeping the others.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(SECTIONS))
    only = parser.parse_args(argv).only.split(",")
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {SECTIONS}")
    pg = postgres_url()
    blocks: list[list[str]] = []
    if "landcover" in only:
        blocks.append(landcover_block(bench_landcover.run()))
    if "ingest" in only:
        blocks.append(ingest_block(pg))
    if "generation" in only:
        blocks.append(generation_block(pg))
    if "review" in only and pg:
        blocks.append(review_block(pg))
    if "review_http" in only and pg:
        # The queue alone, then with second opinions and gold mixed in (issue 12).
        runs = [
            bench_review_http.main(review_http_arguments(pg, qa, gold))
            for qa, gold in (("0", "0"), ("0.1", "0.02"))
        ]
        blocks.append([REVIEW_HTTP_INTRO, *map(review_http_row, runs)])
    if "export" in only and pg:
        export = bench_export.main(
            ["--database-url", pg.rsplit("/", 1)[0] + "/bench_export"]
        )
        blocks.append(export_block(export))
    if "export_geojson" in only and pg:
        formats = bench_export.main(
            ["--database-url", pg.rsplit("/", 1)[0] + "/bench_export_formats",
             "--formats", "jsonl,geojson"]
        )  # fmt: skip
        blocks.append(bench_export.formats_block(formats, machine()))
    if "checks" in only:
        blocks.append(checks_block(bench_checks.run()))
    if "release" in only:
        blocks.append(release_block(bench_release.main(["--pairs", "2000"])))
    if "review_browser" in only and pg:
        url = pg.rsplit("/", 1)[0] + "/bench_review_browser"
        blocks.append(
            review_browser_block(bench_review_browser.main(["--database-url", url]))
        )
    if "dashboard" in only and pg:
        blocks.append(dashboard_block(pg))
    if "card" in only and pg:
        card = bench_card.main(["--database-url", f"{pg}_card"])
        blocks.append(bench_card.block(card))
        blocks.append(bench_card.coverage_block(card))
    if "object_store" in only:
        store_arguments = ["--database-url", f"{pg}_store"] if pg else ["--pairs", "0"]
        blocks.append(
            bench_object_store.block(bench_object_store.main(store_arguments))
        )
    if "batch" in only:
        batch_arguments = ["--database-url", f"{pg}_batch"] if pg else []
        blocks.append(bench_batch.block(bench_batch.main(batch_arguments)))
    if "map" in only:
        # SQLite always; PostgreSQL in a database of its own (BENCH_MAP_DATABASE_URL,
        # else named after `pg`'s: `<name>_map`).
        map_urls = [os.environ.get("BENCH_MAP_DATABASE_URL", f"{pg}_map")] if pg else []
        map_arguments = [
            argument for url in map_urls for argument in ("--database-url", url)
        ]
        blocks.append(bench_map.block(bench_map.main(map_arguments), machine()))
    write_report(blocks, partial=len(only) < len(SECTIONS))


def ingest_block(pg: str | None) -> list[str]:
    sys.argv = [sys.argv[0], "--sizes", os.environ.get("BENCH_SIZES", "2560,5120")]
    ingest_sqlite = bench_ingest.main()
    ingest_pg = None
    if pg:
        sys.argv += ["--database-url", pg, "--baseline-patches", "0"]
        ingest_pg = bench_ingest.main()
    return ingest_lines(ingest_sqlite, ingest_pg)


def generation_block(pg: str | None) -> list[str]:
    generation = [bench_generation.main([])]
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    if pg and redis_answers(redis_url):
        generation.append(
            bench_generation.main(
                [
                    "--database-url",
                    pg.rsplit("/", 1)[0] + "/bench_generation",
                    "--broker-url",
                    redis_url,
                ]
            )
        )
    lines = [GENERATION_INTRO]
    for results in generation:
        lines += generation_rows(results)
    return lines


def review_block(pg: str) -> list[str]:
    review_url = pg.rsplit("/", 1)[0] + "/bench_review"
    review = [
        bench_review.main(["--database-url", review_url, "--sizes",
                           "20000,200000", "--annotators", "1", "--claims", "400",
                           "--think-s", "0"]),
        bench_review.main(["--database-url", review_url, "--sizes", "200000",
                           "--annotators", "20", "--claims", "2000",
                           "--think-s", "1.0"]),
    ]  # fmt: skip
    return [REVIEW_INTRO, *review_rows(review)]


def redis_answers(url: str) -> bool:
    probe = subprocess.run(
        ["redis-cli", "-u", url, "ping"], capture_output=True, check=False
    )
    return probe.returncode == 0


STATS_INTRO = """\
## Land-cover statistics of a 256×256 patch (issue 2)

Target: `landcover_stats` within 3× of one bare `numpy.bincount` over the same patch.
For scale, ChatEarthNet's own scripts spend about 22 ms per patch on the statistics
and 20 ms decoding the colour map (ANCHORS.md).

| what | median per patch | × bincount |
| --- | --- | --- |"""

INGEST_INTRO = """\
## Ingest end to end (issue 2)

Target: at least 150 patches/s per worker process on a 5120×5120 synthetic scene
(read, align, previews, statistics, database writes), and peak memory flat in scene
size. One fresh process and database per measurement, median of 3 (peak RSS: the
highest of the 3); 256×256 patches, lossless WebP previews, the demo scene generator's
files (tiled, band-interleaved, deflate). The baseline is the straightforward
per-patch pipeline (`benchmarks/naive_ingest.py`: a window read and a label
reprojection per patch, `transform_bounds` per patch, `np.unique` statistics, PNG at
Pillow's default level, no database) on the same scene in the same run.

| database | scene | patches | patches/s | peak RSS |
| --- | --- | --- | --- | --- |"""


GENERATION_INTRO = """\
## Caption generation through real Celery workers (issue 3)

Targets: the offline backend at least 500 captions/s through a real worker, database
writes included; the OpenAI backend against a local server that answers after 1 s at
least 90% of the configured concurrency per second (64 in flight over 2 worker
processes: 57.6 captions/s), and never more requests in any 60 s window than the
configured limit, counted at the server (`tests/fake_openai.py`). One Celery worker
with 2 processes (prefork), fresh database and broker per run; rates are from the
job's own start and end times. Baselines from the same run: the same offline captions
written one `INSERT` at a time in one process; ChatEarthNet's scripts (one request at
a time, then a 0.5 s sleep) against the same 1 s server.

| database + broker | what | captions | captions/s | notes |
| --- | --- | --- | --- | --- |"""


def generation_rows(results: dict) -> list[str]:
    setup = f"{results['database']} + {results['broker']}"
    offline, rows = results["offline"], []
    job, naive = offline["job"], offline["baseline"]
    rows.append(
        f"| {setup} | offline job | {job['done']} | {job['captions_per_s']:.0f} | "
        f"{job['captions_per_s'] / naive['captions_per_s']:.1f}× the baseline |"
    )
    rows.append(
        f"| {setup} | offline, one INSERT each (baseline) | {naive['captions']} | "
        f"{naive['captions_per_s']:.0f} | |"
    )
    if "openai" in results:
        run = results["openai"]
        rows.append(
            f"| {setup} | openai, 1 s server, 64 in flight | {run['done']} | "
            f"{run['captions_per_s']:.1f} | {run['captions_per_s'] / 64:.0%} of 64/s; "
            f"peak {run['max_in_flight']} in flight at the server |"
        )
    if "openai_rpm" in results:
        run = results["openai_rpm"]
        rows.append(
            f"| {setup} | openai with --rpm {run['rpm_limit']} | {run['done']} | "
            f"{run['captions_per_s']:.1f} | at most **{run['max_per_60s']}** requests "
            f"in any 60 s at the server (limit {run['rpm_limit']}) |"
        )
    if "chatearthnet_scripts" in results:
        run = results["chatearthnet_scripts"]
        rows.append(
            f"| — | ChatEarthNet's scripts (baseline) | {run['captions']} | "
            f"{run['captions_per_s']:.2f} | |"
        )
    return rows


REVIEW_INTRO = """\
## The review queue on PostgreSQL (issue 4)

Targets, with 200,000 captions and 20 annotators working at once: claim-next plus the
review page, server time p95 <= 50 ms; an approve round trip p95 <= 50 ms; 10,000
concurrent claims, zero duplicates. Server time is Django's own handling of the
requests (middleware, view, template, queries) measured in-process with the test
client, each annotator a thread logged in as themselves, DEBUG off; the baseline of
the same run is the same work on a queue of 20,000 captions (flatness). The
20-annotator run puts all 20 in one Python process, so the GIL serialises them: it
measures a single-process server, not a deployment with several worker processes.

| captions | people | think s | claims | dupl. | claim+page p50/p95 | approve p50/p95 |
| --- | --- | --- | --- | --- | --- | --- |"""


REVIEW_HTTP_INTRO = """\
## The review queue through gunicorn (issue 4)

The same targets through a real server (`benchmarks/bench_review_http.py`): gunicorn
with one worker process per core on loopback, PostgreSQL, 20 annotators as client
threads each with their own session, 1 s between items, each annotator's first two
items left out as warm-up. Server time is what the responses' Server-Timing header
reports (the sum of the claim's and the page's); client time adds two loopback HTTP
round trips and the client threads' own share of the cores (p50 / p95 each).

The second row mixes in the quality loop (issue 12): a third of the captions verified
beforehand by a 21st reviewer, QA at 10% (of those, and of every approval in the run)
and gold at 2% of all captions, served to the 20 as any caption. "Dupl." counts
captions two people held at once (a span from the claim's answer to the save's request,
inside each holding, overlapping another's); a caption coming back later as a second
opinion or a gold item is not one.

| captions | QA / gold | people | servers | claims | dupl. | server: claim+page |"""
REVIEW_HTTP_INTRO += """ approve | client: claim+page | approve |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"""


def review_http_arguments(pg: str, qa: str, gold: str) -> list[str]:
    return [
        "--database-url", pg.rsplit("/", 1)[0] + "/bench_review",
        "--captions", "200000", "--claims", "10000",
        "--server-processes", str(os.cpu_count() or 2),
        "--qa-rate", qa, "--gold-rate", gold,
    ]  # fmt: skip


def review_http_row(run: dict) -> str:
    return (
        f"| {run['captions']:,} | {run['qa_rate']:.0%} / {run['gold_rate']:.0%} | "
        f"{run['annotators']} | {run['server_processes']} | "
        f"{run['claims']} | **{run['duplicates']}** | "
        f"{run['server_claim_page_p50_ms']:.0f} / "
        f"**{run['server_claim_page_p95_ms']:.0f}** ms | "
        f"{run['server_approve_p50_ms']:.0f} / "
        f"**{run['server_approve_p95_ms']:.0f}** ms | "
        f"{run['claim_page_p50_ms']:.0f} / {run['claim_page_p95_ms']:.0f} ms | "
        f"{run['approve_p50_ms']:.0f} / {run['approve_p95_ms']:.0f} ms |"
    )


def review_rows(runs: list[dict]) -> list[str]:
    rows = []
    for results in runs:
        for key, run in results.items():
            if not key.isdigit():
                continue
            rows.append(
                f"| {run['captions']:,} | {run['annotators']} | {run.get('think_s')} "
                f"| {run['claims']} | **{run['duplicates']}** | "
                f"{run['claim_page_p50_ms']:.0f} / {run['claim_page_p95_ms']:.0f} ms | "
                f"{run['approve_p50_ms']:.0f} / {run['approve_p95_ms']:.0f} ms |"
            )
    return rows


def landcover_block(stats: dict) -> list[str]:
    base = stats["bincount"]
    lines = [STATS_INTRO]
    for name, seconds in stats.items():
        lines.append(f"| `{name}` | {seconds * 1e6:.0f} µs | {seconds / base:.2f} |")
    return lines


def ingest_lines(sqlite: dict, postgres: dict | None) -> list[str]:
    lines = [INGEST_INTRO]
    for label, results in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        for key, value in (results or {}).items():
            if not isinstance(value, dict):
                continue
            kind, size = key.split("_")
            name = f"{size}×{size}" + (" (baseline)" if kind == "baseline" else "")
            lines.append(
                f"| {label} | {name} | {value['patches']} | "
                f"{value['patches_per_s']:.0f} | {value['peak_mb']:.0f} MB |"
            )
    sizes = sorted(
        int(key.split("_")[1]) for key in sqlite if key.startswith("ingest_")
    )
    small, large = sqlite[f"ingest_{sizes[0]}"], sqlite[f"ingest_{sizes[-1]}"]
    baseline = sqlite.get(f"baseline_{sizes[-1]}")
    lines.append("")
    if baseline:
        ratio = large["patches_per_s"] / baseline["patches_per_s"]
        lines.append(f"Ingest vs the per-patch baseline: **{ratio:.1f}×** faster.")
    growth = large["peak_mb"] / small["peak_mb"]
    lines.append(
        f"Peak memory at {sizes[-1]}² vs {sizes[0]}² "
        f"({(sizes[-1] / sizes[0]) ** 2:.0f}× the pixels): **{growth:.2f}×**."
    )
    return lines


EXPORT_INTRO = """\
## Export and list pages through a real server (issue 5)

Targets: the JSONL export of 173,488 verified pairs in <= 20 s end to end through HTTP,
the server process's peak memory <= 250 MB and the same (within 10%) at 20,000 and
173,488 pairs; a list page in <= 50 ms at that size. `benchmarks/bench_export.py`:
a fresh PostgreSQL database per size filled by `make_benchmark_data` (every pair
verified), gunicorn with one worker process, a consumer with a token downloading
over loopback; peak memory is the worker's VmHWM (Django's start-up included). The
baseline of the same run builds the same records as one list and serialises them
with one `json.dumps`, as the tools we replace do (ANCHORS.md). List pages: the
default page (50), first and 50 cursors deep, 30 requests each, time at the client
and the server's own (Server-Timing).

| pairs | export s | MB sent | server peak | one json.dumps (baseline) |
| --- | --- | --- | --- | --- |"""


def export_block(runs: list[dict]) -> list[str]:
    lines = [EXPORT_INTRO]
    for run in runs:
        export, naive = run["export"], run["naive"]
        lines.append(
            f"| {run['pairs']:,} | **{export['seconds']:.1f} s** | "
            f"{export['bytes'] / 1e6:.0f} | **{export['server_peak_mb']:.0f} MB** | "
            f"{naive['seconds']:.1f} s, {naive['peak_mb']:.0f} MB |"
        )
    small, large = runs[0]["export"], runs[-1]["export"]
    lines += [
        "",
        f"Server peak memory at {runs[-1]['pairs']:,} vs {runs[0]['pairs']:,} pairs: "
        f"**{large['server_peak_mb'] / small['server_peak_mb']:.2f}×**.",
        "",
        "| pairs | list | page | client p50 / p95 | server p50 / p95 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        for path, pages in run["pages"].items():
            for depth, timing in pages.items():
                lines.append(
                    f"| {run['pairs']:,} | `{path}` | {depth} | "
                    f"{timing['client_p50_ms']:.0f} / {timing['client_p95_ms']:.0f} ms "
                    f"| {timing['server_p50_ms']:.0f} / "
                    f"**{timing['server_p95_ms']:.0f}** ms |"
                )
    return lines


CHECKS_INTRO = """\
## Caption checks on planted errors (issue 11)

Targets: at least 95% of the planted errors caught overall and at least 90% of each
kind, at most 5% of the clean captions flagged (`benchmarks/bench_checks.py`). The set
(`captions/devdata/planted_errors.py`, seed 11) holds synthetic patches' statistics,
their clean captions from two writers (the offline backend, and a template writer in
ChatEarthNet's manner that says sizes as size phrases, fractions, percentages, "most
of", "mostly", "dominates", "the main land cover … is"), and copies of them with one
error planted each. A planted error counts as caught when its kind's check flags the
planted words; a clean caption counts as flagged when any check finds anything. A
planted wrong size lies at least 10 points outside the band its words claim, while
the size check flags a size only beyond 5 points (`SIZE_MARGIN`): a phrase one level
off at a band's edge ("large" for 46%) is neither planted nor flagged, by design. The
set and the checks were written by the same people; the figures show that the checks
do what they say on varied phrasings, not how they fare on a real model's captions.

| kind | planted (offline + templates) | caught by its check | recall | flagged at all |
| --- | --- | --- | --- | --- |"""


def checks_block(results: dict) -> list[str]:
    lines = [CHECKS_INTRO]
    for kind, result in results["kinds"].items():
        sources = result["by_source"]
        lines.append(
            f"| {kind} | {result['planted']} ({sources.get('offline', 0)} + "
            f"{sources.get('templates', 0)}) | {result['caught']} | "
            f"**{result['recall']:.1%}** | {result['flagged_at_all']} |"
        )
    caught = sum(result["caught"] for result in results["kinds"].values())
    lines.append(
        f"| all | {results['planted']} | {caught} | **{results['recall']:.1%}** | |"
    )
    clean = results["clean"]
    by_check = ", ".join(f"{check} {n}" for check, n in clean["checks"].items())
    sources = clean["by_source"]
    lines += [
        "",
        "| clean captions (offline + templates) | flagged | by which checks |",
        "| --- | --- | --- |",
        f"| {clean['captions']} ({sources['offline']} + {sources['templates']}) | "
        f"**{clean['flagged']} ({clean['flagged_share']:.1%})** | {by_check or '—'} |",
        "",
        f"Targets {'met' if results['targets_met'] else '**missed**'}. "
        f"`check_caption` took {results['check_us']:.0f} µs a caption on this set "
        "(median of 5 passes).",
    ]
    missed = [text for result in results["kinds"].values() for text in result["missed"]]
    if missed:
        lines += ["", "Missed:", ""]
        lines += [f"- {text}" for text in missed]
    return lines


RELEASE_INTRO = """\
## Building a release: ChatEarthNet's layout against the product layout (issue 11)

The same frozen pairs built in both layouts, alternately, in one process as a worker
builds them (SQLite, `benchmarks/bench_release.py`), median of 3 builds each. The
product layout copies each stored preview (lossless WebP) as it is; ChatEarthNet's
layout decodes it and writes PNG (`compress_level=1`) under the patch's name, on
`COPY_THREADS` threads. The benchmark data's previews are synthetic, noise-like
textures (about 134 kB of WebP per 256×256 patch), harder to compress than real
Sentinel-2 crops, so PNG costs more here than it would on real imagery (DOMAIN.md
section 8 measured 180 PNG encodings/s at this level on real crops).

| pairs | images | product layout | ChatEarthNet layout | ratio |
| --- | --- | --- | --- | --- |"""


def release_block(result: dict) -> list[str]:
    return [
        RELEASE_INTRO,
        f"| {result['pairs']:,} | {result['images']:,} | "
        f"{result['product_s']:.1f} s ({result['product_images_per_s']:.0f} images/s)"
        f" | {result['chatearthnet_s']:.1f} s "
        f"({result['chatearthnet_images_per_s']:.0f} images/s) | "
        f"**{result['ratio']:.1f}×** |",
    ]


REVIEW_BROWSER_INTRO = """\
## The next caption at once, in a real browser (issue 12)

Target: from the key press (`a`) to the next caption's text and both images painted,
p95 at most 50 ms over 200 consecutive reviews, through gunicorn (2 worker
processes, PostgreSQL) in headless Chromium (`benchmarks/bench_review_browser.py`).
The page swaps in the caption claimed ahead, whose page it fetched and whose images
it decoded in the background, and saves in the background. Baseline in the same run:
the path before issue 12, reproduced by the script (the next page prefetched, the
save waited for, then the next page loaded). "Swap" is the page's own work, from the
key press to the swap's end, before the browser paints.

| path | p50 | p95 | max |
| --- | --- | --- | --- |"""


def review_browser_block(result: dict) -> list[str]:
    rows = [REVIEW_BROWSER_INTRO]
    for path, label in (
        ("instant", "next caption at once (key press to painted)"),
        ("page_load", "save, then page load (baseline)"),
        ("swap", "swap alone"),
    ):
        if f"{path}_p95_ms" in result:
            rows.append(
                f"| {label} | {result[f'{path}_p50_ms']} ms | "
                f"**{result[f'{path}_p95_ms']} ms** | {result[f'{path}_max_ms']} ms |"
            )
    return rows


DASHBOARD_INTRO = """\
## The dashboard for a curator (issue 12)

Target: `GET /` as a curator, p95 <= 200 ms, with 200,000 captions on PostgreSQL
(`benchmarks/bench_dashboard.py`): `make_benchmark_data` with half the captions
verified over the last 14 days, the reviews shared among 20 annotators, a second
opinion answered on 10% of the verified captions and a gold answer on 2% of the
captions. Server time in-process (Django's test client: middleware, view, template,
queries), DEBUG off, the cache in Redis. The figures over all captions are computed
at most once a minute (docs/quality.md, "Dashboard figures"): the cached run sends
one request every {interval_s} s for {seconds:.0f} s, so the requests that compute them
again are in the percentiles at the rate a steady visitor meets them. Baseline in
the same run: the same page with the cache off, computing the figures on every
request as the page did before.

| page | requests | p50 | p95 | max |
| --- | --- | --- | --- | --- |"""


def dashboard_block(pg: str) -> list[str]:
    """The section's database is named after `pg`'s: `<name>_dashboard`."""
    run = bench_dashboard.main(
        ["--database-url", f"{pg}_dashboard", "--cache-url",
         os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")]
    )  # fmt: skip
    intro = DASHBOARD_INTRO.format(**run)
    rows = [intro]
    for key, label in (
        ("baseline", "curator, figures computed on each request (baseline)"),
        ("cached", f"curator, figures cached ({run['fresh_seconds']} s)"),
        ("annotator", "annotator: own row computed, dataset figures cached"),
    ):
        timing = run[key]
        rows.append(
            f"| {label} | {timing['requests']} | {timing['p50_ms']:.0f} ms | "
            f"**{timing['p95_ms']:.0f} ms** | {timing['max_ms']:.0f} ms |"
        )
    parts = ", ".join(f"`{name}` {ms:.0f} ms" for name, ms in run["parts_ms"].items())
    rows += [
        "",
        f"In the cached run the figures were computed {run['cached']['recomputed']} "
        f"times (the max above is such a request); the cache was {run['cache']}. "
        f"Each figure alone, uncached (median of 3): {parts}. The world: "
        f"{run['qa_answered']:,} second opinions and {run['gold_answers']:,} gold "
        f"answers; filled in {run['fill_seconds']:.0f} s. Machine: {machine()}.",
    ]
    return rows


HEADER = [
    "# Benchmarks",
    "",
    "Measured by `make bench` (`benchmarks/run.py`); the last run's machine:",
    "{machine}. Sections from earlier runs may come from another machine of the same",
    "kind. Timings vary by ±30% from run to run, so each figure is a median and stands",
    "beside a baseline from the same run; each section says the date it was measured.",
    "",
]


def write_report(blocks: list[list[str]], *, partial: bool) -> None:
    """Write the report; `partial`: replace only these sections of the old one."""
    today = dt.date.today().isoformat()
    for block in blocks:
        heading, rest = block[0].split("\n", 1)
        block[0] = f"{heading}\n\n_Measured {today}._\n{rest}"
    path = ROOT / "docs" / "benchmarks.md"
    sections: dict[str, str] = {}
    order: list[str] = []
    header = "\n".join(HEADER).replace("{machine}", machine())
    if partial and path.exists():
        old = path.read_text()
        # A partial run keeps the old preamble (machine line and notes) as it was.
        header = old.split("\n## ", 1)[0].rstrip("\n") + "\n"
        for chunk in old.split("\n## ")[1:]:
            heading = "## " + chunk.split("\n", 1)[0]
            sections[heading] = "## " + chunk.rstrip("\n")
            order.append(heading)
    for block in blocks:
        heading = block[0].split("\n", 1)[0]
        if heading not in sections:
            order.append(heading)
        sections[heading] = "\n".join(block)
    text = header + "\n" + "\n\n".join(sections[name] for name in order) + "\n"
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
