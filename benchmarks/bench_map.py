"""The map's data endpoint at 200,000 patches, on SQLite and PostgreSQL (issue 14).

Target: `GET /api/v1/map/` p95 <= 100 ms of server time per viewport, for viewports of
a world view (zoom 2), a continent (zoom 5), a region (zoom 8) and a city (zoom 12).

The world: `make_benchmark_data` with 200,000 patches (half verified) in scenes of
256 patches, then each scene moved to a random place on land (a point inside a
country of the bundled Natural Earth outline, latitudes -56..70) and its patches laid
16 by 16; a tenth of the patches get a second, newer pending caption (a
regeneration), so "newest caption" differs from "a caption", and a twentieth lose
their captions (uncaptioned). Server time is Django's own handling of the request
(middleware, view, queries, JSON), in-process with the test client, DEBUG off, a
curator signed in.

Each kind's viewports are a 1280×800-pixel window at that zoom, centred on a random
patch (where people look), except the world view, which is the whole world. Baseline
in the same run and database: the naive answer, every footprint in the viewport
with its status serialised as JSON (no aggregation).

    python benchmarks/bench_map.py [--database-url postgres://…/bench_map]
        [--patches 200000] [--viewports 60]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dashboard import python  # noqa: E402
from bench_review import reset_postgres  # noqa: E402

TARGET_MS = 100.0
PATCHES_PER_SCENE = 256
KINDS = (("world", 2), ("continent", 5), ("region", 8), ("city", 12))

# Scenes moved onto land, patches laid 16 by 16; a tenth of the patches with a
# newer pending caption, a twentieth with none.
SPREAD = r"""
import json, random, sys
import django
django.setup()
from django.db import connection, transaction
from captions.devdata.benchmark_rows import insert_rows
from pathlib import Path
from captions.models import Caption, Patch, Scene

rng = random.Random(14)
COUNTRIES = "captions/geo/data/naturalearth_110m_countries.geojson"
polygons = []
for feature in json.loads(Path(COUNTRIES).read_text())["features"]:
    geometry = feature["geometry"]
    parts = (geometry["coordinates"] if geometry["type"] == "MultiPolygon"
             else [geometry["coordinates"]])
    for part in parts:
        ring = part[0]
        xs, ys = [x for x, _ in ring], [y for _, y in ring]
        polygons.append((min(xs), min(ys), max(xs), max(ys), ring))

