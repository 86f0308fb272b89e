"""Typed csv columns: kinds found on the training split, overrides, codes and the saved scaler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.data.base import Standardizer
from vaekit.data.columns import ColumnScaler, detect_kind, load_scaler, scale_table
from vaekit.errors import ConfigError, DataError, DataFormatError


@pytest.mark.parametrize(
    ("values", "text", "kind"),
    [
        ([0, 1, 1, np.nan, 0], False, "binary"),
        ([1, 1, 1], False, "binary"),
        ([1, 2, 3, 2, 5], False, "categorical"),  # a handful of integer codes
        ([-1, 0, 1], False, "categorical"),
        ([0, 3, 7, 1, 12, 4, 2], False, "count"),  # more than a handful of non-negative integers
        ([-4, 3, 7, 1, 12, 4, 2], False, "numeric"),
        ([0.5, 1, 2], False, "numeric"),
        ([np.nan, np.nan], False, "numeric"),
        ([0, 1, 2], True, "categorical"),  # codes of text labels
    ],
)
def test_detect_kind(values, text, kind):
    assert detect_kind(np.array(values, dtype=np.float64), text) == kind


def write_table(path: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(0)
    lines = ["height,visits,colour,smoker,rating"]
    for i in range(n):
        colour = ["red", "green", "blue"][i % 3]
        lines.append(f"{rng.normal(170, 10):.1f},{rng.poisson(4 + i % 9)},{colour},{i % 2},{10 * (1 + i % 4)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_column_typed_on_the_training_split_and_only_numbers_standardised(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.csv")
    data = load_data(DataConfig(source=f"csv:{path}", column_types={}))
    s = data.scaler
    assert isinstance(s, ColumnScaler)
    assert s.kinds == ("numeric", "count", "categorical", "binary", "categorical")
    assert s.categories[2] == ("blue", "green", "red") and s.levels[4] == (10.0, 20.0, 30.0, 40.0)
    assert s.classes() == (0, 0, 3, 0, 4)
    x = data.train.x
    assert abs(float(x[:, 0].mean())) < 1e-5 and abs(float(x[:, 0].std(unbiased=False)) - 1) < 1e-4  # standardised
    assert s.mean[1:] == (0.0,) * 4 and s.std[1:] == (1.0,) * 4  # the others pass through or become codes
    assert set(x[:, 2].tolist()) == {0.0, 1.0, 2.0} and set(x[:, 4].tolist()) == {0.0, 1.0, 2.0, 3.0}
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(0, 1, 3, 4))
    restored = torch.cat([s.inverse(p.x) for p in (data.train, data.validation, data.test)]).double().numpy()
    got = sorted(map(tuple, restored[:, [0, 1, 3, 4]].round(1).tolist()))
    assert np.allclose(got, sorted(map(tuple, raw.tolist())), atol=1e-3)  # back to original units
    assert [s.cell_text(j, v) for j, v in enumerate([171.25, 3.6, 2.0, 0.7, 30.0])] == ["171.25", "4", "red", "1", "30"]


def test_saved_scaler_round_trips_through_json(tmp_path: Path) -> None:
    data = load_data(DataConfig(source=f"csv:{write_table(tmp_path / 't.csv')}", column_types={}))
    again = load_scaler(json.loads(json.dumps(data.scaler.to_dict())))
    assert again == data.scaler and isinstance(again, ColumnScaler)


def test_overrides_name_columns_and_are_checked(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.csv")
    s = load_data(DataConfig(source=f"csv:{path}", column_types={"rating": "numeric", "smoker": "categorical"})).scaler
    assert s.kinds == ("numeric", "count", "categorical", "categorical", "numeric")
    assert s.mean[4] > 0 and s.levels[3] == (0.0, 1.0)
    with pytest.raises(ConfigError, match=r"names \['colour_'\].*its columns are"):
        load_data(DataConfig(source=f"csv:{path}", column_types={"colour_": "numeric"}))
    with pytest.raises(DataError, match="'colour' holds text, so it can only be 'categorical'"):
        load_data(DataConfig(source=f"csv:{path}", column_types={"colour": "numeric"}))
    with pytest.raises(DataError, match="'height' is declared 'count' but holds"):
        load_data(DataConfig(source=f"csv:{path}", column_types={"height": "count"}))
    with pytest.raises(DataError, match="'rating' is declared 'binary' but holds [1-4]0;"):
        load_data(DataConfig(source=f"csv:{path}", column_types={"rating": "binary"}))


def test_plain_layout_keeps_standardising_every_column_and_refuses_text(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("a,b\n" + "\n".join(f"{i},{i % 2}" for i in range(30)) + "\n")
    s = load_data(DataConfig(source=f"csv:{path}")).scaler
    assert type(s) is Standardizer and s.std[1] != 1.0  # the binary column is standardised too, as before
    with pytest.raises(DataError, match="'colour' holds text: set model.likelihood = 'mixed'"):
        load_data(DataConfig(source=f"csv:{write_table(tmp_path / 't.csv')}"))


def test_text_columns_are_read_by_label_and_unseen_ones_are_missing_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("v,c\n" + "\n".join(f"{i},{'ab'[i % 2]}" for i in range(40)) + "\n5,zz\n")
    data = load_data(DataConfig(source=f"csv:{path}", column_types={}, validation_fraction=0.0, test_fraction=0.0))
    s = data.scaler
    assert s.categories[1] == ("a", "b", "zz")
    # a file with other labels: its codes (into its own sorted labels) are read by name
    x = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, float("nan")]])
    torch.testing.assert_close(scale_table(s, x, ((), ("b", "zz")))[:, 1], torch.tensor([1.0, 2.0, float("nan")]), equal_nan=True)
    with pytest.raises(DataError, match="'c' has the category 'new', which the model never saw; it knows a, b, zz"):
        scale_table(s, x, ((), ("a", "new")), unknown="error")
    assert torch.isnan(scale_table(s, x, ((), ("a", "new")))[1, 1])  # the default: missing


def test_values_first_seen_outside_the_training_split_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("r,v\n" + "\n".join(f"{1 + i % 3},{i}" for i in range(40)) + "\n")
    cfg = DataConfig(source=f"csv:{path}", column_types={"r": "categorical"}, limit=3)  # train: the first 3 rows
    data = load_data(cfg)
    seen = data.scaler.levels[0]
    assert len(seen) < 3  # the limit leaves out a level that the other splits hold
    others = torch.cat([data.validation.x, data.test.x])[:, 0]
    assert bool(torch.isnan(others).any()) and set(others[~torch.isnan(others)].tolist()) <= set(range(len(seen)))
    with pytest.raises(DataError, match="'r' has the value 4, which the model never saw; it knows"):
        data.scaler.transform(torch.tensor([[4.0, 0.0], [2.0, 0.0], [3.0, 0.0], [1.0, 0.0]]), unknown="error")


def test_a_column_mixing_numbers_and_text_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,red\n5,6\n")
    with pytest.raises(DataFormatError, match="'red' is not a number, but other cells"):
        load_data(DataConfig(source=f"csv:{path}", column_types={}))
