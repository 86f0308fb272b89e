"""The served root: which run directories it holds, names resolved safely, models loaded once.

A run is named by its path relative to the root (``m1``, ``sweep/t3``); a root that is itself a
run directory serves that one run under its folder name. A name resolves only to a run directory
inside the root: no ``..``, no absolute path, no symlink that leads out of it. Loaded models are
kept (a few, least recently used dropped first) and reloaded when their weights file changes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.checkpoint import CONFIG, MODEL, RunDir
from vaekit.errors import RunDirError
from vaekit.web.errors import RunNotFound

if TYPE_CHECKING:
    import torch

    from vaekit.applications.detector import Detector
    from vaekit.data import DataSplits
    from vaekit.web.cache import ExploreMap

CACHE_DIR = ".vaekit-web-cache"  # the only place the server writes inside a run directory
MAX_DEPTH = 4  # folders below the root searched for runs
MAX_NAME = 500


class LoadedRun:
    """One run directory with its model in eval mode, and its data and detector when asked for."""

    def __init__(self, name: str, run: RunDir, stamp: tuple[int, int]):
        self.name = name
        self.run = run
        self.stamp = stamp  # (mtime_ns, size) of model.safetensors when loaded
        self.model = run.load_model()
        self._data_lock = threading.Lock()  # loading data takes seconds: the detector must not wait for it
        self._detector_lock = threading.Lock()
        self._data: DataSplits | None = None
        self._detector: tuple[float, Detector | None] | None = None
        self.explore_lock = threading.Lock()
        self.explore: tuple[int, ExploreMap] | None = None  # (point limit, map), set by vaekit.web.cache

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def image(self) -> bool:
        return self.run.info.data_kind == "image"

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.model, "conditional", False))

    @property
    def classes(self) -> int:
        """Labels a conditional model takes (0 for an unconditional one)."""
        return self.model.classes

    @property
    def data_loaded(self) -> bool:
        return self._data is not None

    def data(self) -> DataSplits:
        """The run's own data with its preprocessing, loaded on first use (seconds for MNIST)."""
        from vaekit.data import DataSplits
        from vaekit.runs import load_run_data

        with self._data_lock:
            if self._data is None:
                data = load_run_data(self.run)
                if not isinstance(data, DataSplits):
                    raise RunDirError(f"{self.run.path} is a ratings run: the page shows image and table runs")
                self._data = data
            return self._data

    def detector(self) -> Detector | None:
        """The fitted detector (``vaekit detect fit``), or None; re-read when detector.json changes."""
        from vaekit.applications.detector import DETECTOR, load_detector

        p = self.path / DETECTOR
        mtime = p.stat().st_mtime_ns if p.is_file() else -1
        with self._detector_lock:
            if self._detector is None or self._detector[0] != mtime:
                self._detector = (mtime, load_detector(self.run) if mtime >= 0 else None)
            return self._detector[1]

    def prior_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior mean and standard deviation per latent dimension (D,), the sliders' units."""
        import torch

        d = self.model.latent_dim
        try:
            pz = self.model.prior()
            loc, scale = pz.mean.detach().cpu().reshape(d), pz.stddev.detach().cpu().reshape(d)
        except (NotImplementedError, RuntimeError, AttributeError):  # a prior without closed-form moments
            loc, scale = torch.zeros(d), torch.ones(d)
        return loc.float(), scale.float()


class RunCatalog:
    """The run directories under ``root`` and the models loaded from them (at most ``max_models``)."""

    def __init__(self, root: str | Path, max_models: int = 4):
        root = Path(root).expanduser()
        if not root.is_dir():
            raise RunDirError(f"{root} is not a directory; pass a run directory or a folder of them")
        self.root = root.resolve()
        self.single = (self.root / CONFIG).is_file()
        self.max_models = max_models
        self._models: OrderedDict[str, LoadedRun] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def names(self) -> list[str]:
        """Every run directory under the root, by relative path (sorted); symlinks are not followed."""
        if self.single:
            return [self.root.name]
        found: list[str] = []
        for here, dirs, _ in os.walk(self.root, followlinks=False):
            rel = Path(here).relative_to(self.root)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not Path(here, d).is_symlink())
            if rel.parts and (Path(here) / CONFIG).is_file():
                found.append(rel.as_posix())
                dirs[:] = []  # a run's own subfolders (tensorboard/) hold no runs
            elif len(rel.parts) >= MAX_DEPTH:
                dirs[:] = []
        return sorted(found)

    def path_of(self, name: str) -> Path:
        """The run directory called ``name``, checked to lie inside the root; else RunNotFound."""
        if self.single:
            if name != self.root.name:
                raise RunNotFound(f"no run named {name!r}: this server serves the single run {self.root.name!r}")
            return self.root
        parts = name.split("/")
        bad = (
            not name
            or len(name) > MAX_NAME
            or "\\" in name
            or "\x00" in name
            or name.startswith("/")
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        )
        if bad:
            raise RunNotFound(f"{name[:80]!r} is not a run name: use a name from the runs table (a path below the root)")
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise RunNotFound(f"run {name!r} lies outside the served folder")
        if not (path / CONFIG).is_file():
            raise RunNotFound(f"no run named {name!r} under the served folder")
        return path

    def run_dir(self, name: str) -> RunDir:
        return RunDir(self.path_of(name))

    def get(self, name: str) -> LoadedRun:
        """The loaded run ``name``; loaded (or reloaded, if its weights changed) on demand."""
        path = self.path_of(name)
        stamp = _stamp(path / MODEL)
        with self._lock:
            hit = self._models.get(name)
            if hit is not None and hit.stamp == stamp:
                self._models.move_to_end(name)
                return hit
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one load per run at a time; other runs load in parallel
            with self._lock:
                hit = self._models.get(name)
                if hit is not None and hit.stamp == stamp:
                    return hit
            loaded = LoadedRun(name, RunDir(path), stamp)
            with self._lock:
                self._models[name] = loaded
                self._models.move_to_end(name)
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            return loaded


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing: the run has no best weights yet (is it still training?)") from None
    return st.st_mtime_ns, st.st_size
