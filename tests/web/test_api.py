"""The page's API on runs of every kind: what it returns is what the library computes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from vaekit.applications.anomaly import ScoreSettings, anomaly_scores
from vaekit.applications.detector import load_detector
from vaekit.applications.restoration import denoise
from vaekit.checkpoint import RunDir
from vaekit.core.inference import decode_mean, posterior_stats
from vaekit.runs import load_run_data

IMAGE_RUNS = ("mlp", "conv", "cvae")


def _u8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) uint8, as the PNGs hold it."""
    return np.rint(x.clamp(0, 1).numpy() * 255).astype(np.uint8)[0]


def _label(run: str) -> dict:
    return {"label": 3} if run == "cvae" else {}


def test_runs_table_lists_every_run_with_its_numbers(client, runs_root):
    body = client.get("/api/runs").json()
    assert [r["name"] for r in body["runs"]] == ["conv", "cvae", "mlp", "wine"] and body["broken"] == []
    rows = {r["name"]: r for r in body["runs"]}
    assert rows["wine"]["kind"] == "tabular" and rows["wine"]["shape"] == [13] and rows["mlp"]["shape"] == [1, 8, 8]
    assert rows["cvae"]["model"]["conditional"] and not rows["mlp"]["model"]["conditional"]
    assert rows["mlp"]["has_detector"] and not rows["conv"]["has_detector"]
    for name, row in rows.items():
        run = RunDir(runs_root / name)
        state = run.train_state()
        assert row["epochs"] == state["epoch"] == len(run.metrics())
        assert row["best_val_elbo"] == pytest.approx(max(m["val_elbo"] for m in run.metrics()))
        assert row["parameters"] == sum(p.numel() for p in run.build_model().parameters())


def test_run_details_carry_the_loss_curves(client, runs_root):
    d = client.get("/api/run", params={"run": "cvae"}).json()
    metrics = RunDir(runs_root / "cvae").metrics()
    assert d["curves"]["loss"] == pytest.approx([m["loss"] for m in metrics])
    assert d["curves"]["epoch"] == [m["epoch"] for m in metrics]
    assert d["classes"] == 10 and d["latent_dim"] == 4 and d["detector"] is None
    wine = client.get("/api/run", params={"run": "wine"}).json()
    assert wine["columns"][:2] == ["alcohol", "malic_acid"] and len(wine["columns"]) == 13
    mlp = client.get("/api/run", params={"run": "mlp"}).json()
    assert mlp["detector"]["threshold"] == pytest.approx(load_detector(RunDir(runs_root / "mlp")).threshold)


@pytest.mark.parametrize("name", IMAGE_RUNS)
def test_samples_are_the_models_own_and_seeded(client, runs_root, pixels, name):
    params = {"run": name, "n": 4, "temperature": 0.7, "seed": 5, **_label(name)}
    grid = pixels(client.get("/api/sample", params=params).json()["grid"])
    assert grid.shape == (2 * 9 + 1, 2 * 9 + 1)  # 2x2 images of 8x8, 1-pixel gaps
    model = RunDir(runs_root / name).load_model()
    cond = torch.full((4,), 3) if name == "cvae" else None
    want = model.sample(4, temperature=0.7, generator=torch.Generator().manual_seed(5), condition=cond)
    assert np.abs(grid[1:9, 10:18].astype(int) - _u8(want[1])).max() <= 1  # the second sample, top right
    again = client.get("/api/sample", params=params).json()["grid"]
    other = client.get("/api/sample", params={**params, "seed": 6}).json()["grid"]
    assert np.array_equal(pixels(again), grid) and not np.array_equal(pixels(other), grid)


def test_table_samples_come_back_in_original_units(client, runs_root):
    out = client.get("/api/sample", params={"run": "wine", "n": 3, "seed": 1}).json()
    run = RunDir(runs_root / "wine")
    want = run.scaler().inverse(run.load_model().sample(3, generator=torch.Generator().manual_seed(1)))
    assert out["kind"] == "tabular" and out["columns"][0] == "alcohol"
    assert np.allclose(out["rows"], want.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ("mlp", "conv", "cvae", "wine"))
