"""The training state saved at the end of every epoch, and restored by ``--resume``.

Weights, optimizer tensors and RNG states go into one safetensors file; the JSON part
(epoch, step, schedule state, counters) rides in that file's metadata, so one atomic rename
replaces the whole checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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
    plateau: Plateau = field(default_factory=Plateau)
    elapsed: float = 0.0  # seconds of training so far
    finished: bool = False
    stop_reason: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Progress:
        raw = json.loads(text)
        raw["plateau"] = Plateau(**raw["plateau"])
        return cls(**raw)


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
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} has no usable training state ({e}); it cannot be resumed") from e
    load_weights(model, {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}, path)
    try:
        optimizer.load_state_dict(optim_state)
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimizer state in {path} does not match the model ({e})") from e
    for name, module in (extra_modules or {}).items():
        prefix = f"extra.{name}."
        load_weights(module, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, path)
    for name, opt in (extra_optimizers or {}).items():
        try:
            opt.load_state_dict(unpack_state(json.loads(meta[f"optimizer.{name}"]), tensors))
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{path} has no usable state for the {name} optimizer ({e}); it cannot be resumed") from e
    torch.set_rng_state(tensors["rng.torch"])
    gens.data.set_state(tensors["rng.data"])
    gens.noise.set_state(tensors["rng.noise"])
    return progress
