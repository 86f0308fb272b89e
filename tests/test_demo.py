"""`make demo` and `make install`: the fallback without Fashion-MNIST is quick and worth a look; a quiet install."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def demo():
    spec = importlib.util.spec_from_file_location("vaekit_demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _settings(overrides: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


def test_without_fashion_mnist_the_demo_trains_a_2d_latent_for_about_a_minute(demo, monkeypatch):
    monkeypatch.setattr(demo, "_found", lambda source, data_dir=None: source == "mnist")
    what, config, overrides, manifold = demo.pick("auto")
    s = _settings(overrides)
    assert "MNIST" in what and manifold and s["model.latent_dim"] == "2" and float(s["train.max_time"]) <= 60
    monkeypatch.setattr(demo, "_found", lambda source, data_dir=None: False)
    what, config, overrides, manifold = demo.pick("auto")
    s = _settings(overrides)
    assert config.name == "digits_mlp.toml" and manifold and float(s["train.max_time"]) <= 60
    assert "model.arch" not in s  # an MLP: the conv override made the old fallback take over 6 minutes


def test_the_demo_data_can_be_chosen_and_bad_choices_say_so(demo, monkeypatch):
    monkeypatch.setattr(demo, "_found", lambda source, data_dir=None: True)
    assert demo.pick("auto")[1].name == "fashion_mnist_conv.toml"
    assert demo.pick("digits")[1].name == "digits_mlp.toml"  # hides Fashion-MNIST and MNIST without uninstalling them
    with pytest.raises(SystemExit, match="use one of"):
        demo.pick("cifar")
    monkeypatch.setattr(demo, "_found", lambda source, data_dir=None: False)
    with pytest.raises(SystemExit, match="not on this machine"):
        demo.pick("fashion-mnist")


def test_the_package_metadata_builds_without_deprecation_banners():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(meta["project"]["license"], str)  # an SPDX expression; a table is deprecated in setuptools
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in meta["build-system"]["requires"])
    assert "PIP_QUIET ?= -qq" in (ROOT / "Makefile").read_text()  # pip warnings about missing index folders are noise
