"""Run directories: weights in safetensors, everything else in JSON; every write is atomic.

Layout of a run directory::

    config.json               RunConfig + data shape/kind/checksum + vaekit version + CPU (machine)
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
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vaekit.config import RunConfig
from vaekit.errors import CheckpointError, ConfigError, OutputError, RunDirError

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

FORMAT_VERSION = 1
CONFIG = "config.json"
MODEL = "model.safetensors"
TRAIN_STATE = "train_state.safetensors"
METRICS = "metrics.jsonl"
SCALER = "scaler.json"
ITEMS = "items.json"  # ratings runs: item id of each column, titles, users of each split


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it. The file gets the
    user's umask (as ``open`` would give it), not mkstemp's 0600. A failure (full disk, read-only
    folder, a file where a folder should be) is an OutputError naming ``path``; nothing is left."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    created = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        created = True
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if created:
            tmp.unlink(missing_ok=True)
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker is not None else (e.strerror or str(e))
        raise OutputError(f"could not write {path}: {why}") from None
    except BaseException:
        if created:
            tmp.unlink(missing_ok=True)
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
    machine: dict[str, Any] = field(default_factory=dict)  # CPU model and flags where training began (hardware.cpu_info)


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
            "machine": info.machine,
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
            if not isinstance(raw, dict):
                raise ValueError(f"a JSON {type(raw).__name__}, not the object vaekit writes")
            self.config = RunConfig.from_dict(raw["config"], saved=True)
            self.info = _run_info(raw)
        except ConfigError as e:
            raise RunDirError(f"{cfg_path} does not hold a valid config: {e}") from None
        except (ValueError, KeyError, TypeError, OSError, RecursionError) as e:
            raise RunDirError(f"{cfg_path} is damaged ({type(e).__name__}: {e}); it is not a usable run directory") from None

    def build_model(self) -> VAE:
        from vaekit.core import build_model
        from vaekit.core.size import check_model_fits

        check_model_fits(self.config.model, self.info.data_shape, training=False)
        return build_model(self.config.model, self.info.data_shape)

    def load_model(self, which: str = "best") -> VAE:
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
        return read_metrics(self.path / METRICS)

    def scaler(self):
        from vaekit.data.columns import load_scaler

        p = self.path / SCALER
        return load_scaler(json.loads(p.read_text())) if p.is_file() else None

    def model_metadata(self) -> dict[str, str]:
        from safetensors import safe_open

        p = self.path / MODEL
        if not p.is_file():
            return {}
        try:
            with safe_open(str(p), framework="pt") as f:
                return f.metadata() or {}
        except Exception as e:  # safetensors' own error types for a damaged header
            raise CheckpointError(f"{p} is damaged and cannot be read ({e}); retrain or restore the file") from None

    def train_state(self) -> dict[str, Any]:
        """The JSON part of the last checkpoint (epoch, step, best ELBO, ...), without tensors."""
        from safetensors import safe_open

        p = self.path / TRAIN_STATE
        if not p.is_file():
            return {}
        try:
            with safe_open(str(p), framework="pt") as f:
                state = json.loads((f.metadata() or {}).get("state", "{}"))
        except Exception as e:
            raise CheckpointError(f"{p} is damaged ({e}); retrain or restore the file") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{p} holds no usable training state; retrain or restore the file")
        return state


def _run_info(raw: Any) -> RunInfo:
    """config.json's data section, checked: a positive shape of 1 (table) or 3 (image) sizes."""
    d = raw["data"]
    shape = d["shape"]
    kind = d["kind"]
    if not isinstance(shape, list) or len(shape) not in (1, 3):
        raise ValueError(f"data.shape {shape!r} is not a list of 1 or 3 sizes")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 1 << 31 for s in shape):
        raise ValueError(f"data.shape {shape!r} must hold whole numbers >= 1")
    if kind not in ("image", "tabular", "ratings") or (kind == "image") != (len(shape) == 3):
        raise ValueError(f"data.kind {kind!r} does not fit data.shape {shape!r}")
    classes = d.get("num_classes")
    if classes is not None and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise ValueError(f"data.num_classes {classes!r} must be a whole number >= 1 or null")
    names = d.get("class_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("data.class_names must be a list of strings")
    extra = raw.get("extra", {})
    version = raw.get("vaekit_version", "")
    machine = raw.get("machine", {})
    return RunInfo(
        data_shape=tuple(shape),
        data_kind=kind,
        data_checksum=str(d.get("checksum", "")),
        num_classes=classes,
        class_names=tuple(names),
        vaekit_version=str(version),
        extra=extra if isinstance(extra, dict) else {},
        machine=machine if isinstance(machine, dict) else {},  # absent in run directories from before it was recorded
    )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl as a list of rows; a damaged line is a RunDirError naming it."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunDirError(f"{path} is not text (damaged); delete it or restore it from a backup") from None
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = parse_metrics_line(line)
        if row is None:
            raise RunDirError(f"{path}, line {i} is not a metrics row (damaged); delete the line or the file")
        rows.append(row)
    return rows


def parse_metrics_line(line: str) -> dict[str, Any] | None:
    """One metrics.jsonl row, or None when the line is not one."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    ok = isinstance(row, dict) and isinstance(row.get("epoch"), int) and not isinstance(row["epoch"], bool)
    return row if ok else None


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
    for k, v in weights.items():
        if v.dtype != expected[k].dtype:
            raise CheckpointError(
                f"weights in {where}: {k} is {v.dtype}, the model needs {expected[k].dtype}; the file was altered or damaged"
            )
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"weights in {where}: {k} holds NaN or infinite values; retrain or restore the file")
    model.load_state_dict(weights)
