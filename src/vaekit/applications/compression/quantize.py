"""Network outputs turned into integers that the compressor and the decompressor agree on.

Bits-back decoding must rebuild exactly the probabilities the encoder used. The networks run in
float64, and their outputs can still differ in the last bits between processes (thread count,
batch layout, CPU kernels). So every output is rounded to a coarse fixed grid (:class:`Grid`),
and everything after that is integer table lookups and IEEE arithmetic (+ - * /), which give the
same bits everywhere. Rounding itself could flip for a value within float noise of a rounding
boundary: the compressor lists those few values ("guard-band exceptions", about 2 in a million)
with the integer it used, and the decompressor takes them from the list. A value that moved
further than the guard band is an error, never a silent mismatch.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cache

import numpy as np

from vaekit.applications.compression.errors import CompressionError

GUARD = 2.0**-20  # in grid steps: far above float64 noise (~1e-12 steps), so flips cannot escape the list


@dataclass(frozen=True)
class Grid:
    """Values rounded to multiples of 2**-bits, clipped to [lo, hi] (in value units)."""

    bits: int
    lo: float
    hi: float

    @property
    def imin(self) -> int:
        return int(math.ceil(self.lo * 2**self.bits))

    @property
    def imax(self) -> int:
        return int(math.floor(self.hi * 2**self.bits))


MU = Grid(16, -64.0, 64.0)  # Gaussian means
LOG2_SIGMA = Grid(8, -24.0, 8.0)  # log2 of Gaussian scales
LOGIT = Grid(8, -32.0, 32.0)  # Bernoulli logits
LOC = Grid(16, -4.0, 5.0)  # discretized-logistic locations (unbounded by the likelihood; beyond this the edge levels take all)
LOG_SCALE = Grid(8, -7.0, 7.0)  # discretized-logistic log-scales (the likelihood clamps at -7)


@dataclass
class Exceptions:
    """Guard-band exceptions of one file: (batch, slot, flat position) -> the integer the encoder used."""

    batch: list[np.ndarray]
    slot: list[np.ndarray]
    pos: list[np.ndarray]
    value: list[np.ndarray]

    @classmethod
    def empty(cls) -> Exceptions:
        return cls([], [], [], [])

    def add(self, batch: int, slot: int, pos: np.ndarray, value: np.ndarray) -> None:
        if len(pos):
            self.batch.append(np.full(len(pos), batch, np.int64))
            self.slot.append(np.full(len(pos), slot, np.int64))
            self.pos.append(pos.astype(np.int64))
            self.value.append(value.astype(np.int64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
        return cat(self.batch), cat(self.slot), cat(self.pos), cat(self.value)

    def lookup(self) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        b, s, p, v = self.arrays()
        out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for key in sorted(set(zip(b.tolist(), s.tolist()))):
            m = (b == key[0]) & (s == key[1])
            out[key] = (p[m], v[m])
        return out

    def __len__(self) -> int:
        return int(sum(len(p) for p in self.pos))


def guarded_round(v: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round ``v`` (any shape, float64) to ``grid``: (integers, flat positions within ``guard`` of a
    rounding boundary at ``GUARD``, the same at ``GUARD / 2``)."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(v)):
        raise CompressionError("the model produced NaN or infinite outputs on this data; it cannot code it")
    y = np.clip(v * float(2**grid.bits), grid.imin, grid.imax)  # exact scaling: a power of two
    r = np.floor(y + 0.5)
    dist = np.abs(y - np.floor(y) - 0.5)  # 0 at a rounding boundary
    return r.astype(np.int64), np.flatnonzero(dist < GUARD), np.flatnonzero(dist < GUARD / 2)


class Rounder:
    """Rounds network outputs the same way on both sides: records exceptions when compressing,
    applies them when decompressing."""

    def __init__(self, exceptions: Exceptions | None = None):
        self.encoding = exceptions is None
        self.exceptions = Exceptions.empty() if exceptions is None else exceptions
        self._lookup = {} if exceptions is None else exceptions.lookup()
        self.batch = 0

    def __call__(self, v: np.ndarray, grid: Grid, slot: int) -> np.ndarray:
        r, near, very_near = guarded_round(v, grid)
        if self.encoding:
            self.exceptions.add(self.batch, slot, near, r[near])
            return r
        pos, value = self._lookup.get((self.batch, slot), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        if len(very_near) and not np.isin(very_near, pos).all():
            raise CompressionError(
                "the model's outputs differ from the ones that compressed this file by more than float64 rounding "
                "(another torch build or CPU?); decompress with the same vaekit, torch and hardware setup"
            )
        if len(pos):
            if pos.max() >= len(r):
                raise CompressionError("the file's side information does not fit this data: the file is corrupt")
            r[pos] = value
        return r


# ---------------------------------------------------------------- deterministic tables

TABLE_BITS = 10  # interpolation step 2**-10
TABLE_RANGE = 40.0  # arguments clipped to [-40, 40]; beyond, the tails are below 1e-17


@cache
def _table(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Values at the grid points and the slopes to the next point."""
    n = int(2 * TABLE_RANGE * 2**TABLE_BITS) + 2
    t = [-TABLE_RANGE + i / 2**TABLE_BITS for i in range(n)]
    if kind == "phi":  # standard normal CDF
        v = np.array([0.5 * math.erfc(-x / math.sqrt(2.0)) for x in t])
    else:  # logistic sigmoid
        v = np.array([1.0 / (1.0 + math.exp(-x)) for x in t])
    return v, np.append(np.diff(v), 0.0)


