"""Footprints as GeoJSON (RFC 7946), written as a stream.

Plain Python, no Django. The patches API's `?format=geojson` and the export's
`geojson` format both draw a footprint with `footprint_geometry()` and frame their
Features with `FeatureCollectionWriter`, one Feature at a time: a file of any size is
written in flat memory, and opens in QGIS (or any GIS) as it is.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson

from captions.chunks import CHUNK_BYTES, utf8_chunks
from captions.landcover import CLASS_BY_CODE

MEDIA_TYPE = "application/geo+json"  # RFC 7946 section 12
FILE_EXTENSION = "geojson"


def footprint_geometry(west: float, south: float, east: float, north: float) -> dict:
    """A footprint (degrees of longitude and latitude, WGS 84) as a Polygon whose
    ring runs counter-clockwise from the south-west corner and closes there (RFC 7946
    section 3.1.6). One that crosses the antimeridian (west > east) is a MultiPolygon
    of its halves east and west of it (section 3.1.9): drawn as one polygon from
    west to east, it would wrap the other way round the Earth."""
    if west <= east:
        return {"type": "Polygon", "coordinates": [_ring(west, south, east, north)]}
    if west >= 180.0:  # 180 is -180: the footprint lies wholly west of it
        return footprint_geometry(-180.0, south, east, north)
    if east <= -180.0:
        return footprint_geometry(west, south, 180.0, north)
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [_ring(west, south, 180.0, north)],
            [_ring(-180.0, south, east, north)],
        ],
    }


def _ring(west: float, south: float, east: float, north: float) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def footprint_feature(
    feature_id: int,
    bounds: tuple[float, float, float, float] | None,
    properties: dict[str, Any],
) -> dict:
    """A Feature of a footprint `(west, south, east, north)`, with the bounds as its
    `bbox` too (exact, and west > east across the antimeridian as section 5.2 writes
    it); no footprint is a Feature with `geometry: null` (section 3.2)."""
    feature: dict[str, Any] = {"type": "Feature", "id": feature_id}
    if bounds is None:
        feature["geometry"] = None
    else:
        feature["bbox"] = list(bounds)
        feature["geometry"] = footprint_geometry(*bounds)
    feature["properties"] = properties
    return feature


def class_name(code: int | None) -> str | None:
    """The WorldCover name of a class code (None for none or an unknown code)."""
    found = CLASS_BY_CODE.get(code) if code is not None else None
    return found.worldcover_name if found else None


class FeatureCollectionWriter:
    """A FeatureCollection written one Feature at a time, one Feature per line.

    Used for one stream only: it remembers whether a Feature came before, for the
    commas.
    """

    def __init__(self) -> None:
        self.written = 0

    def begin(self) -> str:
        return '{"type":"FeatureCollection","features":['

    def item(self, feature: dict) -> str:
        separator = ",\n" if self.written else "\n"
        self.written += 1
        return separator + orjson.dumps(feature).decode()

    def end(self) -> str:
        return "\n]}\n" if self.written else "]}\n"


def feature_collection_chunks(
    features: Iterable[dict], *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """A FeatureCollection of `features` in UTF-8 chunks of about `chunk_bytes`
    (one Feature at a time in memory, whatever their number)."""
    writer = FeatureCollectionWriter()
    pieces = chain([writer.begin()], map(writer.item, features), _end_of(writer))
    return utf8_chunks(pieces, chunk_bytes=chunk_bytes)


def _end_of(writer: FeatureCollectionWriter) -> Iterator[str]:
    """The collection's closing, asked for only once every Feature is written."""
    yield writer.end()


@dataclass(frozen=True, slots=True)
class PatchFootprint:
    """One patch of the patches API's GeoJSON, as its selector reads it."""

    id: int
    name: str  # Patch.source_name
    scene: int  # scene id, as the patches API names it
    scene_name: str
    split: str
    dominant_class: int | None
    caption_id: int | None  # the newest caption's
    caption_status: str | None  # the newest caption's; None when it has none
    west: float
    south: float
    east: float
    north: float


UNCAPTIONED = "uncaptioned"


def patch_feature(patch: PatchFootprint) -> dict:
    """A patch as a Feature: its footprint, split, newest caption's status and
    dominant land-cover class."""
    return footprint_feature(
        patch.id,
        (patch.west, patch.south, patch.east, patch.north),
        {
            "id": patch.id,
            "name": patch.name,
            "scene": patch.scene,
            "scene_name": patch.scene_name,
            "split": patch.split,
            "status": patch.caption_status or UNCAPTIONED,
            "dominant_class": patch.dominant_class,
            "dominant_class_name": class_name(patch.dominant_class),
            "caption_id": patch.caption_id,
        },
    )
