"""Run configuration: frozen dataclasses loaded strictly from TOML/YAML/JSON plus ``--set`` overrides.

An unknown key or a value of the wrong type is a :class:`ConfigError` naming the key, never a
silent default. ``RunConfig.to_dict()`` is what ``config.json`` in a run directory holds, and
``RunConfig.from_dict`` rebuilds it exactly.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from vaekit.errors import ConfigError

Likelihood = Literal["bernoulli", "gaussian", "gaussian-learned", "laplace", "dlogistic", "multinomial"]
Arch = Literal["mlp", "conv", "resnet"]
Posterior = Literal["diagonal", "full", "planar", "iaf", "vq"]
Prior = Literal["normal", "mixture", "vamp"]
Objective = Literal["elbo", "iwae", "btcvae", "vaegan", "dae"]


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    ``source`` is a registry name (``digits``, ``mnist``, ``fashion-mnist``, ``binarized-mnist``) or
    ``folder:PATH``, ``npz:PATH``, ``csv:PATH``.
    """

    source: str = "digits"
    data_dir: str | None = None  # where IDX files live; else $VAEKIT_DATA, system dirs, user cache
    download: bool = True  # fetch missing standard files (checksum-verified) when the network allows
    validation_fraction: float = 0.1  # carved out of the training split by `seed`
    test_fraction: float = 0.2  # only for sources without an official test split
    seed: int = 0  # fixes the split; independent of the training seed
    binarize: Literal["none", "dynamic", "static"] = "none"  # dynamic: resample each batch
    image_size: tuple[int, int] | None = None  # (H, W) resize for folder images
    channels: Literal["auto", "grayscale", "rgb"] = "auto"  # folder images
    classes: tuple[int, ...] | None = None  # keep only these labels (e.g. one-class training)
    limit: int | None = None  # keep only the first `limit` training examples (quick runs, tests)
    # folder:PATH only: decode batches in DataLoader workers instead of holding the folder in memory;
    # "auto" streams when the decoded splits would exceed memory_budget_gb. Same results either way.
    streaming: Literal["auto"] | bool = "auto"
    memory_budget_gb: float | None = None  # None: half of this machine's physical memory
    workers: int = 2  # DataLoader worker processes per training process when streaming (0: in-process)
    # ratings:PATH only (implicit feedback, strong generalisation: validation and test users are held out)
    min_rating: float = 4.0  # ratings at or above this become clicks (files without a rating column: all)
    min_user_items: int = 5  # users with fewer clicks are dropped
    heldout_users: int | None = None  # validation users and as many test users; None: by the fractions above
    heldout_fraction: float = 0.2  # of each held-out user's clicks, hidden and scored (the rest are folded in)


