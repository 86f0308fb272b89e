"""--space strings -> parameters -> trial configs."""

import math

import pytest

from vaekit.errors import ConfigError
from vaekit.sweep.space import parse_param, parse_space, trial_config


def test_ranges_take_their_kind_from_the_setting():
    p = parse_param("model.latent_dim=2..64:log")
    assert (p.kind, p.low, p.high, p.log) == ("int", 2, 64, True)
    q = parse_param("train.beta=0.5..4")
    assert (q.kind, q.low, q.high, q.log) == ("float", 0.5, 4.0, False)
    assert parse_param("train.lr=1e-4..3e-3:log").kind == "float"
    assert parse_param("train.grad_clip=1..100").kind == "float"  # float | None is still a number


def test_choices_keep_commas_inside_brackets():
    p = parse_param("model.hidden=[200,200],[400], [64,64,64]")
    assert p.kind == "choice" and p.choices == ("[200,200]", "[400]", "[64,64,64]")
    raw, cfg = trial_config({}, [p], {p.key: "[64,64,64]"})
    assert cfg.model.hidden == (64, 64, 64) and raw["model"]["hidden"] == [64, 64, 64]
    prior = parse_param("model.prior=normal,vamp")
    assert trial_config({}, [prior], {"model.prior": "vamp"})[1].model.prior.kind == "vamp"
    components = parse_param("model.prior.components=2..20")
    assert components.kind == "int"  # a part option: its type from the part that declares it


def test_trial_config_applies_sampled_values_over_the_base():
    params = parse_space(["model.latent_dim=2..64:log", "train.beta=0.5..4"])
    base = {"model": {"latent_dim": 8, "hidden": [32]}, "train": {"epochs": 3}}
    _, cfg = trial_config(base, params, {"model.latent_dim": 17, "train.beta": 1.25})
    assert cfg.model.latent_dim == 17 and cfg.train.beta == 1.25
    assert cfg.model.hidden == (32,) and cfg.train.epochs == 3
    assert base["model"]["latent_dim"] == 8  # the base is not changed


def test_grid_values_spread_over_the_range():
    assert parse_param("model.latent_dim=2..32:log").grid(5) == [2, 4, 8, 16, 32]
    assert parse_param("train.beta=0..1").grid(3) == [0.0, 0.5, 1.0]
    lr = parse_param("train.lr=1e-4..1e-2:log").grid(3)
    assert all(math.isclose(a, b) for a, b in zip(lr, [1e-4, 1e-3, 1e-2]))
    assert parse_param("model.prior=normal,vamp").grid(3) == ["normal", "vamp"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("model.latent_size=2..8", "no such setting"),
        ("modle.latent_dim=2..8", "no such setting"),
        ("model.prior=normal..vamp", "not a number"),
        ("train.beta=4..1", "below the high end"),
        ("train.lr=0..1e-2:log", "positive low end"),
        ("model.latent_dim=2.5..8", "integer"),
        ("train.beta=1..4:sqrt", ":log"),
        ("train.beta=2", "at least two choices"),
        ("train.beta", "KEY=LOW..HIGH"),
    ],
)
def test_bad_space_strings_say_what_to_write(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_param(text)


def test_a_setting_named_twice_is_an_error():
    with pytest.raises(ConfigError, match="twice"):
        parse_space(["train.beta=1..2", "train.beta=1,2"])


def test_a_choice_the_config_rejects_fails_before_training():
    from vaekit.sweep.space import check_space

    with pytest.raises(ConfigError, match="train.optimizer"):
        check_space({}, parse_space(["train.optimizer=adam,sgd9"]))


def test_sweeping_a_setting_the_base_config_overrides_is_an_error():
    from vaekit.sweep import SweepSpec

    base = {"model": {"latent_dims": [8, 4]}}
    with pytest.raises(ConfigError, match="model.latent_dims"):
        SweepSpec(base=base, space=("model.latent_dim=2..8",)).check()
