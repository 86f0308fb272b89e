"""Anomaly detection: scores against closed forms, maps, the detector, labels and metrics, the CLI."""

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.applications.anomaly import ScoreSettings, anomaly_maps, anomaly_scores
from vaekit.applications.anomaly_labels import detection_metrics, labels_from_classes, read_anomaly_labels
from vaekit.applications.detector import Detector, fit_detector, load_detector, save_detector
from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig
from vaekit.core.elbo import kl_terms
from vaekit.core.likelihoods.gaussian import GaussianLikelihood, GaussianOptions
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE
from vaekit.data import load_data
from vaekit.errors import ConfigError, DataError, RunDirError

SRC = Path(__file__).resolve().parents[2] / "src" / "vaekit"


# ---------------------------------------------------------------- scores against closed forms

W, B, SIGMA = torch.tensor([1.0, 0.8, -0.6]), torch.tensor([0.0, 0.5, -0.2]), 0.5
S2 = float(1 / (1 + (W @ W) / SIGMA**2))


def linear_gaussian(shrink: float = 1.0, shift: float = 0.0) -> VAE:
    """x = W z + B + noise; the encoder is the exact posterior for shrink=1, shift=0."""
    enc, dec = nn.Linear(3, 2), nn.Linear(1, 3)
    with torch.no_grad():
        enc.weight[0] = shrink * S2 * W / SIGMA**2
        enc.bias[0] = -shrink * S2 * float(W @ B) / SIGMA**2 + shift
        enc.weight[1] = 0.0
        enc.bias[1] = math.log(math.expm1(math.sqrt(S2) - 1e-5))
        dec.weight[:, 0], dec.bias[:] = W, B
    return VAE(
        enc, dec, GaussianLikelihood((3,), GaussianOptions(scale=SIGMA)), StandardNormal(1), DiagonalGaussian(1), (3,), 1
    ).eval()


X = torch.tensor([[1.2, 0.0, 0.3], [-2.0, 1.5, 0.9], [0.1, 0.4, -0.3]])


def closed_forms(model: VAE) -> dict[str, torch.Tensor]:
    qz = model.encode(X)
    mu, s2 = qz.mean[:, 0].detach().double(), qz.variance[:, 0].detach().double()
    w, b, x = W.double(), B.double(), X.double()
    resid2 = (x - b - mu[:, None] * w).pow(2).sum(1)  # |x - E[x | z = mu]|^2
    const = 1.5 * math.log(2 * math.pi * SIGMA**2)
    recon = const + (resid2 + (w @ w) * s2) / (2 * SIGMA**2)  # E_q[-log p(x|z)]
    kl = 0.5 * (mu**2 + s2 - 1 - torch.log(s2))
    cov = torch.outer(w, w) + SIGMA**2 * torch.eye(3, dtype=torch.float64)
    nll = -torch.distributions.MultivariateNormal(b, cov).log_prob(x)
    return {"elbo": recon + kl, "recon": const + resid2 / (2 * SIGMA**2), "mse": resid2 / 3, "nll": nll}


