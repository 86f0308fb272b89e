"""Post-training fits (CompressAI's ``update()``): steps that belong to a model part and run once
training ends, saving what they fit beside (or into) the best weights. One registered file each:
``@POSTHOC.register(name)`` on a class with ``applies(cfg)`` and ``fit(out, model, cfg, data)``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from vaekit.config import RunConfig
from vaekit.core import VAE
from vaekit.data import DataSplits
from vaekit.registry import POSTHOC


@runtime_checkable
class PosthocFit(Protocol):
    @staticmethod
    def applies(cfg: RunConfig) -> bool: ...

    @staticmethod
    def fit(out: Path, model: VAE, cfg: RunConfig, data: DataSplits) -> None: ...


def fit_posthoc_parts(out: Path, model: VAE, cfg: RunConfig, data: DataSplits) -> list[str]:
    """Run every registered post-training fit that applies to this run; returns their names."""
    done = []
    for entry in POSTHOC.entries():
        if entry.factory.applies(cfg):
            entry.factory.fit(out, model, cfg, data)
            done.append(entry.name)
    return done


__all__ = ["PosthocFit", "fit_posthoc_parts"]
