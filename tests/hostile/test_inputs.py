"""Hostile inputs: config files, settings, data files and command-line values. Each case must fail
with one clear line (no traceback, no warning printed first) and leave every file as it was."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hostile_kit import TINY, Case, Ctx, check_failed_well, register, snapshot

CASES: list[Case] = []


def _train(c: Ctx, *argv: str) -> list[str]:
    return ["train", *TINY, *argv, "--out", str(c.tmp / "new-run")]


def _config(c: Ctx, name: str, text: str | bytes) -> list[str]:
    return ["train", "--config", str(c.file(name, text)), "--out", str(c.tmp / "new-run")]


# ---------------------------------------------------------------- config files


@register(CASES, "table of settings")
def yaml_config_is_a_list(c: Ctx) -> list[str]:
    return _config(c, "c.yaml", "- 1\n- 2\n")


@register(CASES, "table of settings")
def yaml_config_is_a_string(c: Ctx) -> list[str]:
    return [*_config(c, "c.yaml", "just some words\n"), "--set", "train.epochs=1"]


@register(CASES, "table of settings")
def json_config_is_a_list(c: Ctx) -> list[str]:
    return [*_config(c, "c.json", "[1, 2]"), "--threads", "1"]


@register(CASES, "not utf-8")
def config_not_utf8(c: Ctx) -> list[str]:
    return _config(c, "c.toml", b"[train]\nepochs = 1 # \xff\xfe caf\xe9\n")


@register(CASES, "is a folder")
def config_is_a_folder(c: Ctx) -> list[str]:
    (c.tmp / "configs.toml").mkdir()
    return ["train", "--config", str(c.tmp / "configs.toml"), "--out", str(c.tmp / "new-run")]


@register(CASES, "'train' must be a table")
def toml_section_is_a_number(c: Ctx) -> list[str]:
    return [*_config(c, "c.toml", "train = 5\n"), "--set", "train.threads=1"]


@register(CASES, "aliases")
def yaml_billion_laughs(c: Ctx) -> list[str]:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(9)]
    return _config(c, "bomb.yaml", "\n".join(lines) + "\n")


@register(CASES, "unknown key")
def yaml_integer_keys(c: Ctx) -> list[str]:
    return _config(c, "c.yaml", "1: 2\ntrain: {epochs: 1}\n")


@register(CASES, "could not be parsed")
def json_nested_too_deep(c: Ctx) -> list[str]:
    return _config(c, "c.json", "[" * 100_000)


# ---------------------------------------------------------------- settings out of range


def _setting(key: str, value: str, expect: str) -> None:
    def setup(c: Ctx) -> list[str]:
        return _train(c, "--set", f"{key}={value}")

    setup.__name__ = f"setting_{key.replace('.', '_')}_{value}".replace("-", "minus").replace("[", "").replace("]", "")
    register(CASES, expect)(setup)


for _key, _value in [
    ("model.scale", "0"),
    ("model.scale", "-1"),
    ("model.hidden", "[0]"),
    ("model.latent_dim", "0"),
    ("train.lr", "inf"),
    ("train.lr", "nan"),
    ("train.beta", "nan"),
    ("train.grad_clip", "nan"),
    ("train.grad_clip", "0"),
    ("train.weight_decay", "-1"),
    ("train.epochs", "0"),
    ("seed", "-1"),
    ("data.seed", "-3"),
    ("model.dropout", "1.5"),
]:
    _setting(_key, _value, _key)


@register(CASES, "train.threads")
def threads_negative(c: Ctx) -> list[str]:
    return _train(c, "--threads", "-1")


@register(CASES, "cuda")
def device_cuda_without_a_gpu(c: Ctx) -> list[str]:
    return _train(c, "--device", "cuda")


@register(CASES, "not a device")
def device_unknown(c: Ctx) -> list[str]:
    return _train(c, "--device", "abacus")


@register(CASES, "validation split")
def validation_split_empty(c: Ctx) -> list[str]:
    return _train(c, "--set", "data.validation_fraction=0.0")


@register(CASES, "invalid int value", exit_code=2)
def argparse_error_is_one_line(c: Ctx) -> list[str]:
    return ["sample", str(c.run), "-n", "1e9"]


# ---------------------------------------------------------------- data files


def _idx(dims: tuple[int, ...], payload: bytes = b"", code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}i", *dims) + payload


def _mnist_dir(c: Ctx, images: bytes) -> str:
    """A folder with mnist's four files, the training images replaced by ``images``."""
    folder = c.tmp / "mnist"
    good = {
        "train-labels-idx1-ubyte": _idx((2,), b"\x00\x01"),
        "t10k-images-idx3-ubyte": _idx((1, 28, 28), bytes(784)),
        "t10k-labels-idx1-ubyte": _idx((1,), b"\x00"),
        "train-images-idx3-ubyte": images,
    }
    for name, data in good.items():
        c.file(f"mnist/{name}.gz", gzip.compress(data))
    return str(folder)


