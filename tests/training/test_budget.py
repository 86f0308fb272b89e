"""Time budgets: schedules that follow the share of train.max_time used; the on_epoch hook; the CPU
recorded in the run directory."""

import json

import pytest

from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.training.loop import fit


def tiny(**train) -> RunConfig:
    t = dict(epochs=2, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False)
    t.update(train)
    return RunConfig(
        data=DataConfig(source="digits", limit=64), model=ModelConfig(latent_dim=2, hidden=(16,)), train=TrainConfig(**t)
    )


def rows(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_a_time_budget_finishes_the_cosine_schedule_and_the_warmup_whatever_the_epoch_count(tmp_path):
    cfg = tiny(epochs=100_000, max_time=1.5, schedule_by="time", lr_schedule="cosine", lr_min=0.0, kl_warmup_epochs=10_000)
    run = fit(cfg, tmp_path / "r", figures=False)
    r = rows(run.path)
    assert run.progress.stop_reason.startswith("max_time")
    assert r[-1]["budget_used"] == 1.0 and r[-1]["kl_weight"] == 1.0  # warm-up over 10% of the budget, done
    lrs = [x["lr"] for x in r]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # decays with the clock
    assert lrs[-1] < 0.25 * cfg.train.lr  # near the floor by the end (by steps it would still be ~3e-3)
    assert r[0]["kl_weight"] < 1.0


def test_a_stall_at_the_start_does_not_rush_the_schedules_through(tmp_path, monkeypatch):
    import time

    import vaekit.training.loop as loop

    real, calls = loop.training_step, []

    def first_step_compiles(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.2)  # what compiling the first step costs, at this budget's scale
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "training_step", first_step_compiles)
    cfg = tiny(epochs=100_000, max_time=3.0, schedule_by="time", lr_schedule="cosine", lr_min=0.0, kl_warmup_epochs=20_000)
    run = fit(cfg, tmp_path / "r", figures=False)
    r = rows(run.path)
    assert r[0]["stalled_seconds"] >= 1.1  # found and left out of the schedules' clock
    # the warm-up spans 20% of the budget left after the stall: one short epoch is a sliver of it
    # (counting the stall, 40% of the budget would have gone and the warm-up would be over)
    assert r[0]["kl_weight"] < 0.3
    assert r[-1]["budget_used"] == 1.0 and r[-1]["kl_weight"] == 1.0  # still ends with the budget
    assert r[-1]["lr"] < 0.25 * cfg.train.lr


def test_on_epoch_sees_each_epoch_and_can_stop_the_run(tmp_path):
    seen = []

    def hook(s: dict, model) -> str | None:
        assert not model.training  # this epoch's weights, as validated
        seen.append(s)
        return "enough" if s["epoch"] == 2 else None

    run = fit(tiny(epochs=5), tmp_path / "r", figures=False, on_epoch=hook)
    assert [s["epoch"] for s in seen] == [1, 2] and run.progress.stop_reason == "enough" and run.progress.epoch == 2
    assert [s["val_elbo"] for s in seen] == [x["val_elbo"] for x in rows(run.path)]


def test_an_exception_in_on_epoch_leaves_the_previous_epoch_to_resume_from(tmp_path):
    class Pause(Exception):
        pass

    def hook(s: dict, model) -> None:
        if s["epoch"] == 2:
            raise Pause

    with pytest.raises(Pause):
        fit(tiny(epochs=3), tmp_path / "r", figures=False, on_epoch=hook)
    assert [x["epoch"] for x in rows(tmp_path / "r")] == [1]
    run = fit(None, tmp_path / "r", resume=True, figures=False)
    assert [x["epoch"] for x in rows(run.path)] == [1, 2, 3]


def test_old_run_directories_without_the_cpu_still_load(tmp_path):
    run = fit(tiny(epochs=1), tmp_path / "r", figures=False)
    raw = json.loads((run.path / "config.json").read_text())
    assert raw["machine"]["cpu"]
    del raw["machine"]
    (run.path / "config.json").write_text(json.dumps(raw))
    assert RunDir(run.path).info.machine == {}


def test_with_time_to_spare_the_schedules_follow_the_epochs(tmp_path):
    # a fast machine finishes the planned epochs well inside the budget: the schedule must end with them
    kw = dict(epochs=3, lr_schedule="cosine", lr_min=1e-4, kl_warmup_epochs=2)
    by_time = rows(fit(tiny(**kw, max_time=3600, schedule_by="time"), tmp_path / "t", figures=False).path)
    by_steps = rows(fit(tiny(**kw), tmp_path / "s", figures=False).path)
    no_budget = rows(fit(tiny(**kw, schedule_by="time"), tmp_path / "n", figures=False).path)  # no max_time: the epochs
    assert [r["lr"] for r in by_time] == pytest.approx([r["lr"] for r in by_steps], rel=1e-3)
    assert [r["lr"] for r in no_budget] == [r["lr"] for r in by_steps]
    assert [r["kl_weight"] for r in by_time] == pytest.approx([r["kl_weight"] for r in by_steps], rel=1e-3)


def test_init_from_starts_where_another_run_ended(tmp_path):
    import torch

    first = fit(tiny(epochs=2), tmp_path / "a", figures=False)
    tuned = tiny(
        epochs=1, lr=1e-12, init_from=str(first.path), objective={"kind": "iwae", "k": 3}
    )  # a step too small to move anything
    second = fit(tuned, tmp_path / "b", figures=False)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    fresh = fit(tiny(epochs=1, lr=1e-12), tmp_path / "c", figures=False).model.state_dict()
    assert not all(torch.allclose(a[k], fresh[k], atol=1e-6) for k in a)
