"""The training state saved at the end of every epoch, and restored by ``--resume``.

Weights, optimizer tensors and RNG states go into one safetensors file; the JSON part
(epoch, step, schedule state, counters) rides in that file's metadata, so one atomic rename
replaces the whole checkpoint.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from vaekit.checkpoint import TRAIN_STATE, load_tensors, load_weights, pack_state, save_tensors, unpack_state
from vaekit.errors import CheckpointError
from vaekit.training.schedules import Plateau


@dataclass(frozen=True)
class Progress:
    """Counters that, with the tensors, fully determine where training stands."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken (skipped steps excluded)
    seen_batches: int = 0  # batches drawn, skipped ones included
    best_val_elbo: float = float("-inf")
    best_val_score: float = float("-inf")  # of train.best_by (the ELBO, or a ranking metric for ratings runs)
    best_epoch: int = 0
    epochs_since_best: int = 0
    bad_steps: int = 0  # NaN/Inf steps skipped in total
    consecutive_bad: int = 0  # NaN/Inf steps in a row at the end of the last epoch (the guard spans epochs)
    plateau: Plateau = field(default_factory=Plateau)
    elapsed: float = 0.0  # seconds of training so far
    stalled: float = 0.0  # of which one-off stalls (compiling): schedules on the clock leave them out
    finished: bool = False
    stop_reason: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Progress:
        """Raises ValueError/TypeError/KeyError for a state that is not one this class wrote."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("plateau"), dict):
            raise ValueError("the training state is not a JSON object with a plateau entry")
        raw["plateau"] = Plateau(**_checked(Plateau, raw["plateau"]))
        return cls(**_checked(cls, raw))


def _checked(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with every field of the dataclass ``cls`` of the declared type (counters >= 0)."""
    kinds = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(raw) - set(kinds))
    if unknown:
        raise ValueError(f"unknown entries {unknown}")
    for name, value in raw.items():
        kind = kinds[name]
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        if kind == "str" and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
    return raw


@dataclass(frozen=True)
class Generators:
    """The random streams training draws from besides torch's global one (which dropout uses)."""

    data: torch.Generator  # shuffling and dynamic binarisation
    noise: torch.Generator  # posterior noise for the global batch


