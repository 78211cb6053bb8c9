"""The demo scene's settlements: a town and villages with streets, roofs, gardens and
an industrial quarter, the roads between them, and farmsteads over the plain."""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from captions.devdata.demo.grid import COARSE, Grid, image_cells
from captions.devdata.demo.noise import hash_of, unit
from captions.devdata.demo.rivers import chaikin
from captions.devdata.demo.surfaces import Surface


@dataclass(frozen=True)
class Town:
    x: float
    y: float
    radius: float
    angle: float
    spacing: float
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) of orders 2, 3...
    industry_angle: float | None
    salt: int


def plan_towns(
    rng: np.random.Generator, grid: Grid, farmable: np.ndarray, wide_water: np.ndarray
) -> list[Town]:
    """One town and several villages on flat land inside the image, drawn to rivers."""
    inside = np.zeros(farmable.shape, dtype=np.float64)
    inside[image_cells(grid), image_cells(grid)] = 1.0
    weight = (inside * farmable * (0.15 + wide_water) ** 2).ravel()
    if weight.sum() <= 0:
        return []
    radii = [float(np.clip(0.05 * grid.size, 28.0, 170.0))]
    radii += list(rng.uniform(15.0, 55.0, size=max(2, round(grid.area_km2 / 20))))
    # Candidates drawn once, then taken in order unless they crowd a placed town.
    candidates = rng.choice(weight.size, size=30 * len(radii), p=weight / weight.sum())
    towns: list[Town] = []
    for cell in candidates:
        if len(towns) == len(radii):
            break
        row, col = divmod(int(cell), farmable.shape[1])
        x, y = (col + rng.uniform()) * COARSE, (row + rng.uniform()) * COARSE
        radius = radii[len(towns)]
        if not any(
            math.hypot(x - town.x, y - town.y) < 1.6 * (radius + town.radius) + 40
            for town in towns
        ):
            towns.append(_random_town(rng, x, y, radius))
    return towns


def _random_town(rng: np.random.Generator, x: float, y: float, radius: float) -> Town:
    """A town's street grid, ragged outline and, if it is big, industrial quarter."""
    return Town(
        x=x,
        y=y,
        radius=radius,
        angle=rng.uniform(0, math.pi / 2),
        spacing=rng.uniform(7.0, 11.0),
        harmonics=tuple(
            (rng.uniform(0.0, 0.22) / order**0.5, rng.uniform(0, 2 * math.pi))
            for order in range(2, 10)
        ),
        industry_angle=rng.uniform(0, 2 * math.pi) if radius > 28 else None,
        salt=int(rng.integers(1 << 62)),
    )


def draw_urban(
    rng: np.random.Generator,
    grid: Grid,
    towns: list[Town],
    farmable: np.ndarray,
) -> np.ndarray:
    """Roads between the towns, farmsteads, then the towns over them."""
    n = grid.n
    image = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(image)
    for start, end in _road_links(towns):
        road = _road_path(rng, start, end)
        draw.line(
            [(float(x), float(y)) for x, y in road],
            fill=Surface.ASPHALT,
            width=2,
            joint="curve",
        )
    urban = np.array(image)
    del image
    _stamp_farmsteads(urban, rng, grid, farmable)
    for town in towns:
        _stamp_town(urban, town)
    return urban


