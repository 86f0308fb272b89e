import json

import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.errors import DataError
from vaekit.evaluation import extractor as ex


@pytest.fixture(scope="module")
def digits():
    return load_data(DataConfig(source="digits"))


def test_trains_once_caches_as_safetensors_and_json_and_reloads(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first = ex.load_or_train_extractor(digits, steps=40)
    folder = tmp_path / "xdg" / "vaekit" / "extractors"  # $XDG_CACHE_HOME is respected
    weights, info = folder / f"{digits.checksum}.safetensors", folder / f"{digits.checksum}.json"
    assert weights.is_file() and info.is_file() and not list(folder.glob("*.pkl")) and not list(folder.glob("*.pt"))
    meta = json.loads(info.read_text())
    assert meta["id"] == first.id and first.id.startswith("vaekit-cnn-v1-") and meta["data_checksum"] == digits.checksum
    assert meta["test_accuracy"] > 0.5  # a real classifier even after 40 steps on 8x8 digits

    calls = []
    monkeypatch.setattr(ex, "train_extractor", lambda *a, **k: calls.append(1))
    again = ex.load_or_train_extractor(digits)  # from the cache: no training
    assert not calls and again.id == first.id
    x = digits.test.x[:7]
    torch.testing.assert_close(again(x), first(x))
    assert again(x).shape == (7, ex.FEATURES)


def test_cache_dir_override_and_damaged_entry_is_retrained(digits, tmp_path):
    first = ex.load_or_train_extractor(digits, tmp_path / "c", steps=10)
    weights = tmp_path / "c" / f"{digits.checksum}.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    second = ex.load_or_train_extractor(digits, tmp_path / "c", steps=10)
    assert second.id == first.id  # seeded training gives the same weights back


def test_data_without_labels_says_what_to_do(digits):
    import dataclasses

    from vaekit.data import Split

    unlabelled = dataclasses.replace(digits, train=Split(digits.train.x), test=Split(digits.test.x), name="binarized-mnist")
    with pytest.raises(DataError, match="no labels.*--data mnist"):
        ex.load_or_train_extractor(unlabelled)
