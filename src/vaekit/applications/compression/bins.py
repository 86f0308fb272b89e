"""Entropy coding of integer symbols on constriction's ANS stack, a few bits at a time.

A symbol in ``[0, 2**bits)`` is coded as a few decisions, most significant bits first: at
each step the interval of possible symbols is split in four (two bits; in two for an odd bit
count's first step), and the decision is coded with the parts' probability masses (a
:class:`constriction.stream.model.Categorical`, which quantises the masses to integers
deterministically). A distribution only has to give its CDF at interval edges, so a latent with
4,096 bins costs 6 decisions and 18 CDF values instead of a 4,096-entry table. Decoding the
decisions pops a symbol (a draw from the distribution, driven by the bits on the stack); encoding
them pushes one back.

Every decision is coded for all symbols of a batch in one call (arrays of n symbols). CDF
differences are accurate to ~1e-16, far below the 2**-24 resolution of the coder's probabilities;
parts that all have (numerically) no mass are coded as equally likely. Arrays handed to
constriction must be C-contiguous: it reads a strided (n, k) view as if it were not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np

from vaekit.applications.compression.quantize import normal_bins, normal_cdf, sigmoid

FLOOR = 1e-300  # the least mass of a part: an interval without mass splits evenly, others are unchanged


@cache
def constriction() -> Any:
    """The constriction package, or a clear error saying how to install it."""
    try:
        import constriction as c
    except ImportError:
        from vaekit.applications.compression.errors import CompressionError

        raise CompressionError("compression needs the constriction package: pip install 'vaekit[compress]'") from None
    return c


@cache
def _categorical() -> Any:
    return constriction().stream.model.Categorical(perfect=False)


class Binned(Protocol):
    """A distribution over ``[0, 2**bits)`` for each of n symbols, known by its CDF at edges."""

    @property
    def bits(self) -> int: ...

    def cdf(self, edge: np.ndarray, out: np.ndarray) -> None:
        """Write P(X < edge) for each symbol into ``out``; edge and out (k, n): k edges per symbol,
        integers in [1, 2**bits - 1]."""
        ...


@dataclass(frozen=True)
class BinnedGaussian:
    """N(mu, sigma^2) over the bins of equal N(0, 1) mass (``normal_bins(bits)``); mu and
    inv_sigma = 1 / sigma (n,)."""

    mu: np.ndarray
    inv_sigma: np.ndarray
    bits: int

    def cdf(self, edge: np.ndarray, out: np.ndarray) -> None:
        np.take(normal_bins(self.bits)[0], edge, out=out)  # (k, n) bin edges in z
        out -= self.mu
        out *= self.inv_sigma
        normal_cdf(out)


@dataclass(frozen=True)
class DiscretizedLogistic:
    """The discretized logistic of ``levels`` intensities k / (levels - 1) (edge bins take the tails);
    loc (n,), inv_scale (n,) = exp(-log_scale)."""

    loc: np.ndarray
    inv_scale: np.ndarray
    levels: int

    @property
    def bits(self) -> int:
        return max(1, int(self.levels - 1).bit_length())

    def cdf(self, edge: np.ndarray, out: np.ndarray) -> None:
        # edge j sits between intensities j - 1 and j; from ``levels`` on, the support has ended
        np.subtract(edge, 0.5, out=out)
        out *= 1.0 / (self.levels - 1)
        out -= self.loc
        out *= self.inv_scale
        sigmoid(out)
        if self.levels < 2**self.bits:
            np.copyto(out, 1.0, where=edge >= self.levels)


@dataclass
class Ledger:
    """The information content in bits of every decision coded, by name: the ideal code length
    that the ANS stack's real size is compared with. A probability below 2**-24 counts as 2**-24,
    the least constriction gives any symbol."""

    bits: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, probs: np.ndarray, choice: np.ndarray) -> None:
        p = np.maximum(probs[np.arange(len(choice)), choice] / probs.sum(1), 2.0**-24)
        self.bits[name] = self.bits.get(name, 0.0) - float(np.log2(p).sum())


class _Walk:
    """The intervals [lo, lo + 2**left) of n symbols, split in four (or two) one decision at a time.

    Four-way decisions code two bits each: half the coder calls of binary ones, for three CDF
    values per decision instead of two."""

    def __init__(self, dist: Binned, n: int, c_lo: np.ndarray | None = None):
        self.dist, self.left = dist, dist.bits
        self.lo = np.zeros(n, np.int64)
        self.c_lo, self.c_hi = np.zeros(n) if c_lo is None else c_lo, np.ones(n)  # CDF at the interval's ends

    def levels(self) -> list[int]:
        """Bits decided at each step: one first when the count is odd, then two at a time."""
        return [1] * (self.left % 2) + [2] * (self.left // 2)

    def split(self, bits: int) -> np.ndarray:
        """The (n, 2**bits) masses of the interval's parts."""
        k, n = 2**bits, len(self.lo)
        self.width = 2 ** (self.left - bits)
        cuts = np.empty((k + 1, n))  # CDF at the parts' edges; rows keep every operation contiguous
        cuts[0], cuts[k] = self.c_lo, self.c_hi
        self.dist.cdf(self.lo + self.width * np.arange(1, k)[:, None], cuts[1:k])
        probs = cuts[1:] - cuts[:-1]  # (k, n)
        np.maximum(probs, FLOOR, out=probs)  # also clears -1 ulp steps of the interpolated CDF
        self.cuts, self.left = cuts.reshape(-1), self.left - bits
        return np.ascontiguousarray(probs.T)  # constriction reads the (n, k) buffer as laid out in C order

    def narrow(self, choice: np.ndarray) -> None:
        """Keep part ``choice`` (n,) of each interval (a gather, not np.where: random masks are slow)."""
        n = len(self.lo)
        self.lo = self.lo + self.width * choice
        at = choice * n + np.arange(n)  # flat index of each symbol's lower cut in the (k + 1, n) rows
        self.c_lo, self.c_hi = self.cuts[at], self.cuts[at + n]