def test_explore_map_points_and_decode(client, runs_root, pixels, name):
    m = client.get("/api/explore", params={"run": name}).json()
    run = RunDir(runs_root / name)
    model = run.load_model()
    test = load_run_data(run).test
    cond = test.y if name == "cvae" else None
    z = posterior_stats(model, test.x, condition=cond).mean
    assert m["n"] == len(test) and m["latent_dim"] == z.shape[1] and m["labels"] == test.y.tolist()
    if name == "mlp":  # a 2-D latent is its own map
        assert m["method"] == "direct" and np.allclose(m["x"], z[:, 0], atol=1e-4) and np.allclose(m["y"], z[:, 1], atol=1e-4)
    else:
        assert m["method"] == "pca" and len(m["dims"]) == z.shape[1]
    p = client.get("/api/point", params={"run": name, "index": 7}).json()
    assert np.allclose(p["z"], z[7], atol=1e-5) and p["label"] == int(test.y[7])
    shifted = [v + 0.5 for v in p["z"]]
    out = client.post("/api/decode", json={"run": name, "z": shifted, **_label(name)}).json()
    want = decode_mean(model, torch.tensor([shifted]), condition=torch.tensor([3]) if name == "cvae" else None)
    if name == "wine":
        assert np.allclose(out["rows"][0], run.scaler().inverse(want)[0], rtol=1e-3, atol=1e-3)
    else:
        assert np.abs(pixels(out["images"][0]).astype(int) - _u8(want[0])).max() <= 1


@pytest.mark.parametrize("name", ("conv", "cvae"))
def test_interpolation_runs_between_the_two_examples(client, runs_root, pixels, name):
    out = client.post("/api/interpolate", json={"run": name, "a": 2, "b": 9, "steps": 5}).json()
    run = RunDir(runs_root / name)
    model, test = run.load_model(), load_run_data(run).test
    ends = test.x[[2, 9]]
    recon = denoise(model, ends, condition=test.y[[2, 9]] if name == "cvae" else None)  # decoded posterior means
    assert len(out["images"]) == 5
    assert np.abs(pixels(out["images"][0]).astype(int) - _u8(recon[0])).max() <= 1
    assert np.abs(pixels(out["images"][-1]).astype(int) - _u8(recon[1])).max() <= 1


def test_example_thumbnails_are_the_test_images(client, runs_root):
    import io

    from PIL import Image

    test = load_run_data(RunDir(runs_root / "conv")).test
    r = client.get("/api/example.png", params={"run": "conv", "index": 11})
    assert r.headers["content-type"] == "image/png"
    assert np.abs(np.asarray(Image.open(io.BytesIO(r.content))).astype(int) - _u8(test.x[11])).max() <= 1


def test_check_scores_an_upload_with_the_runs_detector(client, runs_root, png_of):
    run = RunDir(runs_root / "mlp")
    x = load_run_data(run).test.x[:1]  # (1, 1, 8, 8)
    x = torch.round(x * 255) / 255  # what survives the PNG
    image = base64.b64encode(png_of(x[0])).decode()
    r = client.post("/api/check", json={"run": "mlp", "image": image}).json()
    det = load_detector(run)
    want = anomaly_scores(run.load_model(), x, det.settings)
    assert r["score"] == pytest.approx(float(want[0]), rel=1e-5)
    assert r["threshold"] == pytest.approx(det.threshold) and r["flag"] == (float(want[0]) > det.threshold)
    assert r["map"].startswith("data:image/bmp;base64,") and r["note"] == ""
    # an all-white square is far from any digit: flagged
    white = base64.b64encode(png_of(torch.ones(1, 8, 8))).decode()
    assert client.post("/api/check", json={"run": "mlp", "image": white}).json()["flag"] is True
    # without a detector: the default score, no flag, and a note that says how to get one
    conv = client.post("/api/check", json={"run": "conv", "image": image}).json()
    assert conv["flag"] is None and "vaekit detect fit" in conv["note"]
    default = anomaly_scores(RunDir(runs_root / "conv").load_model(), x, ScoreSettings())
    assert conv["score"] == pytest.approx(float(default[0]), rel=1e-5)


def test_check_a_table_row_in_original_units(client, runs_root):
    run = RunDir(runs_root / "wine")
    data = load_run_data(run)
    row = run.scaler().inverse(data.test.x[:1])[0].tolist()
    r = client.post("/api/check", json={"run": "wine", "row": ", ".join(f"{v:.9g}" for v in row)}).json()
    want = anomaly_scores(run.load_model(), data.test.x[:1], ScoreSettings())
    assert r["score"] == pytest.approx(float(want[0]), rel=1e-4)
    assert len(r["map"]) == 13 and np.allclose(r["input"]["rows"][0], row, rtol=1e-4)


