"""Hostile run directories: tampered training states and weights, damaged files, --out onto the
user's folders, and a second writer. Each case must fail with one clear line and change nothing."""

from __future__ import annotations

import json

import pytest
import torch
from hostile_kit import TINY, Case, Ctx, check_failed_well, register, snapshot

from vaekit.runlock import claim_run_dir

CASES: list[Case] = []
STATE = "train_state.safetensors"
MODEL = "model.safetensors"


def _resume(c: Ctx) -> list[str]:
    return ["train", "--resume", str(c.run), "--epochs", "2", "--no-progress"]


def _optim_tensors(edit):
    """A training-state edit applied to every Adam moment tensor."""

    def change(t: dict, meta: dict) -> None:
        for k in [k for k in t if k.endswith(("exp_avg", "exp_avg_sq"))]:
            t[k] = edit(t[k])

    return change


# ---------------------------------------------------------------- the optimizer state (segfault, NaN weights)


@register(CASES, "optimizer")
def adam_moments_shorter_than_their_parameters(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optim_tensors(lambda v: v.flatten()[:3].clone()))
    return _resume(c)


@register(CASES, "optimizer")
def adam_moments_longer_than_their_parameters(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optim_tensors(lambda v: torch.cat([v.flatten(), v.flatten()])))
    return _resume(c)


@register(CASES, "optimizer")
def adam_second_moment_negative(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optim_tensors(lambda v: -v.abs() - 1))
    return _resume(c)


@register(CASES, "optimizer")
def adam_moments_nan(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optim_tensors(lambda v: torch.full_like(v, float("nan"))))
    return _resume(c)


@register(CASES, "optimizer")
def adam_moments_float64(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optim_tensors(lambda v: v.double()))
    return _resume(c)


@register(CASES, "optimizer")
def adam_step_is_a_vector(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, lambda t, m: t.update({k: torch.ones(7) for k in t if k.endswith(".step")}))
    return _resume(c)


def _optimizer_meta(edit):
    def change(t: dict, meta: dict) -> None:
        skeleton = json.loads(meta["optimizer"])
        edit(skeleton)
        meta["optimizer"] = json.dumps(skeleton)

    return change


def _set_lr(value):
    def edit(skeleton: dict) -> None:
        groups = dict(skeleton["__dict__"])["param_groups"]
        groups[0]["__dict__"] = [[k, value if k == "lr" else v] for k, v in groups[0]["__dict__"]]

    return edit


@register(CASES, "optimizer")
def optimizer_lr_is_a_string(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optimizer_meta(_set_lr("fast")))
    return _resume(c)


@register(CASES, "optimizer")
def optimizer_lr_is_negative(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, _optimizer_meta(_set_lr(-1.0)))
    return _resume(c)


@register(CASES, "training state")
def optimizer_metadata_not_json(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, lambda t, m: m.update(optimizer="{not json"))
    return _resume(c)


# ---------------------------------------------------------------- weights, RNG and progress in the training state


@register(CASES, "nan or infinite")
def last_weights_nan(c: Ctx) -> list[str]:
    c.edit_tensors(
        STATE, lambda t, m: t.update({k: torch.full_like(v, float("nan")) for k, v in t.items() if k.startswith("model.")})
    )
    return _resume(c)


@register(CASES, "rng.torch")
def rng_state_missing(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, lambda t, m: t.pop("rng.torch"))
    return _resume(c)


@register(CASES, "rng.data")
def rng_state_wrong_size(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, lambda t, m: t.update({"rng.data": t["rng.data"][:10].clone()}))
    return _resume(c)


@register(CASES, "rng.noise")
def rng_state_wrong_dtype(c: Ctx) -> list[str]:
    c.edit_tensors(STATE, lambda t, m: t.update({"rng.noise": t["rng.noise"].float()}))
    return _resume(c)


@register(CASES, "epoch")
def progress_epoch_is_a_string(c: Ctx) -> list[str]:
    c.edit_state(lambda s: s.update(epoch="one"))
    return _resume(c)


@register(CASES, "epoch")
def progress_epoch_negative(c: Ctx) -> list[str]:
    c.edit_state(lambda s: s.update(epoch=-5))
    return _resume(c)


@register(CASES, "best_val_elbo")
def info_on_a_state_whose_best_elbo_is_text(c: Ctx) -> list[str]:
    c.edit_state(lambda s: s.update(best_val_elbo="good"))
    return ["info", str(c.run)]


@register(CASES, "damaged")
def training_state_is_garbage(c: Ctx) -> list[str]:
    (c.run / STATE).write_bytes(b"\x00garbage" * 100)
    return _resume(c)


# ---------------------------------------------------------------- best weights, config.json, metrics, sampler


def _model_weights(edit):
    return lambda t, m: t.update({k: edit(v) for k, v in t.items()})


@register(CASES, "int8")
def best_weights_int8(c: Ctx) -> list[str]:
    c.edit_tensors(MODEL, _model_weights(lambda v: v.to(torch.int8)))
    return ["sample", str(c.run), "--out", str(c.tmp / "s.npy")]


@register(CASES, "bool")
def best_weights_bool(c: Ctx) -> list[str]:
    c.edit_tensors(MODEL, _model_weights(lambda v: v > 0))
    return ["sample", str(c.run), "--out", str(c.tmp / "s.npy")]


@register(CASES, "nan or infinite")
def best_weights_infinite(c: Ctx) -> list[str]:
    c.edit_tensors(MODEL, _model_weights(lambda v: torch.full_like(v, float("inf"))))
    return ["reconstruct", str(c.run), "-n", "4", "--out", str(c.tmp / "r.npy")]


