"""Model selection on Optuna: ``vaekit sweep``.

A sweep is a directory holding an Optuna study (SQLite) and one ordinary run directory per trial.
``space`` parses the search space, ``study`` owns the directory, the study and the workers,
``trial`` trains and scores one trial (pruned on its per-epoch validation ELBO), ``runner`` starts
or resumes a sweep in one or more processes, ``report`` writes the table, plots and best.toml.
Optuna is an optional extra: ``pip install 'vaekit[sweep]'``.
"""

from vaekit.sweep.report import write_report
from vaekit.sweep.runner import run_sweep, start_sweep
from vaekit.sweep.space import Param, parse_space
from vaekit.sweep.study import SweepSpec

__all__ = ["Param", "SweepSpec", "parse_space", "run_sweep", "start_sweep", "write_report"]
