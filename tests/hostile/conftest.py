"""One tiny trained run for the whole hostile suite (digits, 1 epoch, 1 thread); cases copy it."""

from __future__ import annotations

import pytest
from hostile_kit import TINY, Ctx, run_main


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    result = run_main(["train", *TINY, "--out", str(out)])
    assert result.code == 0, result.stderr
    return out


@pytest.fixture
def ctx(tmp_path, trained_run, monkeypatch) -> Ctx:
    work = tmp_path / "work"
    work.mkdir()
    return Ctx(work, trained_run, monkeypatch)
