"""What the map shows of a viewport (issue 14): patches counted in cells of a global
grid at low zoom, footprints (and previews) when zoomed in. The contract the map
page and `GET /api/v1/map/` share: docs/api.md, "The map's data".

A patch's map status is its newest caption's (highest id), or "uncaptioned"; it
belongs to the cell of its centre. Cells are square in degrees, `cell_degrees(zoom)`
on a side (64 screen pixels at the equator), aligned to a grid that starts at
-180° / -90°, so panning never moves them and a cell of one zoom is exactly four of
the next.

Speed: at 200,000 patches a world view holds every patch, and counting them with
their newest caption costs the database half a second or more, so below
`FOOTPRINT_ZOOM` the cells come from one grid of `BASE_ZOOM` cells per caller's
scope and filter, counted in SQL (`GROUP BY` cell, status, class) and summed here
into the coarser cells a viewport asks for. The grid is cached like the dashboard's
figures (computed at most once a minute, `verification.dashboard.cached_figures`),
so low-zoom counts may be that old; footprints, and the cells of a crowded
zoomed-in viewport, are read at each request."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import Case, When
from django.db.models.functions import Coalesce
from django.utils.encoding import filepath_to_uri

from captions.geo.bbox import BoundingBox
from captions.models import Caption, Patch
from captions.selectors import newest_captions, patches_intersecting
from verification.dashboard import STATUS_COLOURS as CAPTION_STATUS_COLOURS
from verification.dashboard import cached_figures
from verification.models import Revision
from verification.roles import ROLES, has_role, reads_every_verdict

UNCAPTIONED = "uncaptioned"
MAP_STATUSES = (*Caption.Status.values, UNCAPTIONED)
# The dashboard's colours of the caption statuses, and one for patches without one.
STATUS_COLOURS = {**CAPTION_STATUS_COLOURS, UNCAPTIONED: "#795548"}
FOOTPRINT_ZOOM = 8
# From here a 256-pixel patch (2.56 km) covers about 60 screen pixels, and a
# 1280×800 window holds a few hundred of them at most.
PREVIEW_ZOOM = 12
MAX_FOOTPRINTS = 2000
MAX_ZOOM = 22
# Cells 64 pixels wide at the equator: 256-pixel tiles cover 360° at zoom 0.
CELL_DEGREES_AT_ZOOM_0 = 90.0
# The zoom of the cached grid the coarser cells are summed from.
BASE_ZOOM = FOOTPRINT_ZOOM - 1
NO_CLASS = "none"
# Degrees: the margin of the footprints' latitude range even if every patch is smaller.
TALLEST_AT_LEAST = 1.0


def cell_degrees(zoom: int) -> float:
    return CELL_DEGREES_AT_ZOOM_0 / 2**zoom


def may_see_map(user: Any) -> bool:
    return has_role(user, *ROLES)


@dataclass(frozen=True)
class MapRequest:
    box: BoundingBox
    zoom: int
    split: str | None = None
    status: str | None = None


@dataclass
class _Cell:
    count: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)

    def add(self, status: str, dominant_class: int | None, n: int) -> None:
        self.count += n
        self.statuses[status] = self.statuses.get(status, 0) + n
        key = NO_CLASS if dominant_class is None else str(dominant_class)
        self.classes[key] = self.classes.get(key, 0) + n

    def merge(self, count: int, statuses: dict, classes: dict) -> None:
        self.count += count
        for status, n in statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for key, n in classes.items():
            self.classes[key] = self.classes.get(key, 0) + n


def map_data(*, user: Any, request: MapRequest) -> dict:
    """The contract's answer for `request` as `user` sees the dataset: curators and
    consumers every patch, annotators the patches whose captions they reviewed."""
    patches = _filtered(visible_patches(user), request)
    answer: dict[str, Any] = {
        "zoom": request.zoom,
        "footprint_zoom": FOOTPRINT_ZOOM,
        "preview_zoom": PREVIEW_ZOOM,
    }
    if request.zoom >= FOOTPRINT_ZOOM:
        in_view = patches_intersecting(patches, box=request.box).filter(
            # Implied by the footprint meeting the box; it bounds the index's range
            # on its first column (south <= the box's north alone reads half of it).
            south__gte=request.box.south - _tallest_footprint()
        )
        total = in_view.values("pk")[: MAX_FOOTPRINTS + 1].count()
        if total <= MAX_FOOTPRINTS:
            footprints = _footprints(
                in_view, with_previews=request.zoom >= PREVIEW_ZOOM
            )
            return {
                **answer,
                "mode": "patches",
                "total": total,
                "cells": [],
                "patches": footprints,
            }
        cells = _counted(_cell_rows(patches, request), request)
    else:
        cells = _summed(_base_grid(user, request), request)
    return {
        **answer,
        "mode": "cells",
        "total": sum(cell["count"] for cell in cells),
        "cell_degrees": cell_degrees(request.zoom),
        "cells": cells,
        "patches": [],
    }


def visible_patches(user: Any) -> QuerySet[Patch]:
    """The patches `user` may see on the map (callers check `may_see_map` first)."""
    patches = Patch.objects.order_by()
    if reads_every_verdict(user):
        return patches
    reviewed = Caption.objects.filter(reviewed_by=user).values("patch_id")
    revised = Revision.objects.filter(user=user).values("caption__patch_id")
    return patches.filter(Q(pk__in=reviewed) | Q(pk__in=revised))


def _tallest_footprint() -> float:
    """The greatest north - south of a patch, at least `TALLEST_AT_LEAST`; kept
    like the grid, so a taller patch ingested meanwhile may be missed by the
    footprints for up to a minute (a patch is 0.02° tall at 10 m a pixel)."""
    found = cached_figures(
        "map-tallest",
        lambda: Patch.objects.aggregate(tallest=Max(F("north") - F("south"))),
    )
    return max(found["tallest"] or 0.0, TALLEST_AT_LEAST)


def _with_status(patches: QuerySet[Patch]) -> QuerySet[Patch]:
    return patches.annotate(
        map_status=Coalesce(
            Subquery(newest_captions().values("status")[:1]), Value(UNCAPTIONED)
        )
    )


def _filtered(patches: QuerySet[Patch], request: MapRequest) -> QuerySet[Patch]:
    patches = _with_status(patches)
    if request.split is not None:
        patches = patches.filter(split=request.split)
    if request.status is not None:
        # A Q: the type checker's plugin cannot see the annotation through the
        # helper that adds it.
        patches = patches.filter(Q(map_status=request.status))
    return patches


def _footprints(patches: QuerySet[Patch], *, with_previews: bool) -> list[dict]:
    # Sorted here: ORDER BY id has SQLite walk the whole table in id order instead
    # of the viewport's few rows through the footprint index.
    rows = sorted(
        patches.annotate(
            caption_id=Subquery(newest_captions().values("id")[:1])
        ).values_list(
            "pk",
            "source_name",
            "caption_id",
            "west",
            "south",
            "east",
            "north",
            "map_status",
            "dominant_class",
            "rgb_preview",
        )
    )
    media_url = settings.MEDIA_URL
    return [
        {
            "id": pk,
            "name": name,
            "caption_id": caption_id,
            "west": west,
            "south": south,
            "east": east,
            "north": north,
            "status": status,
            "dominant_class": dominant_class,
            "rgb_preview": media_url + filepath_to_uri(preview)
            if with_previews and preview
            else None,
        }
        for (
            pk,
            name,
            caption_id,
            west,
            south,
            east,
            north,
            status,
            dominant_class,
            preview,
        ) in rows
    ]


# --- cells ---------------------------------------------------------------------------


class _CellIndex(Func):
    """floor() of a value that is never negative, as an integer. On SQLite a CAST,
    which truncates (the floor here) natively: Django's FLOOR there is a Python
    function called once per row."""

    function = "FLOOR"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="CAST(%(expressions)s AS INTEGER)", **extra
        )


def _centre_longitude() -> Any:
    middle = (F("west") + F("east")) / 2.0
    # A footprint across the antimeridian (west > east) has its centre 180° off the
    # plain mean; a centre at exactly 180 lands one cell past the grid and is
    # wrapped when the rows are read.
    return Case(
        When(west__lte=F("east"), then=middle),
        When(Q(west__gt=F("east")) & Q(west__lt=-F("east")), then=middle + 180.0),
        default=middle - 180.0,
        output_field=FloatField(),
    )


def _cell_rows(patches: QuerySet[Patch], request: MapRequest) -> QuerySet:
    """(x, y, status, class, count) of the viewport's cells at the request's zoom,
    counted in SQL; the patches' centres fall in the cells that meet the box."""
    size = cell_degrees(request.zoom)
    x_ranges, (y_low, y_high) = _cell_ranges(request.box, request.zoom)
    # An index-friendly first cut: a patch whose centre is in these cells meets
    # the cells' box.
    cells_box = BoundingBox(
        west=-180 + x_ranges[0][0] * size,
        south=-90 + y_low * size,
        east=min(-180 + (x_ranges[-1][1] + 1) * size, 180),
        north=min(-90 + (y_high + 1) * size, 90),
    )
    in_cells = patches_intersecting(patches, box=cells_box).filter(
        south__gte=cells_box.south - _tallest_footprint()
    )
    centred = in_cells.annotate(
        cell_x=_CellIndex((_centre_longitude() + 180.0) / size),
        cell_y=_CellIndex(((F("south") + F("north")) / 2.0 + 90.0) / size),
    )
    columns = round(360 / size)
    in_x = Q()
    for low, high in x_ranges:
        # The last column takes the centres at exactly 180° too (wrapped later).
        last = columns if high == columns - 1 else high
        in_x |= Q(cell_x__gte=low, cell_x__lte=last)
    return _grouped(
        centred.filter(in_x, cell_y__gte=y_low, cell_y__lte=y_high),
        "cell_x",
        "cell_y",
        "map_status",
        "dominant_class",
    )


