"""ratings:PATH: the MovieLens layouts, clicks and filtering, the strong-generalisation split, sparse batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.data.base import RatingsSplits
from vaekit.data.batches import SparseBatches, SparseChunks, TensorBatches
from vaekit.data.ratings import fold_in_matrix, read_ratings
from vaekit.errors import ConfigError, DataError, DatasetNotFoundError


def load(path, **cfg) -> RatingsSplits:
    cfg.setdefault("heldout_users", 8)
    return load_data(DataConfig(source=f"ratings:{path}", **cfg))


@pytest.mark.parametrize("layout", ["u.data", "ratings.csv", "ratings.dat"])
def test_the_movielens_layouts_read_the_same_rows(ratings_file, layout):
    reference = read_ratings(ratings_file("ref/u.data"))
    r = read_ratings(ratings_file(f"{layout.replace('.', '_')}/{layout}", layout=layout))
    assert np.array_equal(r.users, reference.users) and np.array_equal(r.items, reference.items)
    assert np.array_equal(r.ratings, reference.ratings)


def test_string_ids_a_header_and_two_column_click_files(tmp_path):
    p = tmp_path / "clicks.csv"
    p.write_text("user_id,item_id\nann,x\nann,y\nbob,x\n")
    r = read_ratings(p)
    assert r.ratings is None and r.users.tolist() == ["ann", "ann", "bob"] and r.items.tolist() == ["x", "y", "x"]
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufeffuserId,movieId,rating\n7,8,5\n", encoding="utf-8")
    assert read_ratings(bom).users.tolist() == [7]
    q = tmp_path / "named.tsv"
    q.write_text("u1\tmovie a\t4.5\nu2\tmovie b\t3\n")
    r = read_ratings(q)
    assert r.items.tolist() == ["movie a", "movie b"] and r.ratings.tolist() == [4.5, 3.0]


def test_clicks_are_ratings_at_or_above_min_rating_and_light_users_are_dropped(tmp_path):
    rows = [(u, i, 5) for u in range(1, 13) for i in range(1, 7)]  # 12 users with 6 clicks each
    rows += [(13, i, 5) for i in range(1, 5)]  # 4 clicks: below min_user_items = 5
    rows += [(14, i, 3 if i > 2 else 4) for i in range(1, 9)]  # 8 ratings, 2 of them >= 4
    rows += [(1, 1, 4)]  # a repeated rating counts once
    p = tmp_path / "u.data"
    p.write_text("".join(f"{u}\t{i}\t{r}\t0\n" for u, i, r in rows))
    d = load(p, heldout_users=2)
    users = set(d.train.users) | set(d.validation.users) | set(d.test.users)
    assert users == {str(u) for u in range(1, 13)}
    assert d.train.x.data.tolist() == [1.0] * d.train.x.nnz  # binary clicks
    assert load(p, heldout_users=2, min_user_items=2).train.x.shape[0] + 4 == 14  # users 13 and 14 are back


def test_the_strong_generalisation_split(ratings_file):
    path = ratings_file()
    d = load(path, heldout_users=8, heldout_fraction=0.2, seed=3)
    assert len(d.validation) == len(d.test) == 8 and len(d.train) == 60 - 16
    assert not set(d.train.users) & set(d.validation.users) and not set(d.validation.users) & set(d.test.users)
    assert d.train.x.shape[1] == d.shape[0] == len(d.items)
    assert np.all(np.asarray(d.train.x.sum(0)).ravel() > 0)  # every column is an item some training user clicked
    clicks = read_ratings(path)
    for part in (d.validation, d.test):
        assert part.x.multiply(part.heldout).nnz == 0  # fold-in and held-out are disjoint
        for row, user in enumerate(part.users):
            keep = (clicks.users == int(user)) & (clicks.ratings >= 4)
            known = {str(i) for i in clicks.items[keep].tolist()} & set(d.items)
            fold = {d.items[j] for j in part.x[row].indices}
            held = {d.items[j] for j in part.heldout[row].indices}
            assert fold | held == known  # together: all the user's clicks on known items
            assert len(held) == int(0.2 * len(known))
    again = load(path, heldout_users=8, heldout_fraction=0.2, seed=3)
    assert again.checksum == d.checksum and load(path, heldout_users=8, seed=4).checksum != d.checksum


def test_data_dir_finds_a_file_that_moved(ratings_file):
    path = ratings_file()
    moved = load_data(DataConfig(source="ratings:../elsewhere/u.data", data_dir=str(path.parent), heldout_users=8))
    assert moved.checksum == load(path).checksum


def test_titles_come_from_u_item_beside_the_file(ratings_file):
    path = ratings_file()
    (path.parent / "u.item").write_bytes("1|Toy Story (1995)|x\n2|Caf\xe9 (1990)|y\n".encode("latin-1"))
    d = load(path)
    assert d.titles["1"] == "Toy Story (1995)" and d.titles["2"] == "Caf\xe9 (1990)"


def test_bad_inputs_give_one_clear_error(tmp_path, ratings_file):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load(tmp_path / "missing.csv")
    few = tmp_path / "few.data"
    few.write_text("1\t1\t5\t0\n1\t2\t2\t0\n2\t1\t5\t0\n")
    with pytest.raises(DataError, match=r"no user has 5 or more ratings at or above 4.*lower data.min_rating"):
        load(few)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_ratings(blank)
    empty = tmp_path / "empty.csv"
    empty.write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DataError, match="holds no ratings"):
        load(empty)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,5\n1,3\n")
    with pytest.raises(DataError, match="line 2: expected 3 or more columns"):
        read_ratings(bad)
    with pytest.raises(DataError, match="cannot give 40 validation, 40 test"):
        load(ratings_file(), heldout_users=40)
    with pytest.raises(ConfigError, match="heldout_fraction"):
        load(ratings_file(), heldout_fraction=1.0)


def test_fold_in_maps_new_users_onto_the_run_items_and_names_unknown_ones(tmp_path):
    p = tmp_path / "new.csv"
    p.write_text("user,item,rating\na,i2,5\na,i9,5\nb,i1,4\nb,i3,1\n")
    users, m, unknown = fold_in_matrix(read_ratings(p), 4.0, ("i1", "i2", "i3"))
    assert users == ["a", "b"] and unknown == ["i9"]
    assert m.toarray().tolist() == [[0, 1, 0], [1, 0, 0]]


def test_sparse_batches_are_the_dense_batches_and_shard_the_same(ratings_file):
    d = load(ratings_file())
    dense = torch.from_numpy(d.train.x.toarray())
    one = list(TensorBatches(dense, None, 10, binarize=False).epoch(torch.Generator().manual_seed(5)))
    sparse = list(SparseBatches(d.train.x, 10).epoch(torch.Generator().manual_seed(5)))
    assert len(one) == len(sparse) and all(torch.equal(a[0], b[0]) and a[2] == b[2] for a, b in zip(one, sparse))
    shards = [list(SparseBatches(d.train.x, 10, rank=r, world_size=2).epoch(torch.Generator().manual_seed(5))) for r in (0, 1)]
    for (a, _, size), (b, _, _), (full, _, _) in zip(*shards, one):
        assert torch.equal(torch.cat([a, b]), full) and size == len(full)
    chunks = [SparseChunks(d.validation.x, d.validation.heldout, 3, rank=r, world_size=2) for r in (0, 1)]
    rows = torch.cat([x for c in chunks for x, _ in c])
    assert torch.equal(rows, torch.from_numpy(d.validation.full().toarray()))
