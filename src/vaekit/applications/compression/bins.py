"""Entropy coding of integer symbols on constriction's ANS stack, one binary decision at a time.

A symbol in ``[0, 2**bits)`` is coded as ``bits`` binary decisions, most significant first: at
each step the interval of possible symbols is halved, and the decision is coded with the two
halves' probability masses (a two-column :class:`constriction.stream.model.Categorical`, which
quantises the masses to integers deterministically). A distribution only has to give its tail
masses at interval edges, so a latent with 65,536 bins costs 16 decisions and 16 CDF values
instead of a 65,536-entry table. Decoding the decisions pops a symbol (a draw from the
distribution, driven by the bits on the stack); encoding them pushes one back.

Every decision is coded for all symbols of a batch in one call (arrays of n symbols).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np

from vaekit.applications.compression.quantize import normal_bins, normal_cdf, sigmoid

TINY = 1e-200  # masses below this in both halves: code the decision as a fair coin


@cache
def constriction() -> Any:
    """The constriction package, or a clear error saying how to install it."""
    try:
        import constriction as c
    except ImportError:
        from vaekit.applications.compression.errors import CompressionError

        raise CompressionError("compression needs the constriction package: pip install 'vaekit[compress]'") from None
    return c


def _two_way() -> Any:
    return constriction().stream.model.Categorical(perfect=False)


class Tails(Protocol):
    """A distribution over ``[0, 2**bits)`` for each of n symbols, known by its tails at edges."""

    bits: int

    def tails(self, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(X < edge) and P(X >= edge) for each symbol (edge: (n,) integers in [0, 2**bits])."""
        ...