@register(CASES, "negative dimension")
def idx_header_negative_dimension(c: Ctx) -> list[str]:
    return ["train", "--data", "mnist", "--data-dir", _mnist_dir(c, _idx((2, -28, 28))), "--out", str(c.tmp / "r")]


@register(CASES, "truncated")
def idx_header_overflowing_dimensions(c: Ctx) -> list[str]:
    images = _idx((2**31 - 1, 2**31 - 1, 2**31 - 1), bytes(100))
    return ["train", "--data", "mnist", "--data-dir", _mnist_dir(c, images), "--out", str(c.tmp / "r")]


@register(CASES, "longer than its header")
def idx_body_longer_than_its_header(c: Ctx) -> list[str]:
    images = _idx((2, 28, 28), bytes(2 * 784 + 5000))
    return ["train", "--data", "mnist", "--data-dir", _mnist_dir(c, images), "--out", str(c.tmp / "r")]


@register(CASES, "data files not found")
def dataset_missing_is_one_line(c: Ctx) -> list[str]:
    from vaekit.data import idx

    (c.tmp / "empty").mkdir()
    c.monkeypatch.setattr(idx, "SYSTEM_DATA_DIR", c.tmp / "empty")  # not this machine's installed copy
    c.monkeypatch.setenv("XDG_CACHE_HOME", str(c.tmp / "empty"))
    c.monkeypatch.delenv("VAEKIT_DATA", raising=False)
    return ["train", "--data", "fashion-mnist", "--data-dir", str(c.tmp / "empty"), "--set", "data.download=false",
            "--out", str(c.tmp / "r")]  # fmt: skip


@register(CASES, "not an .npz file")
def npz_that_is_text(c: Ctx) -> list[str]:
    path = c.file("table.npz", "a,b\n1,2\n")
    return _train(c, "--data", f"npz:{path}")


@register(CASES, "float32 range")
def npz_values_beyond_float32(c: Ctx) -> list[str]:
    np.savez(c.tmp / "big.npz", x=np.full((50, 3), 1e39))
    return _train(c, "--data", f"npz:{c.tmp / 'big.npz'}")


@register(CASES, "float32")
def csv_values_beyond_float32(c: Ctx) -> list[str]:
    rows = "".join(f"{i},{i * 2}\n" for i in range(40))
    path = c.file("t.csv", "a,b\n1e39,1\n" + rows)
    return _train(c, "--data", f"csv:{path}")


@register(CASES, "not utf-8")
def csv_not_utf8(c: Ctx) -> list[str]:
    path = c.file("t.csv", b"a,b\n1,\xff\xfe\n")
    return _train(c, "--data", f"csv:{path}")


@register(CASES, "a loop")
def image_folder_with_a_symlink_loop(c: Ctx) -> list[str]:
    from PIL import Image

    (c.tmp / "imgs").mkdir()
    Image.new("L", (8, 8)).save(c.tmp / "imgs" / "a.png")
    (c.tmp / "imgs" / "loop").symlink_to(c.tmp / "imgs")
    return _train(c, "--data", f"folder:{c.tmp / 'imgs'}")


