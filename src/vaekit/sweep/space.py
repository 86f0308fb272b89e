"""The search space of a sweep: ``--space`` strings -> checked parameters -> config overrides.

    model.latent_dim=2..64:log     an integer range (the setting is an integer), log-uniform
    train.beta=0.5..4              a float range, uniform
    train.lr=1e-4..3e-3:log        a float range, log-uniform
    model.prior=normal,vamp        a choice (any setting; values read like --set values)
    model.hidden=[200,200],[400]   a choice of lists (commas inside brackets belong to the value)

The kind of a range (integer or float) follows the setting's type in ``RunConfig``; a range over a
setting that is not a number is an error, as is a key that no config has.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig, apply_overrides
from vaekit.errors import ConfigError
from vaekit.registry import PART_REGISTRIES

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a numeric range or a list of choices (kept as their --set text)."""

    key: str  # "section.name"
    kind: Literal["int", "float", "choice"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.key}={','.join(self.choices)}"
        lo, hi = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.key}={lo}..{hi}{':log' if self.log else ''}"

    def override(self, value: Any) -> str:
        """The ``--set`` text that gives this setting ``value`` (a sampled number or a choice's text)."""
        if self.kind == "choice":
            return f"{self.key}={value}"
        return f"{self.key}={int(value) if self.kind == 'int' else float(value)!r}"

    def grid(self, points: int) -> list[Any]:
        """Values for the grid sampler: the choices, or ``points`` values spread over the range."""
        if self.kind == "choice":
            return list(self.choices)
        if points < 2:
            raise ConfigError(f"--grid-points must be at least 2, got {points}")
        fractions = [i / (points - 1) for i in range(points)]
        if self.log:
            values = [math.exp(math.log(self.low) + f * (math.log(self.high) - math.log(self.low))) for f in fractions]
        else:
            values = [self.low + f * (self.high - self.low) for f in fractions]
        if self.kind == "int":
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.6g}") for v in values]


def _field_type(key: str) -> Any:
    """The annotation of config key ``section.name`` (or ``seed``); a ConfigError for unknown keys."""
    if key == "seed":
        return int
    section, _, name = key.partition(".")
    name, _, option = name.partition(".")
    cls = SECTIONS.get(section)
    if option and name in PART_REGISTRIES:  # a part's option, e.g. model.prior.components: its annotation in any part that has it
        for entry in PART_REGISTRIES[name].entries():
            hints = typing.get_type_hints(entry.options)
            if option in hints:
                return hints[option]
        raise ConfigError(f"--space {key}: no {name} has an option {option!r}")
    if cls is None or not name or name not in {f.name for f in dataclasses.fields(cls)}:
        where = f"section {section!r}" if cls is not None else "sections data, model, train (or seed)"
        raise ConfigError(f"--space {key}: no such setting; use a key of {where}, e.g. model.latent_dim or train.beta")
    return typing.get_type_hints(cls)[name]


def _numeric(tp: Any) -> Literal["int", "float"] | None:
    args = typing.get_args(tp) if typing.get_origin(tp) is not None else (tp,)
    if float in args:
        return "float"
    if int in args:
        return "int"
    return None


def _split_choices(text: str) -> list[str]:
    """'a,b,[1,2]' -> ['a', 'b', '[1,2]']: commas inside brackets or quotes belong to the value."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return [c for c in out if c]


def parse_param(text: str) -> Param:
    """One ``--space`` string -> Param (see the module docstring for the forms)."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise ConfigError(f"--space {text!r}: expected KEY=LOW..HIGH[:log] or KEY=A,B,C, e.g. train.beta=0.5..4")
    tp = _field_type(key)
    if ".." in spec and not spec.startswith(("[", '"', "'")):
        body, _, flag = spec.partition(":")
        if flag not in ("", "log"):
            raise ConfigError(f"--space {text!r}: the only range option is ':log', got {flag!r}")
        kind = _numeric(tp)
        if kind is None:
            raise ConfigError(f"--space {text!r}: {key} is not a number, so it takes a list of choices (A,B,C), not a range")
        lo_text, _, hi_text = body.partition("..")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise ConfigError(f"--space {text!r}: the range ends must be numbers, e.g. 2..64") from None
        if kind == "int" and (lo != int(lo) or hi != int(hi)):
            raise ConfigError(f"--space {text!r}: {key} is an integer setting; give integer ends")
        if not lo < hi:
            raise ConfigError(f"--space {text!r}: the low end must be below the high end")
        if flag == "log" and lo <= 0:
            raise ConfigError(f"--space {text!r}: a log range needs a positive low end")
        return Param(key, kind, lo, hi, flag == "log")
    choices = _split_choices(spec)
    if len(choices) < 2:
        raise ConfigError(f"--space {text!r}: give at least two choices (A,B) or a range (LOW..HIGH)")
    return Param(key, "choice", choices=tuple(choices))


def parse_space(texts: list[str]) -> list[Param]:
    params = [parse_param(t) for t in texts]
    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--space names a setting twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    return params


def trial_config(base: dict[str, Any], params: list[Param], values: dict[str, Any]) -> tuple[dict[str, Any], RunConfig]:
    """The base config (a plain dict) with one trial's values: (raw dict, checked RunConfig)."""
    raw = apply_overrides(base, [p.override(values[p.key]) for p in params])
    try:
        return raw, RunConfig.from_dict(raw)
    except ConfigError as e:
        shown = ", ".join(f"{p.key}={values[p.key]}" for p in params)
        raise ConfigError(f"the sweep's config with {shown} is not valid: {e}") from None


def check_space(base: dict[str, Any], params: list[Param]) -> None:
    """Every choice and both ends of every range make a valid config (fails before any training)."""
    for p in params:
        values = p.choices if p.kind == "choice" else (p.low, p.high)
        for v in values:
            trial_config(base, [p], {p.key: v})