@dataclass(frozen=True)
class ModelConfig:
    """The parts that make up the VAE. The saved config rebuilds the model exactly."""

    arch: Arch = "mlp"
    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)  # MLP widths, encoder order; the decoder mirrors them
    channels: tuple[int, ...] = (32, 64, 128)  # conv widths; each layer halves H and W
    activation: Literal["relu", "elu", "gelu", "tanh", "silu", "leaky_relu"] = "relu"
    dropout: float = 0.0
    likelihood: Likelihood = "bernoulli"
    scale: float = 1.0  # fixed scale of the gaussian/laplace likelihood
    dlogistic_bins: int = 256  # discretized logistic: number of intensity levels
    res_blocks: int = 1  # resnet: residual blocks at each resolution (model.channels gives the widths)
    posterior: Posterior = "diagonal"  # full: Cholesky covariance; planar/iaf: normalizing flows; vq: codebook
    flow_steps: int = 4  # planar / iaf: number of flow transformations
    flow_hidden: int = 64  # iaf: hidden width of each MADE (and of the context the encoder emits)
    prior: Prior = "normal"  # mixture: learned Gaussian mixture; vamp: VampPrior (learned pseudo-inputs)
    prior_components: int = 10  # mixture components or VampPrior pseudo-inputs
    latent_dims: tuple[int, ...] = ()  # stochastic layers [z1, z2, ...] (bottom first); overrides latent_dim
    latent_hidden: tuple[int, ...] = (100, 100)  # widths of the MLPs between stochastic layers
    vq_codes: int = 512  # vq: codebook size K
    vq_dim: int = 16  # vq: size of one code vector; latent_dim / vq_dim positions are quantised
    vq_decay: float = 0.99  # vq: EMA decay of the codebook updates
    vq_commitment: float = 0.25  # vq: weight of the commitment loss
    conditional: bool = False  # feed the labels (one-hot) to encoder and decoder (conditional VAE)
    condition_dim: int | None = None  # classes (or covariate width); None: the data's class count
    normalize_input: bool = False  # scale each input row to unit L2 norm before the encoder (Mult-VAE)
    input_dropout: float = 0.0  # dropout on the encoder's input while training (Mult-VAE: 0.5)


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted. Every schedule is a pure function of the step (see schedules.py)."""

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1024
    objective: Objective = "elbo"  # iwae: k-sample bound; btcvae: total-correlation penalty; vaegan
    optimizer: Literal["adam", "adamw", "adamax"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    lr_step_epochs: int = 10  # step schedule: multiply by lr_gamma every this many epochs
    lr_gamma: float = 0.5  # step and plateau factor
    lr_patience: int = 3  # plateau: epochs without improvement before the lr drops
    lr_min: float = 0.0  # cosine floor
    beta: float = 1.0  # KL weight (beta-VAE); the warm-up multiplies it
    kl_warmup_epochs: float = 0.0  # linear 0 -> beta over this many epochs
    free_bits: float = 0.0  # per-dimension KL floor in nats (Kingma et al. 2016)
    capacity_max: float = 0.0  # > 0: loss = recon + beta * |KL - C|, C linear 0 -> capacity_max (nats)
    capacity_steps: int = 10000  # optimizer steps over which the capacity C grows
    k: int = 5  # iwae: importance samples per example
    iwae_estimator: Literal["iwae", "dreg"] = "iwae"  # dreg: doubly reparameterized encoder gradients
    gan_weight: float = 1.0  # vaegan: weight of the decoder's adversarial loss
    disc_channels: tuple[int, ...] = (32, 64)  # vaegan: discriminator widths (conv for images, MLP otherwise)
    disc_lr: float | None = None  # vaegan: discriminator learning rate (None: train.lr)
    grad_clip: float | None = None  # max global gradient norm
    max_bad_steps: int = 20  # consecutive NaN/Inf steps before training stops
    early_stopping: int | None = None  # epochs without validation improvement before stopping
    max_time: float | None = None  # seconds of training before stopping after the current epoch
    log_every: int = 50  # steps between progress-bar/metric updates (each one syncs)
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    fused_optimizer: bool = True  # the fused CPU/GPU Adam kernel; same maths, fewer passes
    compile: bool = False  # torch.compile the loss (model + objective): ~10% faster MLP steps on CPU, ~1 min to compile
    precision: Literal["float32", "bf16"] = "float32"  # bf16: autocast convs/matmuls (conv models ~30% faster; results differ)
    progress: bool = True
    tensorboard: bool = True  # when the tensorboard package is installed
    device: str = "cpu"
    # which validation number picks the best epoch: "auto" is ndcg@100 for ratings runs, elbo otherwise;
    # ratings runs also take "ndcg@K" or "recall@K"
    best_by: str = "auto"


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # weights, shuffling, sampling

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> RunConfig:
        return _build(cls, raw, where)

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    return obj


# ---------------------------------------------------------------- strict building and checking


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(u) for u in unknown)}; valid keys are: {', '.join(sorted(names))}"
        )
    values = {}
    for name, value in raw.items():
        key = f"{where}.{name}" if where != "config" else name
        values[name] = _coerce(hints[name], value, key)
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it in canonical form (tuples, floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} does not fit {_describe(tp)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(repr(a) for a in args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list ({_describe(tp)}), got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {tp!r}")  # pragma: no cover - a bug in vaekit


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "list of " + _describe(typing.get_args(tp)[0])
    return getattr(tp, "__name__", str(tp))


# ---------------------------------------------------------------- files and overrides


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON file into a plain dict (not yet checked)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            loaded = yaml.safe_load(text)
            return loaded if loaded is not None else {}
        if suffix == ".json":
            return json.loads(text)
    except ConfigError:
        raise
    except Exception as e:  # the parsers' own exception types differ; all mean "bad syntax"
        raise ConfigError(f"config file {path} could not be parsed: {e}") from e
    raise ConfigError(f"config file {path}: use a .toml, .yaml/.yml or .json file")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.beta=4`` -> (["train", "beta"], 4). Values are read as TOML values when they parse
    (numbers, booleans, lists, quoted strings), else kept as bare strings."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected SECTION.KEY=VALUE, for example train.beta=4")
    key, _, value_text = text.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {text!r}: the key is empty")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    value_text = value_text.strip()
    if value_text.lower() in ("none", "null"):
        return path, None
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except Exception:
        value = value_text
    return path, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = json.loads(json.dumps(raw))  # deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is a value, not a section")
        node[path[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    raw = read_config_file(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    where = str(path) if path is not None else "config"
    try:
        return RunConfig.from_dict(raw)
    except ConfigError as e:
        if path is not None:
            raise ConfigError(f"{where}: {e}") from None
        raise
