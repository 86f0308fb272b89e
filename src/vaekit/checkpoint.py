"""Run directories: weights in safetensors, everything else in JSON; every write is atomic.

Layout of a run directory::

    config.json               RunConfig + data shape/kind/checksum + vaekit version
    model.safetensors         best weights (by validation ELBO): what ``vaekit.load`` returns
    train_state.safetensors   last weights, optimizer tensors, RNG states; JSON state in metadata
    scaler.json               tabular runs: the standardiser fitted on the training split
    items.json                ratings runs: item ids (the model's columns), titles, users of each split
    metrics.jsonl             one JSON object per epoch
    tensorboard/              event files when the tensorboard package is installed
    samples.png, reconstructions.png, curves.png

The training state is one file, so a kill at any moment leaves either the old or the new
checkpoint, never a mix. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaekit.config import RunConfig
from vaekit.errors import CheckpointError, ConfigError, RunDirError

FORMAT_VERSION = 1
CONFIG = "config.json"
MODEL = "model.safetensors"
TRAIN_STATE = "train_state.safetensors"
METRICS = "metrics.jsonl"
SCALER = "scaler.json"
ITEMS = "items.json"  # ratings runs: item id of each column, titles, users of each split


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(flat, metadata=metadata))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: the run directory is incomplete") from None
    except Exception as e:  # safetensors raises its own error types for damaged headers/payloads
        raise CheckpointError(f"{path} is damaged and cannot be read ({e}); retrain or restore the file") from e


# ----------------------------------------------------------------- nested state <-> tensors + JSON


def pack_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list by a reference, collecting the tensors.

    Used for optimizer state dicts (int keys, tuples, tensors) so they round-trip through
    safetensors + JSON without pickle.
    """
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, pack_state(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [pack_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    return obj


def unpack_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: unpack_state(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(unpack_state(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [unpack_state(v, tensors) for v in obj]
    return obj


# ----------------------------------------------------------------- the run directory


@dataclass(frozen=True)
class RunInfo:
    """What config.json holds besides the RunConfig: enough to rebuild and check the model."""

    data_shape: tuple[int, ...]
    data_kind: str
    data_checksum: str = ""
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    vaekit_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def write_config(run_dir: Path, cfg: RunConfig, info: RunInfo) -> None:
    atomic_write_json(
        Path(run_dir) / CONFIG,
        {
            "format": FORMAT_VERSION,
            "vaekit_version": info.vaekit_version,
            "config": cfg.to_dict(),
            "data": {
                "shape": list(info.data_shape),
                "kind": info.data_kind,
                "checksum": info.data_checksum,
                "num_classes": info.num_classes,
                "class_names": list(info.class_names),
            },
            "extra": info.extra,
        },
    )


class RunDir:
    """A run directory on disk. Construction checks that it is one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise RunDirError(f"{self.path} is not a directory; pass a run directory written by 'vaekit train'")
        cfg_path = self.path / CONFIG
        if not cfg_path.is_file():
            raise RunDirError(f"{self.path} is not a vaekit run directory (no {CONFIG}); pass the --out of a 'vaekit train' run")
        try:
            raw = json.loads(cfg_path.read_text())
            self.config = RunConfig.from_dict(raw["config"])
            d = raw["data"]
            self.info = RunInfo(
                data_shape=tuple(d["shape"]),
                data_kind=d["kind"],
                data_checksum=d.get("checksum", ""),
                num_classes=d.get("num_classes"),
                class_names=tuple(d.get("class_names", ())),
                vaekit_version=raw.get("vaekit_version", ""),
                extra=raw.get("extra", {}),
            )
        except ConfigError as e:
            raise RunDirError(f"{cfg_path} does not hold a valid config: {e}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise RunDirError(f"{cfg_path} is damaged ({type(e).__name__}: {e}); it is not a usable run directory") from None

    def build_model(self) -> torch.nn.Module:
        from vaekit.core import build_model

        return build_model(self.config.model, self.info.data_shape)

    def load_model(self, which: str = "best") -> torch.nn.Module:
        """The model with the best (``which="best"``) or last weights, in eval mode."""
        if which == "best":
            weights, _ = load_tensors(self.path / MODEL)
        elif which == "last":
            tensors, _ = load_tensors(self.path / TRAIN_STATE)
            weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        else:
            raise RunDirError(f"which={which!r}: use 'best' or 'last'")
        model = self.build_model()
        load_weights(model, weights, self.path)
        return model.eval()

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / METRICS
        if not p.is_file():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def scaler(self):
        from vaekit.data.base import Standardizer

        p = self.path / SCALER
        return Standardizer.from_dict(json.loads(p.read_text())) if p.is_file() else None

    def model_metadata(self) -> dict[str, str]:
        from safetensors import safe_open

        p = self.path / MODEL
        if not p.is_file():
            return {}
        with safe_open(str(p), framework="pt") as f:
            return f.metadata() or {}

    def train_state(self) -> dict[str, Any]:
        """The JSON part of the last checkpoint (epoch, step, best ELBO, ...), without tensors."""
        from safetensors import safe_open

        p = self.path / TRAIN_STATE
        if not p.is_file():
            return {}
        try:
            with safe_open(str(p), framework="pt") as f:
                return json.loads((f.metadata() or {}).get("state", "{}"))
        except Exception as e:
            raise CheckpointError(f"{p} is damaged ({e})") from e


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], where: Path | str) -> None:
    """Load a state dict after checking names and shapes, with a message that lists mismatches."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if tuple(expected[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape of {k} is {tuple(weights[k].shape)}, config needs {tuple(expected[k].shape)}")
        raise CheckpointError(
            f"weights in {where} do not match its config.json ({'; '.join(parts)}); "
            "the weights and config come from different runs"
        )
    model.load_state_dict(weights)
