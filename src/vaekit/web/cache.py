"""The Explore map of a run, computed once and cached in ``<run>/.vaekit-web-cache/``.

The map holds the test split's posterior means z (N, D), their 2-D projection (the latent itself
for D <= 2, else PCA: :func:`vaekit.applications.embedding.embed`), the labels, the examples
themselves (8-bit images for hover thumbnails, model-unit rows for tables) and each latent
dimension's score (KL or activity: :func:`vaekit.applications.interpolation.dimension_scores`)
that picks the sliders. It is keyed by the weights' sha256 and the data settings, so a retrained
model or other data recomputes it; a damaged or unwritable cache is recomputed or kept in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaekit.checkpoint import atomic_write_bytes
from vaekit.web.catalog import CACHE_DIR, LoadedRun

FORMAT = 1
log = logging.getLogger("vaekit.web")


@dataclass(frozen=True)
class ExploreMap:
    z: np.ndarray  # (N, D) float32 posterior means
    points: np.ndarray  # (N, 2) float32
    labels: np.ndarray | None  # (N,) int64
    method: str  # "direct" or "pca"
    axis_names: tuple[str, str]
    examples: np.ndarray  # (N, C, H, W) uint8 images, or (N, D) float32 rows in model units
    dim_scores: np.ndarray  # (D,) float32
    score_kind: str  # "KL" or "activity"
    split: str
    key: str


def cache_path(loaded: LoadedRun) -> Path:
    return loaded.path / CACHE_DIR / "explore.npz"


def cache_key(loaded: LoadedRun, limit: int) -> str:
    from vaekit.applications.detector import weights_sha256

    data = loaded.run.config.data
    settings = {"format": FORMAT, "weights": weights_sha256(loaded.run), "data": dataclasses.asdict(data), "limit": limit}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def explore_map(loaded: LoadedRun, limit: int) -> ExploreMap:
    """The run's map: from memory, else from the cache file, else computed (and cached)."""
    with loaded.explore_lock:  # one computation per run; other requests wait for it
        # a LoadedRun lives as long as its weights file is unchanged, so its memo needs no hashing
        if loaded.explore is not None and loaded.explore[0] == limit:
            return loaded.explore[1]
        key = cache_key(loaded, limit)
        found = _read(cache_path(loaded), key)
        if found is None:
            found = compute_map(loaded, limit, key)
            _write(cache_path(loaded), found)
        loaded.explore = (limit, found)
        return found


def compute_map(loaded: LoadedRun, limit: int, key: str = "") -> ExploreMap:
    from vaekit.applications.embedding import embed
    from vaekit.applications.interpolation import dimension_scores
    from vaekit.runs import condition_for

    model, data = loaded.model, loaded.data()
    name = "test" if len(data.test) else "validation"
    part = data.split(name)
    x = part.x[:limit]  # (N, *shape)
    y = None if part.y is None else part.y[:limit]
    cond = condition_for(model, y, f"the {name} split of {data.name!r}")
    emb = embed(model, x, y, method="auto", condition=cond, class_names=data.class_names)
    val = data.validation if len(data.validation) else data.train
    vx = val.x[:2000]  # enough to rank dimensions
    vy = None if val.y is None else val.y[:2000]
    scores, kind = dimension_scores(model, vx, condition=condition_for(model, vy, f"the validation split of {data.name!r}"))
    if loaded.image:
        examples = torch.round(x.clamp(0, 1) * 255).to(torch.uint8).numpy()  # (N, C, H, W) thumbnails
    else:
        examples = x.float().numpy()  # (N, D)
    return ExploreMap(
        z=emb.z.astype(np.float32),
        points=emb.projection.points.astype(np.float32),
        labels=emb.labels,
        method=emb.projection.method,
        axis_names=(str(emb.projection.axis_names[0]), str(emb.projection.axis_names[1])),
        examples=examples,
        dim_scores=scores.float().numpy(),
        score_kind=kind,
        split=name,
        key=key,
    )


def _write(path: Path, m: ExploreMap) -> None:
    arrays = {
        "z": m.z,
        "points": m.points,
        "method": np.array(m.method),
        "axis_names": np.array(m.axis_names),
        "examples": m.examples,
        "dim_scores": m.dim_scores,
        "score_kind": np.array(m.score_kind),
        "split": np.array(m.split),
        "key": np.array(m.key),
    }
    if m.labels is not None:
        arrays["labels"] = m.labels
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)  # uncompressed: loading 10,000 thumbnails must take milliseconds
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:  # a read-only run directory: the map lives in memory only
        log.warning("could not write the explore cache %s (%s); keeping it in memory", path, e)


def _read(path: Path, key: str) -> ExploreMap | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                return None
            return ExploreMap(
                z=f["z"],
                points=f["points"],
                labels=f["labels"] if "labels" in f.files else None,
                method=str(f["method"]),
                axis_names=(str(f["axis_names"][0]), str(f["axis_names"][1])),
                examples=f["examples"],
                dim_scores=f["dim_scores"],
                score_kind=str(f["score_kind"]),
                split=str(f["split"]),
                key=key,
            )
    except (OSError, ValueError, KeyError) as e:  # damaged or from another version: recompute
        log.warning("ignoring the explore cache %s (%s)", path, e)
        return None