def on_land(x, y):
    for west, south, east, north, ring in polygons:
        if not (west <= x <= east and south <= y <= north):
            continue
        inside, j = False, len(ring) - 1
        for i in range(len(ring)):
            (xi, yi), (xj, yj) = ring[i], ring[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        if inside:
            return True
    return False

def land_point():
    while True:
        x, y = rng.uniform(-180, 180), rng.uniform(-56, 70)
        if on_land(x, y):
            return x, y

step = 256 / 12000
side = 16 * step
with transaction.atomic(), connection.cursor() as cursor:
    for scene in Scene.objects.order_by("id"):
        x, y = land_point()
        west, north = min(x, 180 - side), y
        cursor.execute(
            "UPDATE captions_patch SET "
            "west = %s + ((row_off / 256 * 128 + col_off / 256) %% 16) * %s, "
            "north = %s - ((row_off / 256 * 128 + col_off / 256) / 16) * %s "
            "WHERE scene_id = %s", [west, step, north, step, scene.pk])
        cursor.execute(
            "UPDATE captions_patch SET east = west + %s, south = north - %s "
            "WHERE scene_id = %s", [step, step, scene.pk])
        Scene.objects.filter(pk=scene.pk).update(
            west=west, east=west + side, north=north, south=north - side)
    patch_ids = list(Patch.objects.order_by("id").values_list("id", flat=True))
    Caption.objects.filter(patch_id__in=patch_ids[::20]).delete()
    regenerated = [pk for index, pk in enumerate(patch_ids) if index % 10 == 3]
    for start in range(0, len(regenerated), 5000):
        insert_rows(Caption, [
            {"patch_id": pk, "job_id": None, "source": "map-bench-regeneration",
             "template_id": None, "replaces_id": None, "claimed_by_id": None,
             "reviewed_by_id": None, "generated_text": "A regenerated caption.",
             "text": "A regenerated caption.", "status": "pending"}
            for pk in regenerated[start:start + 5000]])
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
    if connection.vendor == "postgresql":
        # Index-only scans need the visibility map autovacuum would build soon.
        cursor.execute("VACUUM ANALYZE captions_patch")
        cursor.execute("VACUUM ANALYZE captions_caption")
print(json.dumps({
    "scenes": Scene.objects.count(), "patches": Patch.objects.count(),
    "captions": Caption.objects.count(),
}))
"""

MEASURE = r"""
import gc, json, math, random, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from captions.models import Caption, Patch
from captions.geo.bbox import BoundingBox
from captions.selectors import patches_intersecting
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from verification import map_data
from verification.roles import CURATOR, ensure_groups

kinds = json.loads(sys.argv[1])
viewports, baseline_viewports = int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(5)
curator = get_user_model().objects.create_user("map-bench-curator", password="x")
curator.groups.add(ensure_groups()[CURATOR])
client = Client()
client.force_login(curator)
centres = list(Patch.objects.order_by("?").values_list("west", "north")[:2000])

def window(zoom):
    # A 1280x800 window of 256-pixel Web Mercator tiles, centred on a patch.
    width = 1280 * 360 / (256 * 2 ** zoom)
    if width >= 360:
        return (-180.0, -85.0, 180.0, 85.0)
    x, y = rng.choice(centres)
    height = min(800 * 360 / (256 * 2 ** zoom) * math.cos(math.radians(y)), 170)
    south, north = max(y - height / 2, -85), min(y + height / 2, 85)
    west, east = x - width / 2, x + width / 2
    if west < -180:
        west += 360
    if east > 180:
        east -= 360
    return (round(west, 6), round(south, 6), round(east, 6), round(north, 6))

def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

def ask(box, zoom):
    bbox = ",".join(map(str, box))
    started = time.perf_counter()
    response = client.get("/api/v1/map/", {"bbox": bbox, "zoom": zoom})
    took = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return took, response

newest = Caption.objects.filter(patch=OuterRef("pk")).order_by("-id")

def naive(box):
    # Every footprint in the viewport with its newest caption's status, as JSON.
    rows = patches_intersecting(Patch.objects.order_by(), box=BoundingBox(*box))
    rows = rows.annotate(
        caption_id=Subquery(newest.values("id")[:1]),
        status=Coalesce(Subquery(newest.values("status")[:1]), Value("uncaptioned")),
    ).values_list("id", "source_name", "west", "south", "east", "north",
                  "dominant_class", "status", "caption_id")
    return json.dumps({"patches": [
        {"id": pk, "name": name, "west": w, "south": s, "east": e, "north": n,
         "dominant_class": cls, "status": status, "caption_id": caption}
        for pk, name, w, s, e, n, cls, status, caption in rows.iterator(2000)]})

from django.core.cache import cache
ask((-1.0, -1.0, 1.0, 1.0), 12)  # warm-up: URL patterns, the first connection
# The grid the low zooms are summed from, computed (a cold cache): what one request
# a minute pays while people look at the map.
grid_ms = []
for _ in range(3):
    cache.clear()
    grid_ms.append(ask(window(2), 2)[0])
results = {}
for name, zoom in kinds:
    boxes = [window(zoom) for _ in range(viewports)]
    timings, modes, totals, sizes = [], {}, [], []
    for box in boxes:
        took, response = ask(box, zoom)
        body = response.json()
        timings.append(took)
        modes[body["mode"]] = modes.get(body["mode"], 0) + 1
        totals.append(body["total"])
        sizes.append(len(response.content))
    # The selector and json.dumps alone, on the baseline's footing (no middleware).
    direct_ms = []
    for box in boxes:
        started = time.perf_counter()
        json.dumps(map_data.map_data(user=curator, request=map_data.MapRequest(
            box=BoundingBox(*box), zoom=zoom)))
        direct_ms.append((time.perf_counter() - started) * 1000)
    naive_ms, naive_bytes = [], []
    for box in boxes[:baseline_viewports]:
        started = time.perf_counter()
        text = naive(box)
        naive_ms.append((time.perf_counter() - started) * 1000)
        naive_bytes.append(len(text))
        del text
    gc.collect()  # the baseline's garbage, not the next kind's requests'
    results[name] = {
        "zoom": zoom, "viewports": len(boxes), "modes": modes,
        "p50_ms": pct(timings, 0.5), "p95_ms": pct(timings, 0.95),
        "max_ms": max(timings),
        "patches_median": pct(totals, 0.5), "patches_max": max(totals),
        "kb_median": pct(sizes, 0.5) / 1000,
        "direct_p50_ms": pct(direct_ms, 0.5), "direct_p95_ms": pct(direct_ms, 0.95),
        "naive_viewports": len(naive_ms), "naive_p50_ms": pct(naive_ms, 0.5),
        "naive_p95_ms": pct(naive_ms, 0.95),
        "naive_kb_median": pct(naive_bytes, 0.5) / 1000,
    }
print(json.dumps({"database": connection.vendor, "kinds": results,
                  "grid_ms": sorted(grid_ms)[1]}))
"""


def environment(work: str, database_url: str | None) -> dict:
    env = {
        **os.environ,
        "VAR_DIR": work,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-key",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "ERROR",
        "MEDIA_ROOT": str(Path(work) / "media"),
        # DEBUG off needs the folders ingest may read; none is read here.
        "INGEST_ROOTS": "/nonexistent/benchmark-imagery",
    }
    for name in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
        reset_postgres(database_url)
    return env


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def measure(database_url: str | None, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as work:
        env = environment(work, database_url)
        started = time.perf_counter()
        python(env, "manage.py", "migrate", "--noinput", "-v", "0")
        python(env, "manage.py", "make_benchmark_data", "--patches",
               str(args.patches), "--verified-fraction", "0.5", "--no-progress",
               "--patches-per-scene", str(PATCHES_PER_SCENE))  # fmt: skip
        world = last_json(python(env, "-c", SPREAD))
        fill_s = time.perf_counter() - started
        kinds = json.dumps([list(kind) for kind in KINDS])
        measured = last_json(
            python(env, "-c", MEASURE, kinds, str(args.viewports),
                   str(args.baseline_viewports))
        )  # fmt: skip
    return {**measured, **world, "fill_seconds": round(fill_s, 1),
            "load_average": os.getloadavg()[0]}  # fmt: skip


INTRO = """\
## Map data endpoint (issue 14)

Target: `GET /api/v1/map/` at 200,000 patches, p95 <= 100 ms of server time per
viewport, on SQLite and PostgreSQL (`benchmarks/bench_map.py`). The world:
`make_benchmark_data` (half the captions verified) with its scenes of 256 patches
moved to random places on land, patches 16 by 16; a tenth of the patches with a
newer pending caption, a twentieth uncaptioned. Each viewport is a 1280×800-pixel
window at its zoom centred on a random patch (the world view: the whole world),
asked by a curator in-process through Django's test client (middleware, view,
queries, JSON), DEBUG off. Cells below zoom 8 or above 2,000 patches in view;
footprints from zoom 8, previews' URLs from zoom 12. Baseline in the same run: every
footprint in the viewport read with its newest caption's status and serialised with
`json.dumps` (no aggregation), on the first viewports of each kind; "selector + JSON"
is the endpoint's own answer (`verification.map_data.map_data`) and `json.dumps` on
that footing, without the request's authentication, middleware and rendering.