def test_inpaint_keeps_what_is_observed(client, runs_root, png_of, pixels):
    x = torch.round(load_run_data(RunDir(runs_root / "cvae")).test.x[0] * 255) / 255  # (1, 8, 8)
    mask = [1] * 32 + [0] * 32  # the bottom half is missing
    body = {"run": "cvae", "image": base64.b64encode(png_of(x)).decode(), "mask": mask, "label": 3, "steps": 30}
    r = client.post("/api/inpaint", json=body).json()
    restored = pixels(r["restored"]["images"][0])
    assert r["missing"] == 32 and 0.0 <= r["acceptance"] <= 1.0
    assert np.array_equal(restored[:4], _u8(x)[:4]) and not np.array_equal(restored[4:], _u8(x)[4:])
    again = client.post("/api/inpaint", json=body).json()
    assert again["restored"] == r["restored"]  # seeded


def test_inpaint_fills_the_empty_cells_of_a_row(client, runs_root):
    run = RunDir(runs_root / "wine")
    row = run.scaler().inverse(load_run_data(run).test.x[:1])[0].tolist()
    cells = [f"{v:.9g}" for v in row]
    cells[2] = cells[5] = ""
    r = client.post("/api/inpaint", json={"run": "wine", "row": ",".join(cells), "method": "pseudo-gibbs", "steps": 20}).json()
    filled = r["restored"]["rows"][0]
    assert r["missing"] == 2 and r["input"]["rows"][0][2] is None
    keep = [i for i in range(13) if i not in (2, 5)]
    assert np.allclose([filled[i] for i in keep], [row[i] for i in keep], rtol=1e-4)
    assert all(np.isfinite([filled[2], filled[5]]))


def test_the_explore_cache_is_reused_and_is_the_only_write(client, runs_root, monkeypatch):
    from fastapi.testclient import TestClient

    from vaekit.web import cache
    from vaekit.web.app import create_app

    before = {p: p.stat().st_mtime_ns for p in runs_root.rglob("*") if ".vaekit-web-cache" not in p.parts}
    client.get("/api/explore", params={"run": "conv"})
    assert (runs_root / "conv" / ".vaekit-web-cache" / "explore.npz").is_file()

    def no_compute(*a, **k):
        raise AssertionError("the cached map should have been read")

    monkeypatch.setattr(cache, "compute_map", no_compute)
    with TestClient(create_app(runs_root), base_url="http://127.0.0.1") as fresh:  # a new server: nothing in memory
        assert fresh.get("/api/explore", params={"run": "conv"}).status_code == 200
    after = {p: p.stat().st_mtime_ns for p in runs_root.rglob("*") if ".vaekit-web-cache" not in p.parts}
    assert after == before


def test_a_cache_holding_pickled_objects_is_recomputed_not_loaded(runs_root, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from vaekit.web.app import create_app

    run = tmp_path / "runs" / "m"
    shutil.copytree(runs_root / "mlp", run)
    (run / ".vaekit-web-cache").mkdir(exist_ok=True)
    np.savez(run / ".vaekit-web-cache" / "explore.npz", key=np.array([{"evil": 1}], dtype=object))
    with TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1") as c:
        assert c.get("/api/explore", params={"run": "m"}).json()["method"] == "direct"
    with np.load(run / ".vaekit-web-cache" / "explore.npz", allow_pickle=False) as f:
        assert "z" in f.files  # rewritten as plain arrays


def test_one_run_served_alone(runs_root):
    from fastapi.testclient import TestClient

    from vaekit.web.app import create_app

    with TestClient(create_app(runs_root / "wine"), base_url="http://127.0.0.1") as c:
        assert [r["name"] for r in c.get("/api/runs").json()["runs"]] == ["wine"]
        assert c.get("/api/sample", params={"run": "wine", "n": 2}).json()["kind"] == "tabular"
        assert c.get("/api/sample", params={"run": "mlp"}).status_code == 404


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for name in ("app.js", "common.js", "runs.js", "generate.js", "explore.js", "check.js", "style.css"):
        body = client.get(f"/static/{name}").text.replace("http://www.w3.org/2000/svg", "")  # a name, not a request
        assert "http://" not in body and "https://" not in body and "//cdn" not in body, name
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert json.loads(client.get("/api/runs").content)["runs"]