@dataclass(frozen=True)
class BinnedGaussian:
    """N(mu, sigma^2) over the bins of equal N(0, 1) mass (``normal_bins(bits)``); mu, sigma (n,)."""

    mu: np.ndarray
    sigma: np.ndarray
    bits: int

    def tails(self, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = (normal_bins(self.bits)[0][edge] - self.mu) / self.sigma  # (n,); -inf and inf at the ends
        return normal_cdf(t), normal_cdf(-t)


@dataclass(frozen=True)
class DiscretizedLogistic:
    """The discretized logistic of ``levels`` intensities k / (levels - 1) (edge bins take the tails);
    loc (n,) in [0, 1], inv_scale (n,) = exp(-log_scale)."""

    loc: np.ndarray
    inv_scale: np.ndarray
    levels: int

    @property
    def bits(self) -> int:
        return max(1, int(self.levels - 1).bit_length())

    def tails(self, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # edge j sits between intensities j - 1 and j; edges 0 and >= levels are the ends of the support
        t = ((edge - 0.5) / (self.levels - 1) - self.loc) * self.inv_scale
        lower, upper = sigmoid(t), sigmoid(-t)
        at_start, past_end = edge <= 0, edge >= self.levels
        lower = np.where(at_start, 0.0, np.where(past_end, 1.0, lower))
        upper = np.where(at_start, 1.0, np.where(past_end, 0.0, upper))
        return lower, upper


def _mass(la: np.ndarray, ua: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """P(a <= X < b) from the tails at a and b, differencing the smaller tail (no cancellation)."""
    return np.maximum(np.where(la + lb < 1.0, lb - la, ua - ub), 0.0)


def _split(lo: tuple, mid: tuple, hi: tuple) -> np.ndarray:
    """(n, 2) masses of the lower and upper half of each interval."""
    left, right = _mass(*lo, *mid), _mass(*mid, *hi)
    probs = np.stack([left, right], 1)  # (n, 2)
    probs[(left + right) < TINY] = 1.0  # an interval the distribution puts (numerically) nothing in
    return probs


@dataclass
class Ledger:
    """The information content in bits of every decision coded, by name: the ideal code length
    that the ANS stack's real size is compared with. A probability below 2**-24 counts as 2**-24,
    the least constriction gives any symbol."""

    bits: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, probs: np.ndarray, choice: np.ndarray) -> None:
        p = np.maximum(probs[np.arange(len(choice)), choice] / probs.sum(1), 2.0**-24)
        self.bits[name] = self.bits.get(name, 0.0) - float(np.log2(p).sum())


def _halve(dist: Tails, level: int, lo: np.ndarray, hi: np.ndarray, t_lo: tuple, t_hi: tuple) -> tuple:
    """The midpoints of the intervals [lo, hi) at ``level``, their tails and the halves' masses (n, 2)."""
    mid = lo + 2 ** (dist.bits - 1 - level)
    t_mid = dist.tails(mid)
    return mid, t_mid, _split(t_lo, t_mid, t_hi)


def _narrow(up: np.ndarray, lo, hi, mid, t_lo: tuple, t_mid: tuple, t_hi: tuple) -> tuple:
    """Keep the upper half where ``up``, the lower elsewhere."""
    lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    t_lo = (np.where(up, t_mid[0], t_lo[0]), np.where(up, t_mid[1], t_lo[1]))
    t_hi = (np.where(up, t_hi[0], t_mid[0]), np.where(up, t_hi[1], t_mid[1]))
    return lo, hi, t_lo, t_hi


def _start(dist: Tails, n: int) -> tuple:
    lo, hi = np.zeros(n, np.int64), np.full(n, 2**dist.bits, np.int64)
    return lo, hi, dist.tails(lo), dist.tails(hi)


def pop(coder: Any, dist: Tails, n: int, ledger: Ledger | None = None, name: str = "") -> np.ndarray:
    """Decode n symbols (n,) int64 under ``dist``."""
    model = _two_way()
    lo, hi, t_lo, t_hi = _start(dist, n)
    for level in range(dist.bits):
        mid, t_mid, probs = _halve(dist, level, lo, hi, t_lo, t_hi)
        choice = coder.decode(model, probs)  # (n,) 0 or 1
        if ledger is not None:
            ledger.add(name, probs, choice)
        lo, hi, t_lo, t_hi = _narrow(choice == 1, lo, hi, mid, t_lo, t_mid, t_hi)
    return lo


def push(coder: Any, dist: Tails, symbols: np.ndarray, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode ``symbols`` (n,) under ``dist``: the exact inverse of :func:`pop`."""
    model = _two_way()
    lo, hi, t_lo, t_hi = _start(dist, len(symbols))
    decisions = []
    for level in range(dist.bits):
        mid, t_mid, probs = _halve(dist, level, lo, hi, t_lo, t_hi)
        choice = ((symbols >> (dist.bits - 1 - level)) & 1).astype(np.int32)
        decisions.append((choice, probs))
        if ledger is not None:
            ledger.add(name, probs, choice)
        lo, hi, t_lo, t_hi = _narrow(choice == 1, lo, hi, mid, t_lo, t_mid, t_hi)
    for choice, probs in reversed(decisions):  # a stack: the first decision popped is the last pushed
        coder.encode_reverse(choice, model, probs)


def push_binary(coder: Any, p: np.ndarray, bits: np.ndarray, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode binary symbols (n,) with masses p (n, 2) = (P(0), P(1))."""
    choice = bits.astype(np.int32)
    if ledger is not None:
        ledger.add(name, p, choice)
    coder.encode_reverse(choice, _two_way(), p)


def pop_binary(coder: Any, p: np.ndarray) -> np.ndarray:
    return coder.decode(_two_way(), p).astype(np.int64)


def push_uniform(coder: Any, symbols: np.ndarray, bits: int, ledger: Ledger | None = None, name: str = "") -> None:
    """Encode symbols (n,) in [0, 2**bits) at exactly ``bits`` bits each (the equal-mass prior bins)."""
    if ledger is not None:
        ledger.bits[name] = ledger.bits.get(name, 0.0) + bits * len(symbols)
    coder.encode_reverse(symbols.astype(np.int32), constriction().stream.model.Uniform(2**bits))


def pop_uniform(coder: Any, n: int, bits: int) -> np.ndarray:
    return coder.decode(constriction().stream.model.Uniform(2**bits), n).astype(np.int64)
