"""train.threads = "auto": the choice logic with an injected timer, and what a run records."""

import json

import pytest
import torch

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.training.loop import fit
from vaekit.training.threads import candidates, choose_threads, step_timer


def test_candidates_double_up_to_the_limit():
    assert candidates(1) == [1]
    assert candidates(2) == [1, 2]
    assert candidates(6) == [1, 2, 4, 6]
    assert candidates(8) == [1, 2, 4, 8]


def fake_timer(seconds: dict[int, list[float]]):
    """step_seconds(threads) that replays the given times per thread count, recording the calls."""
    calls: list[int] = []

    def step(n: int) -> float:
        calls.append(n)
        return seconds[n][sum(1 for c in calls if c == n) - 1]

    return step, calls


def test_one_thread_wins_when_another_process_holds_a_core():
    step, calls = fake_timer({1: [0.010, 0.011, 0.010], 2: [0.090, 0.150, 0.120]})  # 2 threads spin-wait
    choice, best = choose_threads([1, 2], step)
    assert choice == 1 and best == {1: 0.010, 2: 0.090}
    assert calls == [1, 2, 2, 1, 1, 2]  # alternating rounds, order reversed every other round


def test_more_threads_win_on_an_idle_machine_only_by_a_clear_margin():
    step, _ = fake_timer({1: [0.010] * 3, 2: [0.006] * 3, 4: [0.0058] * 3})
    assert choose_threads([1, 2, 4], step)[0] == 2  # 4 is not 10% faster than 2
    step, _ = fake_timer({1: [0.010] * 3, 2: [0.0095] * 3})
    assert choose_threads([1, 2], step)[0] == 1  # 5% is noise, not a reason for a second thread


def test_step_timer_leaves_the_model_and_rng_alone():
    from vaekit.core import build_model

    vae = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)), (1, 4, 4))
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    seconds = step_timer(vae, torch.rand(16, 1, 4, 4), None)
    assert seconds(1) > 0
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())


def test_auto_threads_is_the_default_and_the_run_records_its_choice(tmp_path):
    assert TrainConfig().threads == "auto"
    cfg = RunConfig(
        data=DataConfig(source="digits", limit=128),
        model=ModelConfig(arch="mlp", latent_dim=2, hidden=(16,)),
        train=TrainConfig(epochs=1, batch_size=32, progress=False, tensorboard=False),
    )
    run = fit(cfg, tmp_path / "r", figures=False)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["threads"] == torch.get_num_threads() >= 1
    machine = json.loads((run.path / "config.json").read_text())["machine"]
    assert machine["cores"] >= 1 and isinstance(machine["avx512"], bool) and machine["cpu"]


@pytest.mark.parametrize("bad", ["fast", 1.5])
def test_threads_setting_rejects_other_values(bad):
    from vaekit.config import load_config
    from vaekit.errors import ConfigError

    with pytest.raises(ConfigError, match="train.threads"):
        load_config(None, [f"train.threads={bad!r}" if isinstance(bad, str) else f"train.threads={bad}"])
