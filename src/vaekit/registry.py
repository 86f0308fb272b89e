"""One registry of named parts per kind: likelihood, prior, posterior, objective, metric, post-training fit.

A part declares itself once, in its own file, with its options dataclass::

    @dataclass(frozen=True)
    class PoissonOptions:
        pass

    @LIKELIHOODS.register("poisson", PoissonOptions)
    class PoissonLikelihood(Likelihood): ...

Everything else is derived from the registry: the config's valid choices and per-part option tables
(``[model.prior]`` with ``kind = "vamp"`` and the part's own keys), the command line's choices, the
model builder, the objective factory, evaluate's metric dispatch and the post-training hooks. A
registry finds its parts by importing every module of its package the first time it is asked, so a
new file in that package is the whole change. This module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vaekit.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class NoOptions:
    """The options of a part that has none."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered part: its name, what builds it, the dataclass of its options, one line of help."""

    name: str
    factory: T
    options: type
    summary: str


class Registry(Generic[T]):
    """name -> :class:`Entry` for one part kind, filled by the modules of ``packages`` on first use."""

    def __init__(self, kind: str, setting: str, packages: tuple[str, ...]):
        self.kind = kind  # "likelihood"
        self.setting = setting  # the config key that picks one: "model.likelihood"
        self.packages = packages  # where the parts live: every module there is imported once
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    def register(self, name: str, options: type = NoOptions, *, summary: str = "") -> Callable[[F], F]:
        """Class or function decorator: make ``name`` a valid choice of this kind."""
        if not dataclasses.is_dataclass(options):
            raise TypeError(f"{self.kind} {name!r}: options must be a dataclass, got {options!r}")

        def decorate(factory: F) -> F:
            if name in self._entries and self._entries[name].factory is not factory:
                raise TypeError(f"{self.kind} {name!r} is registered twice")
            doc = (factory.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, factory, options, summary or (doc[0] if doc else ""))  # type: ignore[arg-type]
            return factory

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package in self.packages:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{package}.{info.name}")

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Entry[T]:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"{self.setting}: unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries[n] for n in self.names())


class Choices:
    """An argparse ``choices`` container that reads a registry only when a value is checked or an error
    lists them, so ``vaekit --help`` imports no part modules."""

    def __init__(self, registry: Registry[Any]):
        self.registry = registry

    def __contains__(self, value: object) -> bool:
        return value in self.registry

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry)


# ------------------------------------------------------------------ the registries

LIKELIHOODS: Registry[Any] = Registry("likelihood", "model.likelihood", ("vaekit.core.likelihoods",))
PRIORS: Registry[Any] = Registry("prior", "model.prior", ("vaekit.core.priors",))
POSTERIORS: Registry[Any] = Registry("posterior", "model.posterior", ("vaekit.core.posteriors",))
OBJECTIVES: Registry[Any] = Registry("objective", "train.objective", ("vaekit.training.objectives",))
METRICS: Registry[Any] = Registry("metric", "--metrics", ("vaekit.evaluation.metrics",))
POSTHOC: Registry[Any] = Registry("post-training fit", "post-training fits", ("vaekit.training.posthoc",))

PART_REGISTRIES: dict[str, Registry[Any]] = {
    "likelihood": LIKELIHOODS,
    "prior": PRIORS,
    "posterior": POSTERIORS,
    "objective": OBJECTIVES,
}
