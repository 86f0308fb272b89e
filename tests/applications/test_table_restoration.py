"""Restoring tables with gaps: column ranges in the scaler, chains that cannot overflow, -n with a CSV output."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from vaekit.applications.restoration import impute
from vaekit.checkpoint import MODEL, RunDir, save_tensors
from vaekit.core.draws import make_generator
from vaekit.data.base import Standardizer, fit_standardizer
from vaekit.errors import ModelError


def _ratings_csv(path, rows: int = 120, cols: int = 40, missing: float = 0.6, seed: int = 0) -> None:
    """A ratings-like table: whole numbers 1-5 from a rank-3 model, ``missing`` of the cells empty."""
    rng = np.random.default_rng(seed)
    r = np.clip(np.round(3 + rng.normal(size=(rows, 3)) @ rng.normal(size=(3, cols)) * 0.8), 1, 5).astype(int)
    gaps = rng.random((rows, cols)) < missing
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"item{j}" for j in range(cols)])
        w.writerows(["" if gaps[i, j] else str(r[i, j]) for j in range(cols)] for i in range(rows))


@pytest.fixture(scope="module")
def ratings(tmp_path_factory, tiny_run):
    """(run dir, csv path, run dir whose loop decode(encode(x)) is amplified so that a Gibbs chain overflows)."""
    d = tmp_path_factory.mktemp("ratings")
    _ratings_csv(d / "ratings.csv")
    run = tiny_run("ratings", epochs=5, data={"source": f"csv:{d / 'ratings.csv'}"}, likelihood="gaussian", hidden=(32,))
    loud = d / "loud"
    shutil.copytree(run, loud)
    model = RunDir(loud).load_model()
    with torch.no_grad():  # a gain of 20 on the way in and out: every pseudo-Gibbs round trip grows the fill
        model.encoder.body[1].weight.mul_(20.0)
        model.decoder.head.weight.mul_(20.0)
    save_tensors(loud / MODEL, model.state_dict())
    return run, d / "ratings.csv", loud


def _table(path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(open(path)))
    return rows[0], rows[1:]


def test_the_scaler_keeps_each_columns_range_and_whether_it_is_whole():
    x = torch.tensor([[1.0, 0.5, float("nan")], [5.0, 2.25, float("nan")], [float("nan"), 1.0, float("nan")]])
    s = fit_standardizer(x, ("a", "b", "c"))
    assert s.low == (1.0, 0.5, None) and s.high == (5.0, 2.25, None) and s.integer == (True, False, False)
    assert Standardizer.from_dict(json.loads(json.dumps(s.to_dict()))) == s  # scaler.json round trip
    held = s.restrict(torch.tensor([[-3.0, 9.0, 1.0], [2.6, 0.7, 0.0]], dtype=torch.float64))
    assert held[:, :2].tolist() == [[1.0, 2.25], [3.0, 0.7]]  # clipped; rounded only in the whole-number column
    assert held[:, 2].isnan().all()  # nothing observed in training: no value to give
    lo, hi = s.bounds()  # standardised units
    assert torch.allclose(
        s.inverse(torch.stack([lo, hi]).double())[:, :2], torch.tensor([[1.0, 0.5], [5.0, 2.25]], dtype=torch.float64)
    )
    assert lo[2] == hi[2] == 0  # an unseen column is held where the encoder saw it: 0 (missing)
    old = Standardizer.from_dict({"mean": [0.0], "std": [1.0], "columns": ["a"]})  # saved before ranges existed
    assert not old.has_range and old.restrict(torch.tensor([[7.5]])).item() == 7.5
    assert torch.isinf(old.bounds()[1]).all()


def test_a_gibbs_chain_that_overflows_stops_with_a_model_error_and_bounds_keep_it_in_range(ratings):
    _, path, loud = ratings
    run = RunDir(loud)
    model = run.load_model()
    from vaekit.applications.examples import load_examples

    ex = load_examples(run, f"csv:{path}", "all")
    mask = ~ex.x.isnan()
    with pytest.raises(ModelError, match="diverged"):  # was torch's "normal expects all elements of std >= 0.0"
        impute(model, ex.x, mask, method="pseudo-gibbs", steps=40, generator=make_generator(0))
    lo, hi = run.scaler().bounds()
    res = impute(model, ex.x, mask, method="pseudo-gibbs", steps=40, samples=3, generator=make_generator(0), bounds=(lo, hi))
    for v in (res.x, *res.samples.unbind(1)):  # filled cells only: observed ones may lie outside the training range
        assert (v >= lo - 1e-6)[~mask].all() and (v <= hi + 1e-6)[~mask].all()
    assert torch.equal(res.x[mask], ex.x[mask])


def test_inpaint_csv_fills_whole_numbers_within_each_columns_range_and_no_clip_turns_it_off(main, ratings, tmp_path, capsys):
    _, path, loud = ratings
    header, body = _table(path)
    scaler = RunDir(loud).scaler()
    out = tmp_path / "filled.csv"
    assert (
        main(["inpaint", str(loud), "--data", f"csv:{path}", "--method", "pseudo-gibbs", "--steps", "30", "--out", str(out)]) == 0
    )
    new_header, new_body = _table(out)
    assert new_header == header and len(new_body) == len(body)
    for row, new in zip(body, new_body):
        for j, (cell, filled) in enumerate(zip(row, new)):
            if cell:
                assert filled == cell
            elif scaler.low[j] is not None:  # columns seen in training get a whole number in their range
                assert float(filled) == round(float(filled)) and scaler.low[j] <= float(filled) <= scaler.high[j]
    capsys.readouterr()
    assert main(["inpaint", str(loud), "--data", f"csv:{path}", "--method", "pseudo-gibbs", "--steps", "30",
                 "--no-clip", "--out", str(tmp_path / "raw.csv")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_inpaint_minus_n_writes_the_first_rows_of_the_csv(main, ratings, tmp_path, capsys):
    run, path, _ = ratings
    header, body = _table(path)
    out = tmp_path / "head.csv"
    assert main(["inpaint", str(run), "--data", f"csv:{path}", "-n", "5", "--steps", "10", "--out", str(out)]) == 0
    assert "first 5 of 120 rows" in capsys.readouterr().out
    new_header, new_body = _table(out)
    assert new_header == header and len(new_body) == 5
    for row, new in zip(body[:5], new_body):
        assert all(filled == cell for cell, filled in zip(row, new) if cell) and all(new)
    # without the clip the model's means are written as they are: not all whole numbers
    assert main(["inpaint", str(run), "--data", f"csv:{path}", "-n", "5", "--steps", "10", "--no-clip",
                 "--out", str(tmp_path / "raw.csv")]) == 0  # fmt: skip
    raw = [float(c) for r in _table(tmp_path / "raw.csv")[1] for c in r]
    assert any(v != round(v) for v in raw)


def test_clip_restored_is_a_run_setting_and_old_configs_load(ratings, tmp_path):
    run, _, _ = ratings
    raw = json.loads((run / "config.json").read_text())
    assert raw["config"]["data"]["clip_restored"] is True
    old = tmp_path / "old"
    shutil.copytree(run, old)
    del raw["config"]["data"]["clip_restored"]  # a run directory written before the setting existed
    (old / "config.json").write_text(json.dumps(raw))
    assert RunDir(old).config.data.clip_restored is True
