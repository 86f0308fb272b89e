"""Schedules as pure functions of the training position, so a resumed run recomputes them exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


def kl_weight(step: float, steps_per_epoch: int, beta: float, warmup_epochs: float) -> float:
    """Linear KL warm-up from 0 to ``beta`` over ``warmup_epochs`` epochs (then constant)."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, step / (warmup_epochs * steps_per_epoch))


def cosine_lr(step: float, total_steps: int, lr: float, lr_min: float) -> float:
    """Cosine decay from ``lr`` at step 0 to ``lr_min`` at ``total_steps``."""
    return cosine_lr_at(step / max(1, total_steps), lr, lr_min)


def cosine_lr_at(fraction: float, lr: float, lr_min: float) -> float:
    """Cosine decay from ``lr`` at fraction 0 of the schedule to ``lr_min`` at 1 (and after)."""
    t = min(1.0, max(0.0, fraction))
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t))


def budget_fraction(elapsed: float, max_time: float) -> float:
    """The share of a time budget used, in [0, 1]."""
    return min(1.0, max(0.0, elapsed / max_time)) if max_time > 0 else 1.0


def time_position(elapsed: float, max_time: float, total_steps: int, stalled: float = 0.0) -> float:
    """``train.schedule_by = "time"``: the step the schedules are read at once ``elapsed`` of
    ``max_time`` seconds are used — the same share of the planned ``total_steps`` (epochs x steps
    per epoch). Every step-based schedule (cosine lr, KL warm-up over ``kl_warmup_epochs / epochs``
    of the budget, capacity) then ends when the budget does, however fast the machine is.

    ``stalled``: seconds of one-off stalls so far (compiling, a paused machine; see ``StallClock``),
    left out of the share: they spend budget without training, so the schedules spread over what the
    budget has left instead of leaping ahead (a 25 s compile in a 2,100 s budget would otherwise end a
    15-of-600-epoch KL warm-up after 5 epochs instead of 9)."""
    if max_time <= 0:
        return float(total_steps)
    stalled = min(max(0.0, stalled), elapsed)
    return budget_fraction(elapsed - stalled, max_time - stalled) * total_steps if max_time > stalled else float(total_steps)


class StallClock:
    """Seconds of training steps that took far longer than a typical step, beyond that typical step.

    Fed each step's duration; the typical step is a running mean that a stall never enters. Until a
    second step gives it a first value, the first step counts wholly as stalled (it holds the compile,
    if any), then is settled against the second."""

    RATIO = 4.0  # a step this many times the typical one is a stall
    SMOOTH = 0.05  # weight of the newest step in the running typical step

    def __init__(self, stalled: float = 0.0) -> None:
        self.stalled = stalled  # a resumed run starts from the saved total
        self.typical: float | None = None
        self._first: float | None = None

    def add(self, seconds: float) -> None:
        if self.typical is None:
            if self._first is None:
                self._first, self.stalled = seconds, self.stalled + seconds  # provisional
                return
            self.stalled -= self._first  # settle the first step against the second
            first, self.typical = self._first, seconds
            self._excess(first)
            return
        self._excess(seconds)
        self.typical += self.SMOOTH * (min(seconds, self.RATIO * self.typical) - self.typical)

    def _excess(self, seconds: float) -> None:
        assert self.typical is not None
        if seconds > self.RATIO * self.typical:
            self.stalled += seconds - self.typical


def step_lr(epoch: int, lr: float, every: int, gamma: float) -> float:
    """``lr`` times ``gamma`` for every ``every`` completed epochs."""
    return lr * gamma ** (epoch // max(1, every))


@dataclass(frozen=True)
class Plateau:
    """Reduce-on-plateau state: the learning-rate factor and the best validation ELBO so far."""

    factor: float = 1.0
    best: float = -math.inf
    bad_epochs: int = 0


def plateau_update(state: Plateau, val_elbo: float, patience: int, gamma: float, threshold: float = 1e-4) -> Plateau:
    """After an epoch: multiply the factor by ``gamma`` once ``patience`` epochs pass without the
    validation ELBO improving by more than a relative ``threshold``."""
    if val_elbo > state.best + threshold * abs(state.best if math.isfinite(state.best) else 0.0):
        return Plateau(state.factor, val_elbo, 0)
    bad = state.bad_epochs + 1
    if bad > patience:
        return replace(state, factor=state.factor * gamma, bad_epochs=0)
    return replace(state, bad_epochs=bad)


def capacity(step: float, c_max: float, steps: int) -> float:
    """KL capacity C (nats) growing linearly from 0 at step 0 to ``c_max`` at ``steps``, then constant
    (Burgess et al. 2018: loss = recon + gamma * |KL - C|)."""
    return c_max * min(1.0, step / max(1, steps))
