"""The demo scene's water: a braided main river, a tributary and plain streams, a
glacial lake where the river leaves the mountains, flooded gravel pits, and the
valleys the rivers have carved."""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from captions.devdata.demo.grid import COARSE, Grid
from captions.devdata.demo.noise import blur
from captions.devdata.demo.surfaces import WATER_BANKS, WATER_CHANNEL, WATER_POND


@dataclass(frozen=True)
class River:
    points: np.ndarray  # (k, 2) x, y in grid pixels, upstream first
    width_start: float
    width_end: float
    braided: bool


def chaikin(points: np.ndarray, rounds: int) -> np.ndarray:
    for _ in range(rounds):
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        middle = np.empty((2 * len(q), 2))
        middle[0::2], middle[1::2] = q, r
        points = np.vstack([points[:1], middle, points[-1:]])
    return points


def _meander(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    *,
    step: float,
    wiggle: float,
) -> np.ndarray:
    """A random walk that keeps heading for `end`, its bends smoothed."""
    points, position, bend = [start], start.astype(np.float64), 0.0
    for _ in range(int(4 * np.hypot(*(end - start)) / step) + 10):
        to_end = end - position
        if np.hypot(*to_end) <= 2 * step:
            break
        bend = float(np.clip(0.88 * bend + wiggle * rng.standard_normal(), -1.2, 1.2))
        heading = math.atan2(to_end[1], to_end[0]) + bend
        position = position + step * np.array([math.cos(heading), math.sin(heading)])
        points.append(position)
    points.append(end)
    return chaikin(np.array(points), 3)


def plan_rivers(
    rng: np.random.Generator, grid: Grid, uphill: tuple[float, float]
) -> list[River]:
    """A main river from the mountains across the plain, a tributary, plain streams."""
    n, size = grid.n, grid.size
    centre = np.array([n / 2, n / 2])
    up = np.array(uphill)
    across = np.array([-uphill[1], uphill[0]])
    reach = 0.5 * n + 0.1 * size

    def point(upward: float, sideways: float) -> np.ndarray:
        return centre + up * upward + across * sideways * size

    side = rng.choice([-1.0, 1.0])
    main = _meander(
        rng,
        point(reach, side * rng.uniform(0.0, 0.2)),
        point(-reach, -side * rng.uniform(0.0, 0.25)),
        step=16.0,
        wiggle=0.22,
    )
    rivers = [River(main, 9.0, 18.0, braided=True)]
    join = main[int(len(main) * rng.uniform(0.45, 0.6))]
    tributary = _meander(
        rng, point(reach, -side * rng.uniform(0.3, 0.45)), join, step=10.0, wiggle=0.3
    )
    rivers.append(River(tributary, 3.0, 7.0, braided=False))
    for _ in range(1 + size // 2500):
        stream = _meander(
            rng,
            point(rng.uniform(-0.05, 0.05) * size, rng.uniform(-0.45, 0.45)),
            point(-reach, rng.uniform(-0.5, 0.5)),
            step=8.0,
            wiggle=0.35,
        )
        rivers.append(River(stream, 2.0, 4.0, braided=False))
    return rivers


def draw_rivers(draw: ImageDraw.ImageDraw, rivers: list[River]) -> None:
    """Rivers in pieces whose width grows downstream; wide ones get a main channel.

    Between a braided river's banks and its main channel, gravel bars show up where the
    texture is high (see `paint.paint_rows`).
    """
    for river in rivers:
        count = len(river.points)
        pieces = [
            (
                river.points[first : first + 7],
                river.width_start
                + (river.width_end - river.width_start) * first / count,
            )
            for first in range(0, count - 1, 6)
        ]
        code = WATER_BANKS if river.braided else WATER_CHANNEL
        for piece, width in pieces:
            _draw_line(draw, piece, width, code)
        if river.braided:
            for piece, width in pieces:
                _draw_line(draw, piece, max(2.0, width * 0.45), WATER_CHANNEL)


def _draw_line(
    draw: ImageDraw.ImageDraw, points: np.ndarray, width: float, code: int
) -> None:
    pixels = max(1, round(width))
    draw.line(
        [(float(x), float(y)) for x, y in points],
        fill=code,
        width=pixels,
        joint="curve",
    )
    x, y = points[-1]
    half = pixels / 2
    draw.ellipse([x - half, y - half, x + half, y + half], fill=code)


def plan_lake(
    rng: np.random.Generator, river: River, front: np.ndarray, size: int
) -> list[tuple[float, float]]:
    """A glacial lake where the main river leaves the mountains (think Lake Garda)."""
    points = river.points
    rows = np.clip((points[:, 1] / COARSE).astype(int), 0, front.shape[0] - 1)
    cols = np.clip((points[:, 0] / COARSE).astype(int), 0, front.shape[1] - 1)
    inside = front[rows, cols]
    candidates = np.nonzero(inside < 0.05)[0]
    index = int(candidates[0]) if len(candidates) else len(points) // 3
    index = max(index - 3, 1)
    cx, cy = points[index]
    direction = points[min(index + 8, len(points) - 1)] - points[max(index - 8, 0)]
    angle = math.atan2(direction[1], direction[0])
    length = float(np.clip(0.075 * size, 30.0, 320.0))
    width = length * rng.uniform(0.3, 0.45)
    return _blob_outline(rng, cx, cy, length, width, angle, roughness=0.08)


def _blob_outline(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    length: float,
    width: float,
    angle: float,
    *,
    roughness: float,
) -> list[tuple[float, float]]:
    """An ellipse with a wavy outline, as a polygon."""
    theta = np.linspace(0, 2 * math.pi, 180, endpoint=False)
    radius = np.ones_like(theta)
    for order in range(2, 7):
        radius += (
            roughness
            / order**0.5
            * rng.standard_normal()
            * np.cos(order * theta + rng.uniform(0, 2 * math.pi))
        )
    along = length * radius * np.cos(theta)
    across = width * radius * np.sin(theta)
    xs = cx + along * math.cos(angle) - across * math.sin(angle)
    ys = cy + along * math.sin(angle) + across * math.cos(angle)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def draw_ponds(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    height: np.ndarray,
    slope: np.ndarray,
    grid: Grid,
) -> None:
    """Flooded gravel pits on the plain, as on the Brenta and the Piave."""
    candidates = np.argwhere((height < 0.02) & (slope < 0.05))
    if not len(candidates):
        return
    for _ in range(rng.poisson(grid.area_km2 / 60)):
        row, col = candidates[rng.integers(len(candidates))]
        cx, cy = (col + rng.uniform()) * COARSE, (row + rng.uniform()) * COARSE
        length = rng.uniform(8, 28)
        outline = _blob_outline(
            rng,
            cx,
            cy,
            length,
            length * rng.uniform(0.4, 0.9),
            rng.uniform(0, math.pi),
            roughness=0.15,
        )
        draw.polygon(outline, fill=WATER_POND)


def valley_field(rivers: list[River], cells: int, size: int) -> np.ndarray:
    """0..1, 1 on the floors of the valleys the rivers have cut."""
    image = Image.new("L", (cells, cells), 0)
    draw = ImageDraw.Draw(image)
    for river, share in zip(rivers[:2], (0.045, 0.028), strict=False):
        width = max(3, round(share * size / COARSE))
        draw.line(
            [(float(x) / COARSE, float(y) / COARSE) for x, y in river.points],
            fill=255,
            width=width,
            joint="curve",
        )
    floors = np.asarray(image, dtype=np.float32) / 255.0
    return np.clip(blur(floors, 0.04 * size / COARSE / 2) * 1.6, 0.0, 1.0)