@register(CASES, "too large to decode")
def image_folder_with_a_decompression_bomb(c: Ctx) -> list[str]:
    from PIL import Image

    (c.tmp / "imgs").mkdir()
    Image.new("1", (10_000, 10_000)).save(c.tmp / "imgs" / "bomb.png")  # 1e8 pixels in a few KB
    return _train(c, "--data", f"folder:{c.tmp / 'imgs'}")


@register(CASES, r"\n")
def file_name_with_control_characters_is_escaped(c: Ctx) -> list[str]:
    name = "evil\n\x1b[31mname.csv"
    return _train(c, "--data", f"csv:{c.tmp / name}")


# ---------------------------------------------------------------- command-line values


@register(CASES, "-n 1000000000")
def sample_a_billion(c: Ctx) -> list[str]:
    return ["sample", str(c.run), "-n", "1000000000", "--out", str(c.tmp / "s.npy")]


@register(CASES, "--temperature")
def sample_temperature_nan(c: Ctx) -> list[str]:
    return ["sample", str(c.run), "--temperature", "nan", "--out", str(c.tmp / "s.npy")]


@register(CASES, "--temperature")
def sample_temperature_infinite(c: Ctx) -> list[str]:
    return ["sample", str(c.run), "--temperature", "inf", "--out", str(c.tmp / "s.npy")]


@register(CASES, "--steps")
def interpolate_a_billion_steps(c: Ctx) -> list[str]:
    return ["interpolate", str(c.run), "--pairs", "2", "--steps", "1000000000", "--out", str(c.tmp / "i.npy")]


def _flag(name: str, argv: list[str], expect: str) -> None:
    """A command-line value argparse itself refuses (exit 2), in one line naming the flag."""

    def setup(c: Ctx) -> list[str]:
        return [a.replace("RUN", str(c.run)).replace("OUT", str(c.tmp / "out")) for a in argv]

    setup.__name__ = name
    register(CASES, expect, exit_code=2)(setup)


for _name, _argv, _expect in [
    ("embed_batch_size_zero", ["embed", "RUN", "--batch-size", "0", "--out", "OUT.npz"], "--batch-size"),
    ("traverse_range_nan", ["traverse", "RUN", "--range", "nan", "--out", "OUT.npy"], "--range"),
    ("reconstruct_n_zero", ["reconstruct", "RUN", "-n", "0", "--out", "OUT.npy"], "-n"),
    ("reconstruct_n_negative", ["reconstruct", "RUN", "-n", "-1", "--out", "OUT.npy"], "-n"),
    ("fit_sampler_seed_negative", ["fit-sampler", "RUN", "--seed", "-1"], "--seed"),
    ("sample_seed_beyond_64_bits", ["sample", "RUN", "--seed", str(2**70), "--out", "OUT.npy"], "--seed"),
    ("evaluate_samples_negative", ["evaluate", "RUN", "--samples", "-1"], "--samples"),
    ("inpaint_chains_zero", ["inpaint", "RUN", "--chains", "0", "--out", "OUT.npy"], "--chains"),
]:
    _flag(_name, _argv, _expect)


@register(CASES, "is a directory")
def sample_out_is_a_folder(c: Ctx) -> list[str]:
    (c.tmp / "s.npy").mkdir()
    return ["sample", str(c.run), "-n", "4", "--out", str(c.tmp / "s.npy")]


@register(CASES, "could not write")
def sample_out_under_a_file(c: Ctx) -> list[str]:
    return ["sample", str(c.run), "-n", "4", "--out", str(c.file("f.txt", "keep") / "s.npy")]


@register(CASES, "read-only file system")
def out_on_a_read_only_file_system(c: Ctx) -> list[str]:
    import errno
    from pathlib import Path

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    c.monkeypatch.setattr(Path, "mkdir", read_only)
    return _train(c)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, ctx: Ctx) -> None:
    argv = case.setup(ctx)
    check_failed_well(case, ctx, argv, snapshot(ctx.tmp))
