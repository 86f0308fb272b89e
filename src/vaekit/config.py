"""Run configuration: frozen dataclasses loaded strictly from TOML/YAML/JSON plus ``--set`` overrides.

An unknown key or a value of the wrong type is a :class:`ConfigError` naming the key, never a
silent default. ``RunConfig.to_dict()`` is what ``config.json`` in a run directory holds, and
``RunConfig.from_dict`` rebuilds it exactly.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union

from vaekit.errors import ConfigError
from vaekit.registry import PART_REGISTRIES, Registry

Arch = Literal["mlp", "conv", "resnet"]


@dataclass(frozen=True)
class Part:
    """One chosen part: ``kind`` names an entry of the part kind's registry, ``options`` is an instance of
    that entry's options dataclass. In a config file it is a name (``prior = "vamp"``) or a table
    (``[model.prior]`` with ``kind = "vamp"`` and the part's own keys)."""

    kind: str
    options: Any = None  # the entry's options dataclass; None is filled with its defaults

    registry: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", PART_REGISTRIES[self.registry].get(self.kind).options())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **_to_jsonable(dataclasses.asdict(self.options))}


@dataclass(frozen=True)
class LikelihoodPart(Part):
    registry: ClassVar[str] = "likelihood"


@dataclass(frozen=True)
class PriorPart(Part):
    registry: ClassVar[str] = "prior"


@dataclass(frozen=True)
class PosteriorPart(Part):
    registry: ClassVar[str] = "posterior"


@dataclass(frozen=True)
class ObjectivePart(Part):
    registry: ClassVar[str] = "objective"


_P = TypeVar("_P", bound=Part)
_T = TypeVar("_T")


def _part(cls: type[_P], kind: str) -> _P:
    return field(default_factory=lambda: cls(kind))


def _made_default(f: dataclasses.Field[_T]) -> _T:
    """A fresh default of a field declared with ``field(default_factory=...)``."""
    if f.default_factory is dataclasses.MISSING:
        raise TypeError(f"field {f.name!r} has no default_factory")  # a config class declared without one: a bug here
    return f.default_factory()


class _PartFields:
    """Lets Python code pass a part as a name or a dict: ``ModelConfig(prior="vamp")``,
    ``ModelConfig(prior={"kind": "vamp", "components": 20})``; checked like a config file."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            tp, value = hints[f.name], getattr(self, f.name)
            if isinstance(tp, type) and issubclass(tp, Part) and not isinstance(value, Part):
                if isinstance(value, dict) and "kind" not in value:
                    value = {"kind": _default_kind(type(self), f.name), **value}
                object.__setattr__(self, f.name, _coerce_part(tp, value, f"{type(self).__name__}.{f.name}"))


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
    # csv: None reads every column as numeric and standardises it; a table (even empty) detects each
    # column's kind from the training split, overriding the named ones: { age = "numeric", visits = "count" }.
    # model.likelihood = "mixed" turns detection on (saved as {}); only numeric columns are standardised.
    column_types: dict[str, Literal["numeric", "count", "binary", "categorical"]] | None = None
    # tables: inpaint/denoise keep each column within its training range, rounded where it holds whole numbers
    clip_restored: bool = True
    # ratings:PATH only (implicit feedback, strong generalisation: validation and test users are held out)
    min_rating: float = 4.0  # ratings at or above this become clicks (files without a rating column: all)
    min_user_items: int = 5  # users with fewer clicks are dropped
    heldout_users: int | None = None  # validation users and as many test users; None: by the fractions above
    heldout_fraction: float = 0.2  # of each held-out user's clicks, hidden and scored (the rest are folded in)


@dataclass(frozen=True)
class ModelConfig(_PartFields):
    """The parts that make up the VAE. The saved config rebuilds the model exactly."""

    # flat keys of configs written before parts had option tables: key -> (part field, option)
    LEGACY: ClassVar[dict[str, tuple[str, str]]] = {
        "scale": ("likelihood", "scale"),
        "dlogistic_bins": ("likelihood", "bins"),
        "flow_steps": ("posterior", "steps"),
        "flow_hidden": ("posterior", "hidden"),
        "vq_codes": ("posterior", "codes"),
        "vq_dim": ("posterior", "code_dim"),
        "vq_decay": ("posterior", "decay"),
        "vq_commitment": ("posterior", "commitment"),
        "prior_components": ("prior", "components"),
    }

    arch: Arch = "mlp"
    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)  # MLP widths, encoder order; the decoder mirrors them
    channels: tuple[int, ...] = (32, 64, 128)  # conv widths; each layer halves H and W
    activation: Literal["relu", "elu", "gelu", "tanh", "silu", "leaky_relu"] = "relu"
    dropout: float = 0.0
    likelihood: LikelihoodPart = _part(LikelihoodPart, "bernoulli")  # p(x|z): core/likelihoods/
    res_blocks: int = 1  # resnet: residual blocks at each resolution (model.channels gives the widths)
    posterior: PosteriorPart = _part(PosteriorPart, "diagonal")  # q(z|x): core/posteriors/
    prior: PriorPart = _part(PriorPart, "normal")  # p(z): core/priors/
    latent_dims: tuple[int, ...] = ()  # stochastic layers [z1, z2, ...] (bottom first); overrides latent_dim
    latent_hidden: tuple[int, ...] = (100, 100)  # widths of the MLPs between stochastic layers
    conditional: bool = False  # feed the labels (one-hot) to encoder and decoder (conditional VAE)
    condition_dim: int | None = None  # classes (or covariate width); None: the data's class count
    normalize_input: bool = False  # scale each input row to unit L2 norm before the encoder (Mult-VAE)
    input_dropout: float = 0.0  # dropout on the encoder's input while training (Mult-VAE: 0.5)


@dataclass(frozen=True)
class TrainConfig(_PartFields):
    """How the model is fitted. Every schedule is a pure function of the step (see schedules.py)."""

    LEGACY: ClassVar[dict[str, tuple[str, str]]] = {
        "k": ("objective", "k"),
        "iwae_estimator": ("objective", "estimator"),
        "gan_weight": ("objective", "gan_weight"),
        "disc_channels": ("objective", "disc_channels"),
        "disc_lr": ("objective", "disc_lr"),
        "capacity_max": ("objective", "capacity_max"),
        "capacity_steps": ("objective", "capacity_steps"),
    }

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1024
    objective: ObjectivePart = _part(ObjectivePart, "elbo")  # training/objectives/: elbo, iwae, btcvae, vaegan
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
    grad_clip: float | None = None  # max global gradient norm
    max_bad_steps: int = 20  # consecutive NaN/Inf steps before training stops
    early_stopping: int | None = None  # epochs without validation improvement before stopping
    max_time: float | None = None  # seconds of training before stopping after the current epoch
    init_from: str | None = None  # a run directory: start from its best weights (same model), e.g. to fine-tune with iwae
    schedule_by: Literal["steps", "time"] = (
        "steps"  # time: cosine lr, KL warm-up, capacity end with max_time (or epochs, if sooner)
    )
    log_every: int = 50  # steps between progress-bar/metric updates (each one syncs)
    threads: int | Literal["auto"] | None = (
        "auto"  # torch intra-op threads; auto: the fastest now (timed at start); None: torch's default
    )
    fused_optimizer: bool = True  # the fused CPU/GPU Adam kernel; same maths, fewer passes
    compile: bool = False  # torch.compile the loss (model + objective); compiling takes a while (BENCHMARKS.md has the trade-off)
    precision: Literal["float32", "bf16"] = (
        "float32"  # bf16: autocast convs/matmuls; faster only where the CPU has bf16 units (BENCHMARKS.md); results differ
    )
    progress: bool = True
    tensorboard: bool = True  # when the tensorboard package is installed
    device: str = "cpu"
    # which validation number picks the best epoch: "auto" is ndcg@100 for ratings runs, the k-sample
    # bound ("iwae") for runs trained on it, elbo otherwise; ratings runs also take "ndcg@K" or "recall@K"
    best_by: str = "auto"


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # weights, shuffling, sampling

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config", *, saved: bool = False) -> RunConfig:
        """``saved=True`` for a run directory's config.json: a flat key of the older layout that its
        part does not take (every old config.json lists them all) is dropped instead of refused."""
        from vaekit.config_checks import check_values

        token = _LENIENT_LEGACY.set(saved)
        try:
            cfg = _build(cls, raw, where)
        finally:
            _LENIENT_LEGACY.reset(token)
        check_values(cfg)  # value ranges (lr > 0, widths >= 1, ...): see config_checks.py
        return cfg

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, Part):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
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
    raw = _move_legacy_keys(cls, raw)
    unknown = sorted(set(raw) - names, key=str)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(u) for u in unknown)}; valid keys are: {', '.join(sorted(names))}"
        )
    values = {}
    for name, value in raw.items():
        key = f"{where}.{name}" if where != "config" else name
        if isinstance(value, dict) and "kind" not in value and isinstance(hints[name], type) and issubclass(hints[name], Part):
            value = {"kind": _default_kind(cls, name), **value}  # a [model.prior] table that keeps the default kind
        values[name] = _coerce(hints[name], value, key)
    return cls(**values)


def _default_kind(cls: type, name: str) -> str:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return _made_default(f).kind


_LENIENT_LEGACY: contextvars.ContextVar[bool] = contextvars.ContextVar("lenient_legacy", default=False)


def _move_legacy_keys(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Fold the flat keys of older configs (``model.prior_components``) into their part's table. A key
    whose part does not take it is an error in a config a user writes, and dropped from a saved
    config.json (where the older layout wrote every key), so every old run directory loads."""
    legacy: dict[str, tuple[str, str]] = getattr(cls, "LEGACY", {})
    if not any(k in raw for k in legacy):
        return raw
    out = {k: v for k, v in raw.items() if k not in legacy}
    defaults = {f.name: _made_default(f) for f in dataclasses.fields(cls) if f.name in {p for p, _ in legacy.values()}}
    for key, (part_field, option) in legacy.items():
        if key not in raw:
            continue
        spec = out.get(part_field, defaults[part_field].kind)
        spec = dict(spec) if isinstance(spec, dict) else {"kind": spec}
        if not isinstance(spec.get("kind", defaults[part_field].kind), str):
            continue  # a bad kind: reported when the part itself is checked
        registry = PART_REGISTRIES[type(defaults[part_field]).registry]
        kind = spec.get("kind", defaults[part_field].kind)
        if kind in registry and option in {f.name for f in dataclasses.fields(registry.get(kind).options)}:
            spec.setdefault(option, raw[key])
        elif kind in registry and not _LENIENT_LEGACY.get():
            takers = [e.name for e in registry.entries() if option in {f.name for f in dataclasses.fields(e.options)}]
            section = "model" if cls.__name__ == "ModelConfig" else "train"
            raise ConfigError(
                f"{section}.{key} does not apply to {section}.{part_field} {kind!r} (it is an option of {', '.join(takers)}); "
                f'write {section}.{part_field} = {{ kind = "{takers[0]}", {option} = {raw[key]!r} }}'
            )
        out[part_field] = spec
    return out


def _coerce_part(tp: type[Part], value: Any, key: str) -> Part:
    if isinstance(value, tp):
        return value
    registry: Registry[Any] = PART_REGISTRIES[tp.registry]
    if isinstance(value, str):
        table: dict[str, Any] = {"kind": value}
    elif isinstance(value, dict):
        table = dict(value)
    else:
        raise ConfigError(f"{key}: expected a {tp.registry} name or a table with 'kind', got {value!r}")
    kind = table.pop("kind", None)
    if not isinstance(kind, str):
        raise ConfigError(f"{key}: the table needs kind = one of {', '.join(registry.names())}")
    options = registry.get(kind).options
    if _LENIENT_LEGACY.get():  # a saved config.json: an option added later keeps the meaning the run was trained with
        table = {**getattr(options, "SAVED_DEFAULTS", {}), **table}
    return tp(kind, _build(options, table, key))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it in canonical form (tuples, floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, Part):
        return _coerce_part(tp, value, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # an annotation: a class, never an instance
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
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table of {_describe(args[1])} by name, got {value!r}")
        return {_coerce(args[0], k, key): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
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


MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; anything this big is not one


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON file into a plain dict (keys and types not yet checked). YAML
    aliases are refused: a few hundred bytes of nested aliases expand to gigabytes."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; pass a .toml, .yaml or .json file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError(f"config file {path}: use a .toml, .yaml/.yml or .json file")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES >> 20} MB; a config is a few KB of settings")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            loaded = tomllib.loads(text)
        elif suffix == ".json":
            loaded = json.loads(text)
        else:
            import yaml

            loaded = yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader without aliases
            loaded = loaded if loaded is not None else {}
    except ConfigError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    except Exception as e:  # the parsers' own exception types differ; all mean "bad syntax"
        detail = " ".join(str(e).split())  # YAML errors span lines
        raise ConfigError(f"config file {path} could not be parsed: {detail}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file {path} must hold a table of settings (data, model, train, seed), not a {type(loaded).__name__}"
        )
    for section in ("data", "model", "train"):
        if section in loaded and not isinstance(loaded[section], dict):
            raise ConfigError(f"config file {path}: {section!r} must be a table of settings, got {loaded[section]!r}")
    return loaded


def _no_alias_loader() -> type:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"YAML aliases (*name) are not allowed in a config (line {mark.line + 1}); write the values out"
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


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
    if not overrides:
        return raw
    out = json.loads(json.dumps(raw))  # deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            if isinstance(node.get(part), str) and part in PART_REGISTRIES:  # model.prior="vamp" then model.prior.components=20
                node[part] = {"kind": node[part]}
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
