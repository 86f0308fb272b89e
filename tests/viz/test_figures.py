"""Pictures that explain themselves: headed columns, class labels, maps over their inputs, ticks, curves."""

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from PIL import Image

from vaekit.applications.interpolation import traverse
from vaekit.cli import main
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.core import build_model
from vaekit.training.loop import fit
from vaekit.viz.grids import curves_figure
from vaekit.viz.heatmaps import heatmap_png, overlay
from vaekit.viz.labelled import choose_blocks, save_columns


@pytest.fixture
def texts(monkeypatch):
    """Every string matplotlib is asked to draw as text or a y tick label during the test."""
    seen: list[str] = []
    text, yticks = Axes.text, Axes.set_yticklabels

    def record_text(self, x, y, s, *args, **kwargs):
        seen.append(str(s))
        return text(self, x, y, s, *args, **kwargs)

    def record_yticks(self, labels, *args, **kwargs):
        seen.extend(str(t) for t in labels)
        return yticks(self, labels, *args, **kwargs)

    monkeypatch.setattr(Axes, "text", record_text)
    monkeypatch.setattr(Axes, "set_yticklabels", record_yticks)
    return seen


def _tiny(tmp_path, name, epochs=2, **model):
    cfg = RunConfig(
        data=DataConfig(source="digits", limit=200),
        model=ModelConfig(arch="mlp", latent_dim=4, hidden=(32,), **model),
        train=TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, progress=False, tensorboard=False, threads=1),
    )
    return fit(cfg, tmp_path / name).path


def test_columns_are_headed_and_wrapped_into_blocks(tmp_path, texts):
    assert choose_blocks(32, 2, 8, 8) > 1 and choose_blocks(1, 3, 8, 8) == 1
    save_columns(np.random.rand(16, 3, 1, 8, 8), ["original", "masked", "filled"], tmp_path / "t.png", scale=6)
    w, h = Image.open(tmp_path / "t.png").size
    assert 0.7 < w / h < 2.5  # 16 rows of 3 wrap into blocks, not one strip 16 images tall
    assert texts.count("original") == texts.count("masked") == texts.count("filled") > 1  # each block has headers


def test_inpaint_and_reconstruct_pictures_have_headers(tmp_path, texts):
    run = _tiny(tmp_path, "r")
    assert main(["inpaint", str(run), "--mask", "bottom-half", "-n", "16", "--steps", "5", "--samples", "1",
                 "--out", str(tmp_path / "i.png")]) == 0  # fmt: skip
    assert {"original", "masked", "filled", "sample 1"} <= set(texts)
    w, h = Image.open(tmp_path / "i.png").size
    assert w / h > 0.7
    texts.clear()
    assert main(["reconstruct", str(run), "-n", "8", "--out", str(tmp_path / "r.png")]) == 0
    assert {"original", "reconstruction"} <= set(texts)


def test_a_conditional_models_samples_are_labelled_by_class(tmp_path, texts):
    run = _tiny(tmp_path, "c", conditional=True)
    assert [str(c) for c in range(10)] == [t for t in texts if t.isdigit()][:10]  # samples.png of the run
    texts.clear()
    assert main(["sample", str(run), "-n", "20", "--out", str(tmp_path / "s.png")]) == 0
    assert [str(c) for c in range(10)] == [t for t in texts if t.isdigit()]


def test_anomaly_maps_are_drawn_over_the_input_with_a_colour_bar():
    image = np.full((1, 4, 4), 0.25)
    values = np.zeros((4, 4))
    values[0, 0] = 10.0
    rgb = overlay(values, image, 0.0, 10.0)
    np.testing.assert_allclose(rgb[1:, 1:], 0.25)  # where the score is lowest the input shows through
    assert np.abs(rgb[0, 0] - 0.25).max() > 0.3  # the hot pixel is coloured
    import io

    png = Image.open(io.BytesIO(heatmap_png(values, 0.0, 10.0, scale=2, image=image)))
    assert png.size[0] > 8 and png.size[1] == 8  # the input plus a colour-bar strip on the right


def test_traverse_sweeps_exactly_zero_in_the_middle():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", latent_dim=3, hidden=(8,)), (1, 8, 8)).eval()
    for span, steps in ((3.0, 15), (2.0, 7), (1.0, 11)):  # linspace gave -3e-08, -6e-08, -1.5e-08 here
        t = traverse(model, [0], torch.zeros(3), span=span, steps=steps)
        assert t.values[steps // 2].item() == 0.0
        assert t.values[0].item() == -span and t.values[-1].item() == span


def test_curves_have_whole_epochs_the_learning_rate_and_the_stopping_point():
    history = [
        {"epoch": e, "loss": 10.0 - e, "val_elbo": -v, "kl": 1.0, "val_kl": 1.0, "lr": 1e-3 * 0.5**e}
        for e, v in zip((1, 2, 3), (9.0, 8.0, 8.5))
    ]
    fig = curves_figure(history, stop="early stopping: no validation improvement for 1 epochs")
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert any(ax.get_ylabel() == "learning rate" for ax in fig.axes)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "best: epoch 2 (saved)" in legend and "early stop: epoch 3" in legend
