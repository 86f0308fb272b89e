"""``train.threads = "auto"``: time a few training steps at 1, 2, 4, ... threads and keep the fastest.

Why: on a small shared machine, OpenMP threads spin-wait on a core that another process holds, so
two threads can make a step many times slower than one; on an idle many-core machine more threads
win. The right count depends on what else runs *now*, so it is measured at the start of every
training process (a resumed run measures again) and written to metrics.jsonl (``threads``).

The candidates go up to the thread count torch had when vaekit first trained in this process
(torch's default is the number of physical cores; ``OMP_NUM_THREADS`` or ``torch.set_num_threads``
lower it). The thread count changes the order of floating-point sums, so for bit-identical
repeated runs set ``train.threads`` to a number.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from vaekit.config import RunConfig
from vaekit.core.elbo import elbo, split_missing
from vaekit.data import DataSplits
from vaekit.data.base import RatingsSplits
from vaekit.data.streaming import StreamedSplits

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

_LIMIT: int | None = None  # torch's thread count at the first "auto" choice in this process


def thread_limit() -> int:
    """The largest count "auto" tries (fixed at the first call, so one choice does not cap the next)."""
    global _LIMIT
    if _LIMIT is None:
        _LIMIT = max(1, torch.get_num_threads())
    return _LIMIT


def candidates(limit: int) -> list[int]:
    """1, 2, 4, ... below ``limit``, and ``limit`` itself."""
    out, n = [], 1
    while n < limit:
        out.append(n)
        n *= 2
    return [*out, max(1, limit)]


def choose_threads(
    options: list[int], step_seconds: Callable[[int], float], rounds: int = 3, margin: float = 0.1
) -> tuple[int, dict[int, float]]:
    """The fastest of ``options`` by ``step_seconds(threads)`` (one timed step), measured in ``rounds``
    alternating passes (order reversed every other pass: the load moves while we measure); each
    count's time is its fastest step. A larger count must beat the best smaller one by ``margin``
    (10%) to be chosen, since extra threads cost most when the machine gets busier.
    Returns (choice, {threads: seconds})."""
    times: dict[int, list[float]] = {n: [] for n in options}
    for r in range(rounds):
        for n in options if r % 2 == 0 else reversed(options):
            times[n].append(step_seconds(n))
    best = {n: min(ts) for n, ts in times.items()}
    choice = options[0]
    for n in options[1:]:
        if best[n] < (1 - margin) * best[choice]:
            choice = n
    return choice, best


def step_timer(model: VAE, x: torch.Tensor, condition: torch.Tensor | None) -> Callable[[int], float]:
    """``step_seconds(threads)`` for a throwaway copy of ``model``: one forward/backward of the ELBO on
    the batch x (B, *shape) and an SGD update; the real model, optimizer and RNG streams are untouched."""
    twin = copy.deepcopy(model).train()
    opt = torch.optim.SGD(twin.parameters(), lr=1e-6)
    x, mask = split_missing(x)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        elbo(twin, x, mask=mask, condition=condition).loss.backward()
        opt.step()

    def seconds(threads: int) -> float:
        torch.set_num_threads(threads)
        step()  # the first step at a new count pays for waking the thread pool
        started = time.perf_counter()
        step()
        return time.perf_counter() - started

    return seconds


def auto_threads(model: VAE, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[int, dict[int, float]]:
    """Choose and set the fastest thread count for training ``model`` on batches like x (B, *shape)."""
    options = candidates(thread_limit())
    if len(options) == 1:
        torch.set_num_threads(options[0])
        return options[0], {}
    with torch.random.fork_rng(devices=[]):  # dropout and posterior noise draws stay as they were
        choice, times = choose_threads(options, step_timer(model, x, condition))
    torch.set_num_threads(choice)
    return choice, times


def auto_threads_for(cfg: RunConfig, model: VAE, data: DataSplits | StreamedSplits | RatingsSplits) -> int:
    """``auto_threads`` on one training batch of ``data`` as ``cfg`` trains it (binarised, labelled)."""
    b = cfg.train.batch_size
    sample = data.preview(b) if isinstance(data, StreamedSplits) else data
    x = sample.train.x[:b]  # (B, *shape)
    if cfg.data.binarize == "dynamic":
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
    y = sample.train.y[:b] if cfg.model.conditional and sample.train.y is not None else None
    return auto_threads(model, x, y)[0]
