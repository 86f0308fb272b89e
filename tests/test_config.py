import json

import pytest

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig, apply_overrides, load_config, parse_override
from vaekit.errors import ConfigError


def test_defaults_round_trip_through_json():
    cfg = RunConfig(model=ModelConfig(hidden=(8, 4), channels=(2,)), data=DataConfig(image_size=(16, 12)))
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.model.hidden == (8, 4) and again.data.image_size == (16, 12)


def test_unknown_key_names_the_key_and_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'bta'.*beta"):
        RunConfig.from_dict({"train": {"bta": 4}})
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({"trian": {}})


@pytest.mark.parametrize(
    "raw,match",
    [
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer"),
        ({"train": {"epochs": 2.5}}, "train.epochs: expected an integer"),
        ({"train": {"lr": "fast"}}, "train.lr: expected a number"),
        ({"train": {"progress": 1}}, "train.progress: expected true or false"),
        ({"model": {"arch": "transformer"}}, "model.arch: 'transformer' is not one of"),
        ({"model": {"hidden": 5}}, "model.hidden: expected a list"),
        ({"model": {"hidden": [5, "x"]}}, r"model.hidden\[1\]: expected an integer"),
        ({"data": {"image_size": [1, 2, 3]}}, "expected 2 values"),
        ({"seed": None}, "seed: expected an integer"),
    ],
)
def test_wrong_types_are_errors_naming_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(raw)


def test_ints_become_floats_and_optional_accepts_none():
    cfg = RunConfig.from_dict({"train": {"lr": 1, "grad_clip": None, "max_time": 60}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.train.grad_clip is None and cfg.train.max_time == 60.0


def test_parse_override_reads_toml_values():
    assert parse_override("train.beta=4") == (["train", "beta"], 4)
    assert parse_override("model.hidden=[64, 32]") == (["model", "hidden"], [64, 32])
    assert parse_override("data.source=folder:/tmp/x") == (["data", "source"], "folder:/tmp/x")
    assert parse_override("train.grad_clip=none") == (["train", "grad_clip"], None)
    assert parse_override("train.progress=false") == (["train", "progress"], False)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.beta")


def test_overrides_apply_over_a_toml_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('seed = 3\n[model]\narch = "conv"\nlatent_dim = 8\n[train]\nbeta = 1.0\n')
    cfg = load_config(p, ["train.beta=4", "model.latent_dim=2"])
    assert cfg.seed == 3 and cfg.model.arch == "conv"
    assert cfg.train.beta == 4.0 and cfg.model.latent_dim == 2


def test_yaml_and_json_files(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("train:\n  epochs: 3\n")
    assert load_config(y).train.epochs == 3
    j = tmp_path / "c.json"
    j.write_text('{"model": {"latent_dim": 5}}')
    assert load_config(j).model.latent_dim == 5


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=")
    with pytest.raises(ConfigError, match="bad.toml could not be parsed"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\nepoch = 3\n")
    with pytest.raises(ConfigError, match="typo.toml.*'epoch'"):
        load_config(typo)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="use a .toml"):
        (tmp_path / "c.ini").write_text("")
        load_config(tmp_path / "c.ini")


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_configs_are_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().beta = 2.0  # type: ignore[misc]
