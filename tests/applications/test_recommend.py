"""A tiny Mult-VAE on a ratings file with two taste groups: training picks the best epoch by validation
NDCG, evaluate ranks held-out users' items, recommend folds in known users, item lists and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vaekit.applications.recommend import Recommender
from vaekit.checkpoint import RunDir
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.errors import ConfigError, DataError
from vaekit.training.loop import fit


def ratings_config(path: Path, **train) -> RunConfig:
    t = dict(epochs=15, batch_size=16, lr=3e-3, beta=0.2, kl_warmup_epochs=5, progress=False, threads=1, tensorboard=False)
    return RunConfig(
        data=DataConfig(source=f"ratings:{path}", heldout_users=8),
        model=ModelConfig(
            hidden=(32,), latent_dim=4, activation="tanh", likelihood="multinomial", normalize_input=True, input_dropout=0.5
        ),  # fmt: skip
        train=TrainConfig(**{**t, **train}),
    )


@pytest.fixture(scope="module")
def ratings_run(tmp_path_factory, ratings_writer) -> Path:
    folder = tmp_path_factory.mktemp("ratings")
    path = ratings_writer(folder / "u.data", users=60, items=40)
    (folder / "u.item").write_text("".join(f"{i}|Film {i}|x\n" for i in range(1, 41)), encoding="latin-1")
    return fit(ratings_config(path), folder / "run").path


def test_the_best_epoch_is_the_best_validation_ndcg_and_the_id_maps_are_saved(ratings_run):
    run = RunDir(ratings_run)
    history = run.metrics()
    best = max(history, key=lambda r: r["val_ndcg@100"])  # first of equals, as training keeps it
    assert run.train_state()["best_epoch"] == best["epoch"]
    assert run.model_metadata()["epoch"] == str(best["epoch"])
    maps = json.loads((ratings_run / "items.json").read_text())
    data = load_data(run.config.data)
    assert maps["items"] == list(data.items) and maps["users"]["test"] == list(data.test.users)
    assert maps["titles"]["1"] == "Film 1" and run.info.data_kind == "ratings"


def test_evaluate_reports_recall_and_ndcg_of_held_out_users(ratings_run, main, capsys):
    assert main(["evaluate", str(ratings_run)]) == 0
    out = capsys.readouterr().out
    assert "recall@20" in out and "ndcg@100" in out
    report = json.loads((ratings_run / "eval.json").read_text())
    assert report["n"] == 8 and set(report["metrics"]) == {"recall@20", "recall@50", "ndcg@100"}
    assert main(["evaluate", str(ratings_run), "--metrics", "recall@10", "--split", "validation"]) == 0
    ten = json.loads((ratings_run / "eval.json").read_text())["summary"]["recall@10"]
    # held-out clicks are among the ~12 unclicked items of the user's taste group: ranking that group
    # first gives ~10/12, chance ~10/31
    assert ten > 0.6
    assert main(["evaluate", str(ratings_run), "--metrics", "nll"]) == 1
    assert main(["evaluate", str(ratings_run), "--data", "ratings:x.csv"]) == 1
    assert "recommend" in capsys.readouterr().err


def test_recommend_folds_in_known_users_item_lists_and_files_alike(ratings_run, tmp_path, main, capsys):
    rec = Recommender(ratings_run)
    data = load_data(rec.run.config.data)
    user = data.train.users[0]
    clicked = {data.items[j] for j in data.train.x[0].indices}
    recs = rec.for_user(user, 5)
    assert [r.rank for r in recs] == [1, 2, 3, 4, 5] and not {r.item for r in recs} & clicked
    assert [r.item for r in rec.for_items(sorted(clicked), 5)] == [r.item for r in recs]  # the same fold-in
    assert all(int(r.item) % 2 == int(user) % 2 for r in recs)  # the user's taste group
    assert recs[0].title == f"Film {recs[0].item}" and 0 < recs[0].score < 1
    new = tmp_path / "new.csv"
    new.write_text("user,item,rating\n" + "".join(f"me,{i},5\n" for i in sorted(clicked)) + "you,2,5\nyou,4,5\nlow,1,2\n")
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(ratings_run), "--data", f"ratings:{new}", "-n", "5", "--out", str(out)]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0] == ["user", "rank", "item", "title", "score"]
    assert [r[2] for r in rows[1:] if r[0] == "me"] == [r.item for r in recs]
    assert all(int(r[2]) % 2 == 0 for r in rows[1:] if r[0] == "you")
    assert "skipped 1 user" in capsys.readouterr().out
    assert main(["recommend", str(ratings_run), "--user", user, "-n", "3"]) == 0
    assert recs[0].title in capsys.readouterr().out


def test_recommend_bad_inputs_are_one_line_errors(ratings_run, tmp_path, main, capsys, tiny_run):
    rec = Recommender(ratings_run)
    with pytest.raises(DataError, match="user '9999' is not among the 60 users"):
        rec.for_user("9999", 5)
    with pytest.raises(DataError, match=r"2 item id\(s\) the model never saw in training \('777', 'x'\)"):
        rec.for_items(["1", "777", "x"], 5)
    new = tmp_path / "new.csv"
    new.write_text("user,item,rating\na,1,5\na,555,5\n")
    with pytest.raises(DataError, match="never saw.*--ignore-unknown"):
        rec.for_file(new, 5)
    assert len(rec.for_file(new, 5, ignore_unknown=True)[0]) == 5
    none = tmp_path / "none.csv"
    none.write_text("user,item,rating\na,1,2\n")
    with pytest.raises(DataError, match="no user has a rating >= 4 on an item this model knows"):
        rec.for_file(none, 5)
    for argv in (["--user", "9999"], ["--items", "1,777"], ["--data", "x.csv"]):
        assert main(["recommend", str(ratings_run), *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("vaekit recommend: error:") and "\n" not in err
    assert main(["reconstruct", str(ratings_run), "--out", str(tmp_path / "r.npy")]) == 1  # dense-data commands
    assert "use 'vaekit evaluate' and 'vaekit recommend'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="recommend needs a run trained on ratings:PATH"):
        Recommender(tiny_run("digits-for-recommend", epochs=1))


def test_a_dae_run_trains_without_kl(ratings_run, tmp_path):
    cfg = ratings_config(Path(RunDir(ratings_run).config.data.source[len("ratings:") :]), epochs=2, objective="dae", beta=0.0)
    run = fit(cfg, tmp_path / "dae")
    assert all(row["kl"] == 0.0 for row in run.history) and "val_ndcg@100" in run.history[-1]
    scores = torch.stack([torch.tensor(r["val_ndcg@100"]) for r in run.history])
    assert torch.all((scores > 0) & (scores <= 1))