def _grouped(patches: QuerySet, *fields: str) -> QuerySet:
    return (
        patches.values(*fields)
        .annotate(patches=Count("pk"))
        .values_list(*fields, "patches")
        .order_by()
    )


def _cell_ranges(
    box: BoundingBox, zoom: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The grid's column ranges (two across the antimeridian) and row range of the
    cells that meet the box."""
    size = cell_degrees(zoom)
    columns, rows = round(360 / size), round(180 / size)

    def column(longitude: float) -> int:
        return min(int((longitude + 180) // size), columns - 1)

    west, east = column(box.west), column(box.east)
    x_ranges = (
        [(west, east)] if box.west <= box.east else [(west, columns - 1), (0, east)]
    )
    y_range = (
        min(int((box.south + 90) // size), rows - 1),
        min(int((box.north + 90) // size), rows - 1),
    )
    return x_ranges, y_range


def _counted(rows: Any, request: MapRequest) -> list[dict]:
    columns = round(360 / cell_degrees(request.zoom))
    cells: dict[tuple[int, int], _Cell] = {}
    for x, y, status, dominant_class, n in rows:
        cells.setdefault((int(x) % columns, int(y)), _Cell()).add(
            status, dominant_class, n
        )
    return _as_json(cells, request.zoom)


def _as_json(cells: dict[tuple[int, int], _Cell], zoom: int) -> list[dict]:
    size = cell_degrees(zoom)
    return [
        {
            "west": -180 + x * size,
            "south": -90 + y * size,
            "east": -180 + (x + 1) * size,
            "north": -90 + (y + 1) * size,
            "count": cell.count,
            "statuses": cell.statuses,
            "classes": cell.classes,
        }
        for (x, y), cell in sorted(cells.items(), key=lambda item: item[0][::-1])
    ]


def _base_grid(user: Any, request: MapRequest) -> list[tuple]:
    """The visible patches (of the request's split and status) counted by
    `BASE_ZOOM` cell: (x, y, count, statuses, classes) per cell that holds any.
    Computed at most once a minute per scope (everything, or one annotator's) and
    filter."""
    scope = "all" if reads_every_verdict(user) else f"user-{user.pk}"
    kind = f"map-grid:{scope}:{request.split or ''}:{request.status or ''}"
    return cached_figures(kind, lambda: _base_grid_cells(user, request))["cells"]


def _base_grid_cells(user: Any, request: MapRequest) -> dict:
    size = cell_degrees(BASE_ZOOM)
    patches = patches_intersecting(
        _filtered(visible_patches(user), request),
        box=BoundingBox(-180, -90, 180, 90),
    )
    centred = patches.annotate(
        cell_x=_CellIndex((_centre_longitude() + 180.0) / size),
        cell_y=_CellIndex(((F("south") + F("north")) / 2.0 + 90.0) / size),
    )
    rows = _grouped(centred, "cell_x", "cell_y", "map_status", "dominant_class")
    with _whole_table_read() as cursor:
        # Tuples straight from the cursor: tens of thousands of rows, and Django's
        # conversion of each took as long as the query.
        cursor.execute(*rows.query.sql_with_params())
        counted = cursor.fetchall()
    columns = round(360 / size)
    cells: dict[tuple[int, int], _Cell] = {}
    for x, y, status, dominant_class, n in counted:
        cells.setdefault((int(x) % columns, int(y)), _Cell()).add(
            status, dominant_class, n
        )
    return {
        "cells": [
            (x, y, cell.count, cell.statuses, cell.classes)
            for (x, y), cell in cells.items()
        ]
    }


@contextmanager
def _whole_table_read() -> Iterator[Any]:
    """A cursor for the grid's query; on PostgreSQL without JIT and with room to
    group in memory: at 200,000 patches compiling the query took a third of its
    second, and its sort spilled to disk."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), "
            "set_config('work_mem', '32MB', true)"
        )
        yield cursor


def _summed(grid: list[tuple], request: MapRequest) -> list[dict]:
    """The request's cells summed from the base grid's (a cell at zoom z is
    2^(BASE_ZOOM - z) base cells on a side)."""
    shift = BASE_ZOOM - request.zoom
    x_ranges, (y_low, y_high) = _cell_ranges(request.box, request.zoom)
    cells: dict[tuple[int, int], _Cell] = {}
    for x, y, count, statuses, classes in grid:
        x, y = x >> shift, y >> shift
        if not y_low <= y <= y_high:
            continue
        if not any(low <= x <= high for low, high in x_ranges):
            continue
        cells.setdefault((x, y), _Cell()).merge(count, statuses, classes)
    return _as_json(cells, request.zoom)
