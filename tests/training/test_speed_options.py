"""train.precision and train.compile: what they change and what they must not."""

import pytest
import torch

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.training.loop import fit
from vaekit.training.objectives import make_objective


def tiny(arch: str = "mlp", **train) -> RunConfig:
    t = dict(epochs=1, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False)
    t.update(train)
    return RunConfig(
        data=DataConfig(source="digits", limit=256),
        model=ModelConfig(arch=arch, latent_dim=4, hidden=(32,), channels=(8, 16), likelihood="bernoulli"),
        train=TrainConfig(**t),
        seed=0,
    )


def state(run) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in run.model.state_dict().items()}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_bf16_autocast_is_applied_and_stays_close_to_float32(tmp_path, arch):
    ref = fit(tiny(arch), tmp_path / "f32", figures=False)
    bf = fit(tiny(arch, precision="bf16"), tmp_path / "bf16", figures=False)
    a, b = state(ref), state(bf)
    assert all(v.dtype == torch.float32 for v in b.values())  # weights stay float32
    assert any(not torch.equal(a[k], b[k]) for k in a)  # bf16 matmuls did run: the results differ ...
    elbo_f32, elbo_bf16 = ref.history[-1]["val_elbo"], bf.history[-1]["val_elbo"]
    assert abs(elbo_f32 - elbo_bf16) < 0.02 * abs(elbo_f32)  # ... but only by rounding


def test_compile_is_refused_for_the_adversarial_objective():
    cfg = tiny(objective="vaegan", compile=True).train
    with pytest.raises(ConfigError, match="train.compile"):
        make_objective(cfg, None, steps_per_epoch=1, dataset_size=1)


@pytest.mark.slow
def test_compiled_loss_trains_like_eager(tmp_path):
    cfg = dict(kl_warmup_epochs=1.0)  # kl_weight changes every step: must not recompile per step
    eager = fit(tiny(**cfg), tmp_path / "eager", figures=False)
    compiled = fit(tiny(compile=True, **cfg), tmp_path / "compiled", figures=False)
    a, b = state(eager), state(compiled)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-4)