def test_elbo_and_recon_scores_match_closed_forms():
    model = linear_gaussian(shrink=0.6, shift=0.3)  # a wrong encoder: ELBO and NLL differ
    exact = closed_forms(model)
    elbo = anomaly_scores(model, X, ScoreSettings("elbo", samples=4000, seed=1))
    assert elbo.dtype == torch.float64 and elbo.shape == (3,)
    torch.testing.assert_close(elbo, exact["elbo"], atol=0.1, rtol=0)
    assert (elbo > exact["nll"]).all()  # the bound is loose for this encoder
    torch.testing.assert_close(anomaly_scores(model, X, ScoreSettings("recon")), exact["recon"], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(
        anomaly_scores(model, X, ScoreSettings("recon", recon_metric="mse")), exact["mse"], atol=1e-5, rtol=1e-5
    )
    # stochastic scores are repeatable with a seed, and differ with another
    s = ScoreSettings("elbo", samples=4, seed=5)
    assert torch.equal(anomaly_scores(model, X, s), anomaly_scores(model, X, s))
    assert not torch.equal(anomaly_scores(model, X, s), anomaly_scores(model, X, ScoreSettings("elbo", samples=4, seed=6)))
    # each example has its own stream of draws: batching does not change its score
    one_by_one = torch.cat([anomaly_scores(model, X[i : i + 1], ScoreSettings("elbo", samples=4, seed=5)) for i in range(3)])
    assert one_by_one[0] == anomaly_scores(model, X, s)[0]
    torch.testing.assert_close(anomaly_scores(model, X, dataclasses.replace(s, batch_size=4)), anomaly_scores(model, X, s))


def test_scores_equal_the_exact_nll_when_the_encoder_is_the_exact_posterior():
    pytest.importorskip("vaekit.evaluation.likelihood", reason="iwae_nll (vaekit.evaluation.likelihood) is not there yet")
    model = linear_gaussian()
    exact = closed_forms(model)["nll"]
    # with q = p(z|x), every importance weight equals p(x): the estimate is exact for any k
    torch.testing.assert_close(anomaly_scores(model, X, ScoreSettings("nll", k=8)), exact, atol=2e-4, rtol=0)
    torch.testing.assert_close(anomaly_scores(model, X, ScoreSettings("elbo", samples=2000)), exact, atol=0.05, rtol=0)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown anomaly score"):
        ScoreSettings("likelihood").check()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="samples"):
        ScoreSettings(samples=0).check()
    with pytest.raises(DataError, match="NaN"):
        anomaly_scores(linear_gaussian(), torch.tensor([[0.0, float("nan"), 1.0]]))


# ---------------------------------------------------------------- maps


def test_maps_add_up_to_the_score_and_point_at_the_damage(zeros_run):
    model = RunDir(zeros_run).load_model()
    x = load_data(DataConfig(source="digits", classes=(0,))).test.x[:20]
    s = ScoreSettings("elbo", samples=6, seed=2, batch_size=60)
    maps = anomaly_maps(model, x, samples=6, seed=2, batch_size=60)
    assert maps.shape == (20, 8, 8)
    qz = model.encode(x)
    kl, _ = kl_terms(qz, model.prior(), qz.mean)  # closed form, z unused
    # the same draws: per-pixel -log p(x|z) summed over pixels, plus KL, is the -ELBO score
    torch.testing.assert_close(maps.double().sum((1, 2)) + kl.double(), anomaly_scores(model, x, s), atol=1e-3, rtol=1e-5)
    damaged = x.clone()
    damaged[:, :, 0:3, 3:6] = 1.0 - damaged[:, :, 0:3, 3:6]  # invert a 3x3 patch
    m = anomaly_maps(model, damaged, samples=6)
    inside = m[:, 0:3, 3:6].mean()
    outside = (m.sum() - m[:, 0:3, 3:6].sum()) / (m.numel() - m[:, 0:3, 3:6].numel())
    assert inside > 2 * outside


# ---------------------------------------------------------------- the detector


def test_threshold_flags_the_contamination_fraction():
    scores = torch.randn(2000, generator=torch.Generator().manual_seed(0)).double()
    for c in (0.01, 0.1, 0.5):
        det = fit_detector(scores, ScoreSettings(), contamination=c)
        assert abs(float(det.flag(scores).double().mean()) - c) <= 1 / 2000
    det = fit_detector(scores, ScoreSettings(), quantile=0.95)
    assert det.quantile == 0.95 and det.contamination is None
    assert abs(float(det.flag(scores).double().mean()) - 0.05) <= 1 / 2000
    for bad in (0.0, -0.1, 0.51, 1.0):
        with pytest.raises(ConfigError, match=r"\(0, 0.5\]"):
            fit_detector(scores, ScoreSettings(), contamination=bad)
    with pytest.raises(ConfigError, match="quantile"):
        fit_detector(scores, ScoreSettings(), quantile=1.0)