@register(CASES, "shape")
def best_weights_wrong_shape(c: Ctx) -> list[str]:
    c.edit_tensors(MODEL, _model_weights(lambda v: torch.zeros(3, 3)))
    return ["sample", str(c.run), "--out", str(c.tmp / "s.npy")]


@register(CASES, "damaged")
def best_weights_truncated(c: Ctx) -> list[str]:
    data = (c.run / MODEL).read_bytes()
    (c.run / MODEL).write_bytes(data[: len(data) // 2])
    return ["sample", str(c.run), "--out", str(c.tmp / "s.npy")]


@register(CASES, "data.shape")
def config_shape_negative(c: Ctx) -> list[str]:
    c.edit_config(lambda raw: raw["data"].update(shape=[1, -8, 8]))
    return ["info", str(c.run)]


@register(CASES, "data.shape")
def config_shape_not_numbers(c: Ctx) -> list[str]:
    c.edit_config(lambda raw: raw["data"].update(shape=["one", "eight", "eight"]))
    return ["sample", str(c.run), "--out", str(c.tmp / "s.npy")]


@register(CASES, "damaged")
def config_json_is_a_list(c: Ctx) -> list[str]:
    (c.run / "config.json").write_text("[1, 2, 3]")
    return ["info", str(c.run)]


@register(CASES, "train.lr")
def config_json_lr_negative(c: Ctx) -> list[str]:
    c.edit_config(lambda raw: raw["config"]["train"].update(lr=-1.0))
    return _resume(c)


@register(CASES, "metrics.jsonl")
def metrics_binary_garbage_under_info(c: Ctx) -> list[str]:
    (c.run / "metrics.jsonl").write_bytes(bytes(range(256)) * 4)
    return ["info", str(c.run)]


@register(CASES, "metrics.jsonl")
def metrics_damaged_before_its_last_line_under_resume(c: Ctx) -> list[str]:
    good = (c.run / "metrics.jsonl").read_text()
    (c.run / "metrics.jsonl").write_text("{oops\n" + good)
    return _resume(c)


@register(CASES, "mixture sampler")
def sampler_with_nan_weights(c: Ctx) -> list[str]:
    weights = torch.full((3,), float("nan"))
    sampler = {"weights": weights, "means": torch.zeros(3, 2), "scale_tril": torch.eye(2).repeat(3, 1, 1)}
    meta = {"sampler": json.dumps({"kind": "gmm", "covariance": "full", "fitted_on": 10})}
    from safetensors.torch import save_file

    save_file(sampler, str(c.run / "sampler_gmm.safetensors"), metadata=meta)
    return ["sample", str(c.run), "--sampler", "gmm", "--out", str(c.tmp / "s.npy")]


# ---------------------------------------------------------------- --out onto what is not a new run


@register(CASES, "not empty and not a vaekit run")
def out_is_a_folder_of_the_users_files(c: Ctx) -> list[str]:
    for name in ("model.safetensors", "samples.png", "curves.png", "notes.txt"):
        c.file(f"mine/{name}", f"the user's own {name}")
    return ["train", *TINY, "--out", str(c.tmp / "mine")]


@register(CASES, "not empty and not a vaekit run")
def out_is_a_folder_with_a_metrics_file(c: Ctx) -> list[str]:
    c.file("mine/metrics.jsonl", '{"epoch": 1, "loss": 3.0}\n')
    return ["train", *TINY, "--out", str(c.tmp / "mine")]


@register(CASES, "is a file")
def out_is_a_file(c: Ctx) -> list[str]:
    return ["train", *TINY, "--out", str(c.file("report.txt", "keep me"))]


@register(CASES, "cannot create")
def out_is_under_a_file(c: Ctx) -> list[str]:
    return ["train", *TINY, "--out", str(c.file("report.txt", "keep me") / "run")]


@register(CASES, "already holds a run")
def out_is_an_existing_run(c: Ctx) -> list[str]:
    return ["train", *TINY, "--out", str(c.run)]


@register(CASES, "broken symbolic link")
def out_is_a_broken_symlink(c: Ctx) -> list[str]:
    (c.tmp / "link").symlink_to(c.tmp / "nowhere")
    return ["train", *TINY, "--out", str(c.tmp / "link")]


# ---------------------------------------------------------------- a second writer


def _held(what: str):
    """A case whose run directory another writer holds for the duration of the command."""

    def setup(c: Ctx) -> list[str]:
        c.holder = claim_run_dir(c.run, new=False, what="a test holder")  # type: ignore[attr-defined]
        c.holder.__enter__()  # type: ignore[attr-defined]
        return {
            "resume": _resume(c),
            "fit-sampler": ["fit-sampler", str(c.run), "--components", "2"],
            "detect": ["detect", "fit", str(c.run), "--contamination", "0.1"],
            "train": ["train", *TINY, "--out", str(c.run)],
        }[what]

    setup.__name__ = f"second_writer_{what.replace('-', '_')}"
    return setup


for _what in ("resume", "fit-sampler", "detect", "train"):
    register(CASES, "in use by pid")(_held(_what))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_run_directory(case: Case, ctx: Ctx) -> None:
    argv = case.setup(ctx)
    try:
        check_failed_well(case, ctx, argv, snapshot(ctx.tmp))
    finally:
        holder = getattr(ctx, "holder", None)
        if holder is not None:
            holder.__exit__(None, None, None)
