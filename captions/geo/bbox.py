"""A box of longitudes and latitudes, `west,south,east,north`: one parser for every
place that takes an area (the patches API, the review queue, the export, releases,
the QA sample), so each refuses the same wrong boxes with the same words.

Plain Python, no Django: callers name the parameter and turn `BadBoundingBox` into
their own error (a form's, the export's, the queue's).
"""

import math
from dataclasses import dataclass

# Longer than any four numbers a person or a map writes; refused before splitting.
MAX_BBOX_CHARS = 200
FOUR_NUMBERS = "give four numbers: west,south,east,north (degrees)"


class BadBoundingBox(ValueError):
    """A box that cannot be read; the message says what a good one is, without the
    parameter's name (the caller knows what its user calls it)."""


@dataclass(frozen=True)
class BoundingBox:
    """Longitude / latitude bounds; west > east crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    def as_text(self) -> str:
        """The box as `parse_bbox` reads it, each number as short as it round-trips
        (a stored release's filter gives back the same floats)."""
        return ",".join(
            _number_text(n) for n in (self.west, self.south, self.east, self.north)
        )


def parse_bbox(text: str) -> BoundingBox:
    """`west,south,east,north` in degrees; raises `BadBoundingBox`.

    Longitudes lie in [-180, 180] and west > east means the box crosses the
    antimeridian; latitudes lie in [-90, 90] with south at most north.
    """
    numbers: list[float] = []
    if len(text) <= MAX_BBOX_CHARS:
        try:
            numbers = [float(part) for part in text.split(",")]
        except ValueError:
            numbers = []
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise BadBoundingBox(FOUR_NUMBERS)
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise BadBoundingBox("longitudes lie between -180 and 180")
    if not (-90 <= south <= north <= 90):
        raise BadBoundingBox("latitudes lie between -90 and 90, south before north")
    return BoundingBox(west, south, east, north)


def _number_text(number: float) -> str:
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text