def test_detector_round_trip_and_stale_weights(zeros_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(zeros_run, run_dir)
    (run_dir / "detector.json").unlink(missing_ok=True)
    run = RunDir(run_dir)
    with pytest.raises(RunDirError, match="vaekit detect fit"):
        load_detector(run)
    from vaekit.applications.detector import weights_sha256

    det = fit_detector(
        torch.arange(10.0), ScoreSettings("recon", recon_metric="mse"), quantile=0.9, model_sha256=weights_sha256(run)
    )
    save_detector(run, det)
    assert load_detector(run) == det and isinstance(det, Detector)
    assert json.loads((run_dir / "detector.json").read_text())["score"]["recon_metric"] == "mse"
    from safetensors.torch import load_file, save_file

    w = load_file(str(run_dir / "model.safetensors"))
    save_file({k: v + 0.01 for k, v in w.items()}, str(run_dir / "model.safetensors"))
    with pytest.raises(RunDirError, match="other weights"):
        load_detector(run)


# ---------------------------------------------------------------- labels and metrics


def test_auroc_and_auprc_match_brute_force():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels
    m = detection_metrics(labels, scores)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert m.auroc == pytest.approx(pairs, abs=1e-12)
    order = np.argsort(-scores)  # average precision: mean of precision at each true positive
    hits = labels[order]
    ap = np.mean([hits[: i + 1].mean() for i in np.flatnonzero(hits)])
    assert m.auprc == pytest.approx(ap, abs=1e-12)
    with pytest.raises(ConfigError, match="both"):
        detection_metrics(np.zeros(5), np.arange(5.0))


def test_label_files_lines_columns_and_names(tmp_path):
    (tmp_path / "lines.txt").write_text("0\n1\n1\n")
    assert read_anomaly_labels(tmp_path / "lines.txt", ["0", "1", "2"]).tolist() == [0, 1, 1]
    (tmp_path / "named.csv").write_text("name,score,anomaly\nb.png,3,1\na.png,1,0\n")
    assert read_anomaly_labels(tmp_path / "named.csv", ["a.png", "b.png"]).tolist() == [0, 1]
    (tmp_path / "cols.csv").write_text("x,bad\n1,0\n2,1\n")
    assert read_anomaly_labels(tmp_path / "cols.csv", ["0", "1"], column="bad").tolist() == [0, 1]
    with pytest.raises(DataError, match="--label-column"):
        read_anomaly_labels(tmp_path / "cols.csv", ["0", "1"])
    with pytest.raises(DataError, match="3 labels but there are 2"):
        read_anomaly_labels(tmp_path / "lines.txt", ["0", "1"])
    (tmp_path / "two.txt").write_text("0\n2\n")
    with pytest.raises(DataError, match="line 2"):
        read_anomaly_labels(tmp_path / "two.txt", ["0", "1"])
    assert labels_from_classes(np.array([0, 1, 2, 1]), (1,)).tolist() == [1, 0, 1, 0]


# ---------------------------------------------------------------- command line


def test_detect_fit_and_score_cli(main, zeros_run, tmp_path, capsys):
    run = str(zeros_run)
    assert main(["detect", "fit", run, "--contamination", "0.05", "--samples", "4"]) == 0
    det = json.loads((zeros_run / "detector.json").read_text())
    assert det["score"]["kind"] == "elbo" and det["contamination"] == 0.05 and det["data"]["split"] == "validation"
    assert det["data"]["classes"] == [0] and det["n_fit"] == len(load_data(RunDir(zeros_run).config.data).validation)
    assert len(det["data"]["checksum"]) == 64 and {"mean", "std", "q99"} <= set(det["stats"])
    out = tmp_path / "scores.csv"
    assert main(["detect", "score", run, "--out", str(out), "--maps", str(tmp_path / "maps"), "--labels-from-data"]) == 0
    rows = list(csv.DictReader(open(out)))
    test = load_data(DataConfig(source="digits")).test
    assert len(rows) == len(test) and list(rows[0]) == ["index", "name", "score", "flag", "label"]
    assert all(int(r["flag"]) == (float(r["score"]) > det["threshold"]) for r in rows)
    assert [int(r["label"]) for r in rows] == (test.y != 0).int().tolist()
    metrics = json.loads((tmp_path / "scores_metrics.json").read_text())
    assert metrics["auroc"] > 0.95 and metrics["n_anomalous"] == int((test.y != 0).sum())
    assert (tmp_path / "scores_roc.png").stat().st_size > 1000
    assert len(list((tmp_path / "maps").glob("*.png"))) == len(test) + 1  # one per input and maps_overview.png
    assert np.load(tmp_path / "maps" / "maps.npy").shape == (len(test), 8, 8)
    assert "AUROC" in capsys.readouterr().out
    # the same AUROC from explicit classes and from a label file
    assert main(["detect", "score", run, "--out", str(tmp_path / "b.csv"), "--normal-classes", "0"]) == 0
    (tmp_path / "labels.txt").write_text("\n".join(r["label"] for r in rows))
    assert main(["detect", "score", run, "--out", str(tmp_path / "c.csv"), "--anomaly-labels", str(tmp_path / "labels.txt")]) == 0
    for name in ("b", "c"):
        assert json.loads((tmp_path / f"{name}_metrics.json").read_text())["auroc"] == metrics["auroc"]


def test_detect_score_folder_uses_file_names(main, zeros_run, tmp_path):
    from PIL import Image

    folder = tmp_path / "new"
    folder.mkdir()
    test = load_data(DataConfig(source="digits")).test
    pick = torch.cat([torch.nonzero(test.y == 0)[:3, 0], torch.nonzero(test.y != 0)[:3, 0]])
    x, y = test.x[pick], test.y[pick]
    names = [f"img_{i}.png" for i in range(6)]
    for name, img in zip(names, x):
        Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(folder / name)
    assert main(["detect", "fit", str(zeros_run), "--score", "recon", "--quantile", "0.99"]) == 0
    (tmp_path / "labels.csv").write_text(
        "file,anomaly\n" + "\n".join(f"{n},{int(c != 0)}" for n, c in zip(names[::-1], y.flip(0)))
    )
    assert main(["detect", "score", str(zeros_run), "--data", f"folder:{folder}", "--out", str(tmp_path / "s.csv"),
                 "--maps", str(tmp_path / "m"), "--anomaly-labels", str(tmp_path / "labels.csv")]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [r["name"] for r in rows] == names
    assert [int(r["label"]) for r in rows] == (y != 0).int().tolist()  # matched by name, not order
    assert [int(r["flag"]) for r in rows][3:] == [1, 1, 1]  # other digits are above the 99% quantile of zeros
    assert sorted(p.name for p in (tmp_path / "m").glob("*.png")) == sorted([*names, "maps_overview.png"])


def test_detect_cli_errors(main, zeros_run, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(zeros_run, bare)
    (bare / "detector.json").unlink(missing_ok=True)
    assert main(["detect", "score", str(bare), "--out", str(tmp_path / "s.csv")]) == 1
    assert "vaekit detect fit" in capsys.readouterr().err
    assert main(["detect", "fit", str(bare), "--contamination", "0.7"]) == 1
    assert "(0, 0.5]" in capsys.readouterr().err
    assert not (bare / "detector.json").exists()
    assert main(["detect", "fit", str(bare), "--contamination", "0.1"]) == 0
    assert main(["detect", "score", str(bare), "--out", str(tmp_path / "s.txt")]) == 1
    assert "CSV" in capsys.readouterr().err
    np.savez(tmp_path / "big.npz", x=np.zeros((4, 12, 12), np.uint8))
    assert main(["detect", "score", str(bare), "--data", f"npz:{tmp_path / 'big.npz'}", "--out", str(tmp_path / "s.csv")]) == 1
    assert "trained on shape (1, 8, 8)" in capsys.readouterr().err
    assert main(["detect", "score", str(bare), "--data", "digits", "--split", "all", "--out", str(tmp_path / "s.csv")]) == 1
    assert "--split all" in capsys.readouterr().err


def test_detect_nll_score_cli(main, zeros_run, tmp_path):
    pytest.importorskip("vaekit.evaluation.likelihood", reason="iwae_nll (vaekit.evaluation.likelihood) is not there yet")
    run = tmp_path / "r"
    shutil.copytree(zeros_run, run)
    assert main(["detect", "fit", str(run), "--score", "nll", "--k", "16", "-n", "10"]) == 0
    det = json.loads((run / "detector.json").read_text())
    assert det["score"]["kind"] == "nll" and det["score"]["k"] == 16 and det["n_fit"] == 10
    assert main(["detect", "score", str(run), "-n", "30", "--out", str(tmp_path / "s.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "s.csv")))) == 30