| database | viewport | zoom | viewports | answer | patches in view (median / max) \
| p50 | p95 | max | JSON | selector + JSON p50 / p95 | baseline p50 / p95 \
| baseline JSON |
| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: \
| ---: |"""


def block(results: list[dict], machine: str) -> list[str]:
    """The section of docs/benchmarks.md (benchmarks/run.py, section 'map')."""
    rows = [INTRO]
    for run in results:
        for name, kind in run["kinds"].items():
            verdict = "✓" if kind["p95_ms"] <= TARGET_MS else "✗"
            modes = ", ".join(
                f"{mode} {n}" for mode, n in sorted(kind["modes"].items())
            )
            rows.append(
                f"| {run['database']} | {name} | {kind['zoom']} | {kind['viewports']} "
                f"| {modes} | {kind['patches_median']:,} / {kind['patches_max']:,} | "
                f"{kind['p50_ms']:.1f} ms | **{kind['p95_ms']:.1f} ms** {verdict} | "
                f"{kind['max_ms']:.0f} ms | {kind['kb_median']:.0f} kB | "
                f"{kind['direct_p50_ms']:.1f} / {kind['direct_p95_ms']:.1f} ms | "
                f"{kind['naive_p50_ms']:.0f} / "
                f"{kind['naive_p95_ms']:.0f} ms ({kind['naive_viewports']}) | "
                f"{kind['naive_kb_median']:,.0f} kB |"
            )
    worlds = "; ".join(
        f"{run['database']}: {run['patches']:,} patches, {run['captions']:,} "
        f"captions, filled in {run['fill_seconds']:.0f} s, load average "
        f"{run['load_average']:.1f} at the end"
        for run in results
    )
    grids = ", ".join(f"{run['database']} {run['grid_ms']:.0f} ms" for run in results)
    rows += [
        "",
        "The low zooms' counts come from a grid of zoom-7 cells computed at most once "
        'a minute (docs/api.md, "The map\'s data"); the figures above are of that '
        "grid cached, as all but one request a minute meet it. The request that "
        "computes it took "
        f"(median of 3, world view): {grids}.",
        "",
        f"The worlds: {worlds}. Machine: {machine}.",
    ]
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=200_000)
    parser.add_argument("--viewports", type=int, default=60)
    parser.add_argument("--baseline-viewports", type=int, default=5)
    parser.add_argument(
        "--database-url", action="append", default=[],
        help="A PostgreSQL database to fill (dropped and made again); SQLite runs "
        "in a temporary folder either way.",
    )  # fmt: skip
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for database_url in ([] if args.no_sqlite else [None]) + args.database_url:
        run = measure(database_url, args)
        print("map", json.dumps(run), flush=True)
        results.append(run)
    return results


if __name__ == "__main__":
    main()