def save_train_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    gens: Generators,
    progress: Progress,
    extra_modules: dict[str, torch.nn.Module] | None = None,
    extra_optimizers: dict[str, torch.optim.Optimizer] | None = None,
) -> None:
    """``extra_modules``/``extra_optimizers``: what an objective trains beside the model (a
    discriminator and its optimizer), saved under ``extra.<name>.`` and ``optim_<name>``."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_skeleton = pack_state(optimizer.state_dict(), "optim", tensors)
    metadata = {"state": progress.to_json(), "optimizer": json.dumps(optim_skeleton)}
    for name, module in (extra_modules or {}).items():
        tensors.update({f"extra.{name}.{k}": v for k, v in module.state_dict().items()})
    for name, opt in (extra_optimizers or {}).items():
        metadata[f"optimizer.{name}"] = json.dumps(pack_state(opt.state_dict(), f"optim_{name}", tensors))
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = gens.data.get_state()
    tensors["rng.noise"] = gens.noise.get_state()
    save_tensors(Path(run_dir) / TRAIN_STATE, tensors, metadata)


def load_train_state(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    gens: Generators,
    extra_modules: dict[str, torch.nn.Module] | None = None,
    extra_optimizers: dict[str, torch.optim.Optimizer] | None = None,
) -> Progress:
    path = Path(run_dir) / TRAIN_STATE
    tensors, meta = load_tensors(path)
    try:
        progress = Progress.from_json(meta["state"])
        optim_state: dict[str, Any] = unpack_state(json.loads(meta["optimizer"]), tensors)
        extra_states = {name: unpack_state(json.loads(meta[f"optimizer.{name}"]), tensors) for name in extra_optimizers or {}}
    except (KeyError, ValueError, TypeError, RecursionError) as e:
        raise CheckpointError(f"{path} has no usable training state ({e}); it cannot be resumed") from None
    # everything is checked against what the config builds before anything is loaded: a tampered
    # optimizer tensor of the wrong size would otherwise be read and written out of bounds
    model_weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_weights(model, model_weights, path)
    check_optimizer_state(optimizer, optim_state, f"{path} (optimizer)")
    for name, opt in (extra_optimizers or {}).items():
        check_optimizer_state(opt, extra_states[name], f"{path} ({name} optimizer)")
    current = {"torch": torch.get_rng_state(), "data": gens.data.get_state(), "noise": gens.noise.get_state()}
    rng: dict[str, torch.Tensor] = {}
    for k, now in current.items():
        t = tensors.get(f"rng.{k}")
        if t is None or t.dtype != torch.uint8 or t.shape != now.shape:
            raise CheckpointError(f"{path}: the random-number state rng.{k} is missing or damaged; it cannot be resumed")
        rng[k] = t
    try:
        optimizer.load_state_dict(optim_state)
        for name, module in (extra_modules or {}).items():
            prefix = f"extra.{name}."
            load_weights(module, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, path)
        for name, opt in (extra_optimizers or {}).items():
            opt.load_state_dict(extra_states[name])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"optimizer state in {path} does not match the model ({e}); it cannot be resumed") from None
    torch.set_rng_state(rng["torch"])
    gens.data.set_state(rng["data"])
    gens.noise.set_state(rng["noise"])
    return progress


def check_optimizer_state(optimizer: torch.optim.Optimizer, state: Any, where: str) -> None:
    """A saved optimizer state must be what ``optimizer`` itself would save: the same parameter
    groups with settings of the same types (finite numbers), and per parameter, tensors of that
    parameter's shape and dtype (a scalar ``step``), all finite. Anything else: CheckpointError."""
    ref = optimizer.state_dict()

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{where}: {why}; the file was altered or damaged, so the run cannot be resumed")

    if not isinstance(state, dict) or not isinstance(state.get("state"), dict) or not isinstance(state.get("param_groups"), list):
        raise bad("not an optimizer state")
    if len(state["param_groups"]) != len(ref["param_groups"]):
        raise bad(f"{len(state['param_groups'])} parameter groups, the model has {len(ref['param_groups'])}")
    params: dict[Any, torch.Tensor] = {}
    for group, ref_group, live in zip(state["param_groups"], ref["param_groups"], optimizer.param_groups):
        if not isinstance(group, dict) or set(group) != set(ref_group) or group["params"] != ref_group["params"]:
            raise bad("its parameter groups do not match the model's")
        params.update(zip(ref_group["params"], live["params"]))
        for key, value in group.items():
            if key != "params" and not _same_kind(value, ref_group[key]):
                raise bad(f"setting {key!r} is {value!r}")
        if not group["lr"] > 0:
            raise bad(f"learning rate {group['lr']!r}")
    for index, entry in state["state"].items():
        if index not in params or not isinstance(entry, dict):
            raise bad(f"state for unknown parameter {index!r}")
        p = params[index]
        for name, t in entry.items():
            if not isinstance(t, torch.Tensor):
                if name == "step" and _same_kind(t, 0.0) and t >= 0:
                    continue
                raise bad(f"{name} of parameter {index} is not a tensor")
            if name == "step":
                if t.numel() != 1 or not t.is_floating_point():
                    raise bad(f"step of parameter {index} has shape {tuple(t.shape)} {t.dtype}, not a scalar count")
            elif t.shape != p.shape or t.dtype != p.dtype:
                raise bad(
                    f"{name} of parameter {index} is {tuple(t.shape)} {t.dtype}, the parameter is {tuple(p.shape)} {p.dtype}"
                )
            if not bool(torch.isfinite(t).all()):
                raise bad(f"{name} of parameter {index} holds NaN or infinite values")
            if (name == "step" or name.endswith("_sq") or name == "exp_inf") and bool((t < 0).any()):
                raise bad(f"{name} of parameter {index} holds negative values")


def _same_kind(value: Any, ref: Any) -> bool:
    """True when a saved optimizer setting has the kind of the fresh optimizer's (finite numbers)."""
    if ref is None or isinstance(ref, bool):
        return value is None or isinstance(value, bool)
    if isinstance(ref, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(ref, (tuple, list)):
        return isinstance(value, (tuple, list)) and len(value) == len(ref) and all(_same_kind(v, r) for v, r in zip(value, ref))
    if isinstance(ref, str):
        return isinstance(value, str)
    return type(value) is type(ref)
