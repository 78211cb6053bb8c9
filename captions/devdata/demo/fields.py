"""The demo scene's farmland layout: blocks of fields, each cut into strip parcels."""

import math
from dataclasses import dataclass

import numpy as np

from captions.devdata.demo.noise import hash_of, unit


@dataclass(frozen=True)
class Parcels:
    key: np.ndarray  # uint64 hash, the same over a parcel
    margin: np.ndarray  # bool, a parcel's first row or column of pixels
    track: np.ndarray  # bool, a farm track between blocks


@dataclass(frozen=True)
class FieldLayout:
    """Blocks of fields (a jittered Voronoi tiling) split into strip parcels.

    Within a block, fields share an orientation and a width, rows of them staggered;
    most blocks follow the plain's dominant orientation, as fields do.
    """

    cell: float
    seeds_x: np.ndarray  # (cells, cells), block seeds, one per cell with a border
    seeds_y: np.ndarray
    cos: np.ndarray  # per block (flattened cell index)
    sin: np.ndarray
    width: np.ndarray
    length: np.ndarray
    salt: int

    @classmethod
    def random(cls, rng: np.random.Generator, n: int) -> "FieldLayout":
        cell = 140.0
        count = math.ceil(n / cell) + 2
        index = np.arange(count, dtype=np.float32) - 1
        seeds_x = (index[None, :] + rng.uniform(0.1, 0.9, (count, count))) * cell
        seeds_y = (index[:, None] + rng.uniform(0.1, 0.9, (count, count))) * cell
        blocks = count * count
        dominant = rng.uniform(0, math.pi)
        angle = np.where(
            rng.uniform(size=blocks) < 0.7,
            dominant + rng.normal(0, 0.04, blocks),
            rng.uniform(0, math.pi, blocks),
        )
        width = rng.uniform(12.0, 34.0, blocks)
        return cls(
            cell=cell,
            seeds_x=seeds_x.astype(np.float32),
            seeds_y=seeds_y.astype(np.float32),
            cos=np.cos(angle).astype(np.float32),
            sin=np.sin(angle).astype(np.float32),
            width=width.astype(np.float32),
            length=(width * rng.uniform(1.3, 3.5, blocks)).astype(np.float32),
            salt=int(rng.integers(1 << 62)),
        )

    def rows(self, y0: int, y1: int, n: int) -> Parcels:
        x = np.arange(n, dtype=np.float32)[None, :]
        block, nearest, second = self._voronoi(y0, y1, x)
        y = np.arange(y0, y1, dtype=np.float32)[:, None]
        cos, sin = self.cos[block], self.sin[block]
        width, length = self.width[block], self.length[block]
        a = x * cos + y * sin
        b = y * cos - x * sin
        column = np.floor(a / width)
        stagger = unit(hash_of(block, column, salt=self.salt), 1) * length
        row = np.floor((b + stagger) / length)
        margin = ((a - column * width) < 1.0) | ((b + stagger - row * length) < 1.0)
        track = (np.sqrt(second) - np.sqrt(nearest)) < 1.2
        return Parcels(
            key=hash_of(block, column, row, salt=self.salt),
            margin=margin,
            track=track,
        )

    def _voronoi(
        self, y0: int, y1: int, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest block, squared distances to its seed and to the next one."""
        n = x.shape[1]
        count = self.seeds_x.shape[0]
        col = (x[0] // self.cell).astype(np.intp) + 1
        block = np.zeros((y1 - y0, n), dtype=np.intp)
        nearest = np.full((y1 - y0, n), np.inf, dtype=np.float32)
        second = np.full((y1 - y0, n), np.inf, dtype=np.float32)
        # One band of rows per row of cells: there, the 3x3 candidate seeds depend on
        # the column only, so they are looked up once per band.
        first_cell = int(y0 // self.cell)
        for cell_row in range(first_cell, int((y1 - 1) // self.cell) + 1):
            top = max(y0, int(cell_row * self.cell))
            bottom = min(y1, int((cell_row + 1) * self.cell))
            if top >= bottom:
                continue
            band = slice(top - y0, bottom - y0)
            y = np.arange(top, bottom, dtype=np.float32)[:, None]
            best, runner_up = nearest[band], second[band]
            owner = block[band]
            for d_row in (0, 1, 2):
                seed_row = cell_row + d_row
                for d_col in (-1, 0, 1):
                    seed_col = np.clip(col + d_col, 0, count - 1)
                    distance = (x - self.seeds_x[seed_row, seed_col]) ** 2 + (
                        y - self.seeds_y[seed_row, seed_col]
                    ) ** 2
                    closer = distance < best
                    np.copyto(runner_up, np.minimum(runner_up, distance))
                    np.copyto(runner_up, best, where=closer)
                    np.copyto(best, distance, where=closer)
                    np.copyto(owner, seed_row * count + seed_col, where=closer)
        return block, nearest, second
