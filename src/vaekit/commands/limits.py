"""Output sizes checked before anything is drawn: ``sample -n 1000000000`` is an error with the
numbers, not a process the kernel kills."""

from __future__ import annotations

import argparse
import math

from vaekit.errors import ConfigError

BYTES_PER_VALUE = 4 * 4  # float32 output, the decoder's parameters for it, and the written copy
MAX_GRID_PIXELS = 100_000_000  # a PNG grid beyond this is no picture anyone can look at


def check_rows(rows: int, run, what: str, png: bool = False) -> None:
    """Refuse ``rows`` examples of the run's data shape when they cannot fit in memory (or, for a
    ``png`` grid, cannot make a viewable picture). ``what`` names the flag(s) that set ``rows``."""
    from vaekit.resources import memory_limit

    values = rows * math.prod(run.info.data_shape)
    need, limit = values * BYTES_PER_VALUE, memory_limit()
    if need > limit:
        raise ConfigError(
            f"{what} asks for {rows:,} examples of shape {tuple(run.info.data_shape)}: about {need / 1e9:,.1f} GB, "
            f"more than this machine's {limit / 1e9:,.1f} GB; ask for fewer"
        )
    if png and run.info.data_kind == "image" and values > MAX_GRID_PIXELS:
        raise ConfigError(f"{what} asks for {rows:,} images: too many for one PNG grid; ask for fewer, or write .npy")


def check_finite_positive(value: float, flag: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a positive finite number, got {value}")


# argparse types: a bad value is argparse's one-line error naming the flag, before any work
MAX_SEED = 2**32 - 1  # the widest seed every generator used here takes (scikit-learn's random_state)


def positive_int(text: str) -> int:
    return _int(text, 1, None, "a whole number >= 1")


def count(text: str) -> int:
    return _int(text, 0, None, "a whole number >= 0")


def seed(text: str) -> int:
    return _int(text, 0, MAX_SEED, f"a seed in 0..{MAX_SEED}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive finite number")
    return value


def _int(text: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"{text!r}: give {what}")
    return value
