"""New inputs for a trained model. The loader moved to :mod:`vaekit.runs` (below both
``applications`` and ``evaluation``); it is re-exported here for existing imports."""

from __future__ import annotations

from vaekit.runs import condition_for, load_run_data

__all__ = ["condition_for", "load_run_data"]