def pop(
    coder: Any, dist: Binned, n: int, ledger: Ledger | None = None, name: str = "", c_lo: np.ndarray | None = None
) -> np.ndarray:
    """Decode n symbols (n,) int64 under ``dist`` (``c_lo``: the CDF below which nothing is left, when
    the lowest symbols are already ruled out)."""
    walk = _Walk(dist, n, c_lo)
    for bits in walk.levels():
        probs = walk.split(bits)
        choice = coder.decode(_categorical(), probs)  # (n,) in [0, 2**bits)
        if ledger is not None:
            ledger.add(name, probs, choice)
        walk.narrow(choice)
    return walk.lo


def push(
    coder: Any,
    dist: Binned,
    symbols: np.ndarray,
    ledger: Ledger | None = None,
    name: str = "",
    c_lo: np.ndarray | None = None,
) -> None:
    """Encode ``symbols`` (n,) under ``dist``: the exact inverse of :func:`pop`."""
    walk = _Walk(dist, len(symbols), c_lo)
    decisions = []
    for bits in walk.levels():
        probs = walk.split(bits)
        choice = ((symbols >> walk.left) & (2**bits - 1)).astype(np.int32)
        decisions.append((choice, probs))
        if ledger is not None:
            ledger.add(name, probs, choice)
        walk.narrow(choice)
    for choice, probs in reversed(decisions):  # a stack: the first decision popped is the last pushed
        coder.encode_reverse(choice, _categorical(), probs)


def _zero_masses(dist: DiscretizedLogistic) -> tuple[np.ndarray, np.ndarray]:
    """P(x = 0) (n,) and the (n, 2) masses of the decision "x = 0 or not"."""
    p0 = np.empty((1, len(dist.loc)))
    dist.cdf(np.ones((1, len(dist.loc)), np.int64), p0)
    p0 = p0[0]
    return p0, np.maximum(np.stack([p0, 1.0 - p0], 1), FLOOR)


def push_levels(coder: Any, dist: DiscretizedLogistic, k: np.ndarray, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode intensities k (n,) under a discretized logistic: first whether each is 0 (one binary
    decision with one CDF value: most pixels of a dark background end here), then the others'
    values among 1.. by the four-way walk, whose lowest interval starts above level 0. The same
    code length as walking every pixel, a quarter of the work on MNIST."""
    p0, zero = _zero_masses(dist)
    rest = np.flatnonzero(k)
    sub = DiscretizedLogistic(dist.loc[rest], dist.inv_scale[rest], dist.levels)
    push(coder, sub, k[rest], ledger, name, c_lo=p0[rest])  # popped second: pushed first
    push_binary(coder, zero, (k != 0).astype(np.int64), ledger, name)


def pop_levels(coder: Any, dist: DiscretizedLogistic, n: int) -> np.ndarray:
    """The inverse of :func:`push_levels`."""
    p0, zero = _zero_masses(dist)
    k = pop_binary(coder, zero)
    rest = np.flatnonzero(k)
    sub = DiscretizedLogistic(dist.loc[rest], dist.inv_scale[rest], dist.levels)
    k[rest] = pop(coder, sub, len(rest), c_lo=p0[rest])
    return k


def push_binary(coder: Any, p: np.ndarray, bits: np.ndarray, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode binary symbols (n,) with masses p (n, 2) = (P(0), P(1))."""
    choice = bits.astype(np.int32)
    if ledger is not None:
        ledger.add(name, p, choice)
    coder.encode_reverse(choice, _categorical(), np.ascontiguousarray(p))


def pop_binary(coder: Any, p: np.ndarray) -> np.ndarray:
    return coder.decode(_categorical(), np.ascontiguousarray(p)).astype(np.int64)


def push_uniform(coder: Any, symbols: np.ndarray, bits: int, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode symbols (n,) in [0, 2**bits) at exactly ``bits`` bits each (the equal-mass prior bins)."""
    if ledger is not None:
        ledger.bits[name] = ledger.bits.get(name, 0.0) + bits * len(symbols)
    coder.encode_reverse(symbols.astype(np.int32), constriction().stream.model.Uniform(2**bits))


def pop_uniform(coder: Any, n: int, bits: int) -> np.ndarray:
    return coder.decode(constriction().stream.model.Uniform(2**bits), n).astype(np.int64)
