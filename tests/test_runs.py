"""vaekit.runs: a run's data for evaluation and applications alike, and the layering it restores."""

import ast
from pathlib import Path

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.errors import DataError
from vaekit.runs import condition_for

SRC = Path(__file__).resolve().parents[1] / "src" / "vaekit"


def imported_modules(path: Path) -> set[str]:
    """Every vaekit module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("vaekit")}


def test_condition_for_passes_labels_to_conditional_models_only():
    y = torch.tensor([0, 2, 1])
    plain = build_model(ModelConfig(latent_dim=2, hidden=(8,)), (4,))
    cond = build_model(ModelConfig(latent_dim=2, hidden=(8,), conditional=True, condition_dim=3), (4,))
    assert condition_for(plain, y, "x") is None and condition_for(plain, None, "x") is None
    assert condition_for(cond, y, "x") is y
    with pytest.raises(DataError, match="conditional.*the test split of 'folder:a' has no labels.*labelled data"):
        condition_for(cond, None, "the test split of 'folder:a'")