def _road_links(towns: list[Town]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each town joined to the nearest one already on the network."""
    links = []
    centres = [np.array([town.x, town.y]) for town in towns]
    for index in range(1, len(centres)):
        nearest = min(
            range(index), key=lambda other: np.hypot(*(centres[index] - centres[other]))
        )
        links.append((centres[nearest], centres[index]))
    return links


def _road_path(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """A road that bends a little on its way."""
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    stops = [start]
    for fraction in (0.33, 0.66):
        stops.append(start + direction * fraction + normal * rng.uniform(-0.06, 0.06))
    stops.append(end)
    return chaikin(np.array(stops), 4)


def _stamp_farmsteads(
    urban: np.ndarray, rng: np.random.Generator, grid: Grid, farmable: np.ndarray
) -> None:
    """Scattered farm buildings, a few pixels each, across the farmed plain."""
    candidates = np.argwhere(farmable)
    if not len(candidates):
        return
    chosen = candidates[rng.integers(len(candidates), size=int(grid.area_km2 * 2.2))]
    for row, col in chosen:
        y = int(row * COARSE + rng.integers(COARSE))
        x = int(col * COARSE + rng.integers(COARSE))
        for _ in range(rng.integers(1, 4)):
            h, w = rng.integers(2, 5, size=2)
            dy, dx = rng.integers(-3, 4, size=2)
            roof = Surface.ROOF_TILE if rng.uniform() < 0.6 else Surface.ROOF_GREY
            top, left = max(0, y + dy), max(0, x + dx)
            urban[top : max(top, y + dy + h), left : max(left, x + dx + w)] = roof


def _stamp_town(urban: np.ndarray, town: Town) -> None:
    """The town inside its ragged outline, over what the window held."""
    n = urban.shape[0]
    reach = town.radius * 1.6
    y0, y1 = max(0, int(town.y - reach)), min(n, int(town.y + reach) + 1)
    x0, x1 = max(0, int(town.x - reach)), min(n, int(town.x + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(town.y)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(town.x)
    distance = np.hypot(dx, dy)
    bearing = np.arctan2(dy, dx)
    edge = np.full(distance.shape, town.radius, dtype=np.float32)
    for order, (amplitude, phase) in enumerate(town.harmonics, start=2):
        edge += town.radius * amplitude * np.cos(order * bearing + phase)
    inside = distance < edge
    surface = _town_surfaces(town, dx, dy, bearing, density=distance / edge)
    window = urban[y0:y1, x0:x1]
    window[inside] = surface[inside]


def _town_surfaces(
    town: Town, dx: np.ndarray, dy: np.ndarray, bearing: np.ndarray, density: np.ndarray
) -> np.ndarray:
    """Blocks of roofs and gardens between streets, denser in the centre; sheds, yards
    and car parks in the industrial quarter."""
    a = dx * math.cos(town.angle) + dy * math.sin(town.angle)
    b = -dx * math.sin(town.angle) + dy * math.cos(town.angle)
    spacing: float | np.ndarray = town.spacing
    industrial = np.zeros(density.shape, dtype=bool)
    if town.industry_angle is not None:
        industrial = (np.cos(bearing - town.industry_angle) > 0.7) & (density > 0.45)
        spacing = np.where(industrial, 3 * town.spacing, town.spacing)
    block_a, block_b = np.floor(a / spacing), np.floor(b / spacing)
    street = ((a - block_a * spacing) < 1.0) | ((b - block_b * spacing) < 1.0)
    street |= (np.abs(a) < 1.5) | (np.abs(b) < 1.5)
    pick = unit(hash_of(block_a, block_b, salt=town.salt))
    detail = unit(hash_of(np.floor(a / 2), np.floor(b / 2), salt=town.salt + 1))
    surface = np.where(
        pick < 0.62 - 0.3 * density,
        Surface.ROOF_TILE,
        np.where(pick < 0.92 - 0.3 * density, Surface.ROOF_GREY, Surface.GARDEN),
    )
    surface = np.where(detail < 0.2, Surface.GARDEN, surface)
    surface = np.where(detail > 0.88, Surface.ROOF_GREY, surface)
    # Sheds with yards and car parks between them, in lots bigger than town blocks.
    shed = unit(hash_of(np.floor(a / 6), np.floor(b / 4), salt=town.salt + 2))
    surface = np.where(
        industrial,
        np.where(
            shed < 0.45 + 0.3 * pick,
            Surface.INDUSTRIAL,
            np.where(shed < 0.85, Surface.ASPHALT, Surface.ROOF_GREY),
        ),
        surface,
    )
    return np.where(street, Surface.ASPHALT, surface).astype(np.uint8)
