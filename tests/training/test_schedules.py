import math

from vaekit.training.schedules import Plateau, cosine_lr, kl_weight, plateau_update, step_lr


def test_kl_warmup_is_linear_then_constant():
    assert kl_weight(0, 10, 2.0, 1.0) == 0.0
    assert kl_weight(5, 10, 2.0, 1.0) == 1.0
    assert kl_weight(10, 10, 2.0, 1.0) == 2.0
    assert kl_weight(500, 10, 2.0, 1.0) == 2.0
    assert kl_weight(0, 10, 3.0, 0.0) == 3.0


def test_cosine_endpoints_and_midpoint():
    assert cosine_lr(0, 100, 1.0, 0.1) == 1.0
    assert math.isclose(cosine_lr(50, 100, 1.0, 0.1), 0.55)
    assert math.isclose(cosine_lr(100, 100, 1.0, 0.1), 0.1)


def test_step_lr():
    assert step_lr(0, 1.0, 10, 0.5) == 1.0
    assert step_lr(9, 1.0, 10, 0.5) == 1.0
    assert step_lr(10, 1.0, 10, 0.5) == 0.5
    assert step_lr(25, 1.0, 10, 0.5) == 0.25


def test_plateau_drops_after_patience_epochs_without_improvement():
    s = Plateau()
    s = plateau_update(s, -100.0, patience=2, gamma=0.1)
    assert s.best == -100.0 and s.factor == 1.0
    for _ in range(2):
        s = plateau_update(s, -101.0, patience=2, gamma=0.1)
        assert s.factor == 1.0
    s = plateau_update(s, -101.0, patience=2, gamma=0.1)
    assert math.isclose(s.factor, 0.1) and s.bad_epochs == 0
    s = plateau_update(s, -90.0, patience=2, gamma=0.1)
    assert s.best == -90.0 and math.isclose(s.factor, 0.1)


def test_capacity_grows_linearly_then_stays():
    from vaekit.training.schedules import capacity

    assert capacity(0, 25.0, 100) == 0.0
    assert math.isclose(capacity(40, 25.0, 100), 10.0)
    assert capacity(100, 25.0, 100) == 25.0
    assert capacity(10_000, 25.0, 100) == 25.0


def test_capacity_objective_penalises_the_distance_to_c():
    import torch

    from vaekit.config import ModelConfig, TrainConfig
    from vaekit.core import build_model, elbo
    from vaekit.training.objectives import make_objective

    torch.manual_seed(0)
    m = build_model(ModelConfig(latent_dim=3, hidden=(8,)), (1, 4, 4))
    x = torch.rand(8, 1, 4, 4)
    eps = torch.randn(8, 3)
    t_cfg = TrainConfig(beta=100.0, objective={"kind": "elbo", "capacity_max": 50.0, "capacity_steps": 10})
    obj = make_objective(t_cfg, m, steps_per_epoch=5, dataset_size=8)
    t = obj(m, x, eps=eps, mask=None, condition=None, step=4)  # C = 20 nats
    torch.testing.assert_close(t.loss, t.recon_nll + 100.0 * (t.kl - 20.0).abs())
    plain = elbo(m, x, eps=eps)
    torch.testing.assert_close(t.elbo, plain.elbo)


def test_fraction_schedules_match_the_step_ones_and_end_with_the_budget():
    from vaekit.training.schedules import budget_fraction, cosine_lr_at, time_position

    assert cosine_lr_at(0.0, 1.0, 0.1) == 1.0
    assert math.isclose(cosine_lr_at(0.5, 1.0, 0.1), cosine_lr(50, 100, 1.0, 0.1))
    assert cosine_lr_at(1.5, 1.0, 0.1) == 0.1  # past the budget: the floor
    assert budget_fraction(30.0, 120.0) == 0.25 and budget_fraction(500.0, 120.0) == 1.0
    # a quarter of the budget is a quarter of the planned steps, whatever the machine's speed
    assert time_position(30.0, 120.0, total_steps=4000) == 1000.0
    # KL warm-up over 10 of 100 planned epochs = the first 10% of the budget
    pos = time_position(6.0, 120.0, total_steps=100 * 50)  # 5% of the budget
    assert math.isclose(kl_weight(pos, 50, 1.0, 10.0), 0.5)


def test_stalls_are_left_out_of_the_time_position_and_the_schedule_still_ends_with_the_budget():
    from vaekit.training.schedules import time_position

    # a 20 s compile in a 120 s budget: 10 s of training is 10% of what was left, not 25% of it all
    assert math.isclose(time_position(30.0, 120.0, total_steps=1000, stalled=20.0), 100.0)
    assert time_position(120.0, 120.0, total_steps=1000, stalled=20.0) == 1000.0  # the end is the end
    assert time_position(30.0, 120.0, total_steps=1000, stalled=0.0) == 250.0  # no stall: as before
    assert time_position(50.0, 40.0, total_steps=1000, stalled=45.0) == 1000.0  # stalls beyond the budget


def test_the_stall_clock_counts_only_what_an_outlying_step_took_beyond_a_typical_one():
    from vaekit.training.schedules import StallClock

    clock = StallClock()
    clock.add(20.0)  # the first step, compiling: provisionally all stalled
    assert clock.stalled == 20.0
    clock.add(0.01)  # the second settles it: 20 s less one typical step
    assert math.isclose(clock.stalled, 19.99)
    for _ in range(50):
        clock.add(0.012)  # steps vary a little: nothing stalls
    assert math.isclose(clock.stalled, 19.99)
    clock.add(1.0)  # a pause mid-run
    assert clock.typical is not None and clock.typical < 0.02  # the pause did not become typical
    assert math.isclose(clock.stalled, 19.99 + 1.0 - 0.012, rel_tol=1e-3)
    quick = StallClock(stalled=5.0)  # a resumed run continues the saved total
    quick.add(0.01)
    quick.add(0.01)
    assert quick.stalled == 5.0