def _interp(kind: str, t: np.ndarray) -> np.ndarray:
    """Linear interpolation in a fixed table, overwriting ``t``: monotone, and only + - * after the lookup."""
    values, slopes = _table(kind)
    t *= float(2**TABLE_BITS)
    t += TABLE_RANGE * 2**TABLE_BITS
    np.clip(t, 0.0, len(values) - 2.0, out=t)
    i = t.astype(np.int64)  # floor: t >= 0
    t -= i  # the weight of the next grid point
    t *= slopes[i]
    t += values[i]
    return t


def normal_cdf(t: np.ndarray) -> np.ndarray:
    """The standard normal CDF at t (float64), computed in place."""
    return _interp("phi", t)


def sigmoid(t: np.ndarray) -> np.ndarray:
    """The logistic sigmoid at t (float64), computed in place."""
    return _interp("sigmoid", t)


@cache
def pow2_table(grid: Grid) -> np.ndarray:
    """2 ** (i / 2**bits) for every integer i of the grid (index i - imin)."""
    return np.array([2.0 ** (i / 2**grid.bits) for i in range(grid.imin, grid.imax + 1)])


@cache
def exp_neg_table(grid: Grid) -> np.ndarray:
    """exp(-i / 2**bits) for every integer i of the grid (index i - imin)."""
    return np.array([math.exp(-i / 2**grid.bits) for i in range(grid.imin, grid.imax + 1)])


@cache
def logit_tables() -> tuple[np.ndarray, np.ndarray]:
    """(P(x=0), P(x=1)) for every Bernoulli logit on the LOGIT grid (index i - imin)."""
    s = 2**LOGIT.bits
    ones = np.array([1.0 / (1.0 + math.exp(-i / s)) for i in range(LOGIT.imin, LOGIT.imax + 1)])
    zeros = np.array([1.0 / (1.0 + math.exp(i / s)) for i in range(LOGIT.imin, LOGIT.imax + 1)])
    return zeros, ones


@cache
def normal_bins(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Bins of equal N(0, 1) mass at ``bits`` of precision: edges (2**bits + 1,), from -inf to inf,
    and centres (2**bits,), the points of mass (i + 1/2) / 2**bits, which stand for their bin."""
    n = 2**bits
    inv = statistics.NormalDist().inv_cdf
    fine = [inv(j / (2 * n)) for j in range(1, 2 * n)]  # (2n - 1,) quantiles at half-bin steps
    edges = np.array([-math.inf] + fine[1::2] + [math.inf])
    centres = np.array(fine[0::2])
    return edges, centres
