"""Value ranges of the settings, checked when a config is loaded.

``config.py`` checks keys and types; this checks that each value makes sense (a learning rate
that is a positive finite number, a layer width of at least 1, ...), so a bad value stops at
load time with its key named instead of turning into NaN weights or a crash an hour later.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from vaekit.errors import ConfigError

if TYPE_CHECKING:
    from vaekit.config import RunConfig

MAX_SEED = 2**62
MAX_IMAGE_SIDE = 8192  # pixels: far beyond what a VAE here trains on, and a bound on one decoded image  # seeds (+ small offsets) must fit torch's and numpy's 64-bit generators
_DEVICE = re.compile(r"(cpu|mps|meta|(cuda|xpu|hpu|privateuseone)(:\d+)?)")


def check_values(cfg: RunConfig) -> None:
    """Raise ConfigError for the first setting outside its range."""
    d, m, t = cfg.data, cfg.model, cfg.train
    integer("seed", cfg.seed, 0, MAX_SEED)
    integer("data.seed", d.seed, 0, MAX_SEED)
    number("data.validation_fraction", d.validation_fraction, 0.0, 1.0, high_open=True)
    number("data.test_fraction", d.test_fraction, 0.0, 1.0, high_open=True)
    _optional_int("data.limit", d.limit, 1)
    if d.classes is not None and not d.classes:
        raise ConfigError("data.classes is empty: list the labels to keep, or leave it unset")
    for i, c in enumerate(d.classes or ()):
        integer(f"data.classes[{i}]", c, 0)
    for i, s in enumerate(d.image_size or ()):
        integer(f"data.image_size[{i}]", s, 1, MAX_IMAGE_SIDE)
    if d.memory_budget_gb is not None:
        number("data.memory_budget_gb", d.memory_budget_gb, 0.0, low_open=True)
    integer("data.workers", d.workers, 0, 256)

    integer("model.latent_dim", m.latent_dim, 1)
    for key in ("hidden", "channels", "latent_dims", "latent_hidden"):
        for i, width in enumerate(getattr(m, key)):
            integer(f"model.{key}[{i}]", width, 1)
    number("model.dropout", m.dropout, 0.0, 1.0, high_open=True)
    number("model.input_dropout", m.input_dropout, 0.0, 1.0, high_open=True)
    integer("model.res_blocks", m.res_blocks, 0)
    _optional_int("model.condition_dim", m.condition_dim, 1)

    for key in ("epochs", "batch_size", "eval_batch_size", "log_every", "max_bad_steps", "lr_step_epochs"):
        integer(f"train.{key}", getattr(t, key), 1)
    integer("train.lr_patience", t.lr_patience, 0)
    number("train.lr", t.lr, 0.0, low_open=True)
    number("train.weight_decay", t.weight_decay, 0.0)
    number("train.lr_gamma", t.lr_gamma, 0.0, low_open=True)
    number("train.lr_min", t.lr_min, 0.0)
    number("train.beta", t.beta, 0.0)
    number("train.kl_warmup_epochs", t.kl_warmup_epochs, 0.0)
    number("train.free_bits", t.free_bits, 0.0)
    if t.grad_clip is not None:
        number("train.grad_clip", t.grad_clip, 0.0, low_open=True)
    _optional_int("train.early_stopping", t.early_stopping, 1)
    if t.max_time is not None:
        number("train.max_time", t.max_time, 0.0, low_open=True)
    if t.threads != "auto":
        _optional_int("train.threads", t.threads, 1, 4096)
    if not _DEVICE.fullmatch(t.device):
        raise ConfigError(f"train.device {t.device!r} is not a device: use cpu, cuda, cuda:N or mps")


# the part options (model.likelihood.scale, train.objective.k, ...) check their own ranges in
# their dataclass's __post_init__ with these two helpers, so a part stays one file


def number(
    key: str, value: float, low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> None:
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        top = "inf" if high == math.inf else f"{high:g}"
        raise ConfigError(f"{key} must be a finite number in {left}{low:g}, {top}{right}, got {value!r}")


def integer(key: str, value: int, low: int, high: int | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{key} must be {bound}, got {value!r}")


def _optional_int(key: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is not None:
        integer(key, value, low, high)
