"""Check an input: an uploaded image or a pasted table row -> reconstruction, anomaly score and
flag, per-pixel map; and inpainting of the entries a painted mask (or an empty cell) marks missing.

The score is the run's detector's (``vaekit detect fit``: its settings and threshold); without a
detector it is the default score (the negative ELBO) and no flag.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from fastapi import APIRouter, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vaekit.errors import VaekitError
from vaekit.web.catalog import LoadedRun, RunCatalog
from vaekit.web.encode import columns_of, decode_data_url, heat_url, image_tensor, row_tensor
from vaekit.web.errors import RequestError
from vaekit.web.routes.common import Body, ServeSettings, catalog, labels, parse, settings, shown

router = APIRouter()
MAX_ROW = 100_000  # values in a pasted table row
MAX_STEPS = 2000
MAX_MASK = 500_000  # mask entries: pixels of the model's input (a 700x700 image)


class InputBody(Body):
    image: str | None = None  # a data URL (or bare base64) of a PNG or JPEG file
    row: str | list[float | None] | None = Field(None, max_length=MAX_ROW)  # original units; empty = missing
    label: int | None = None  # conditional models: the input's class
    invert: bool = False  # images: light-on-dark <-> dark-on-light


class InpaintBody(InputBody):
    mask: list[int] | None = Field(None, max_length=MAX_MASK)  # (H*W,) or (D,): 1 observed, 0 missing
    method: Literal["hmc", "mwg", "pseudo-gibbs"] = "mwg"
    steps: int = Field(200, ge=1, le=MAX_STEPS)
    seed: int = Field(0, ge=0, lt=2**62)


def _body_cap(s: ServeSettings) -> int:
    return 4 * s.max_upload_bytes // 3 + 2 * MAX_MASK + 64 * 1024  # base64 image, a 0/1 mask as JSON, the rest


@router.post("/api/check")
async def check(request: Request) -> dict[str, Any]:
    s = settings(request)
    body = await parse(request, InputBody, _body_cap(s))
    return await run_in_threadpool(_check, catalog(request), body, s)


@router.post("/api/inpaint")
async def inpaint(request: Request) -> dict[str, Any]:
    s = settings(request)
    body = await parse(request, InpaintBody, _body_cap(s))
    return await run_in_threadpool(_inpaint, catalog(request), body, s)


def read_input(loaded: LoadedRun, body: InputBody, s: ServeSettings) -> torch.Tensor:
    """The request's input as (1, *shape) in model units (NaN = a missing table cell)."""
    shape = tuple(loaded.run.info.data_shape)
    if loaded.image:
        if body.image is None:
            raise RequestError(f"run {loaded.name!r} models images: upload a PNG or JPEG image")
        raw = decode_data_url(body.image, s.max_upload_bytes)
        return image_tensor(raw, shape, s.max_pixels, invert=body.invert)
    if body.row is None:
        raise RequestError(f"run {loaded.name!r} models tables: paste a row of {shape[0]} values")
    scaler = loaded.run.scaler()
    return row_tensor(body.row, columns_of(scaler, shape[0]), scaler)


def _check(cat: RunCatalog, body: InputBody, s: ServeSettings) -> dict[str, Any]:
    from vaekit.applications.anomaly import ScoreSettings, anomaly_maps, anomaly_scores
    from vaekit.applications.restoration import denoise

    loaded = cat.get(body.run)
    x = read_input(loaded, body, s)
    if bool(x.isnan().any()):
        raise RequestError("the row has empty cells: fill them with Inpaint first, or give every value")
    cond = labels(loaded, body.label, 1)
    try:
        det, note = loaded.detector(), ""
    except VaekitError as e:  # a stale detector: score with the defaults and say why there is no flag
        det, note = None, str(e)
    settings_ = det.settings if det is not None else ScoreSettings()
    if det is None and not note:
        note = f"no anomaly detector fitted: run 'vaekit detect fit {loaded.path}' for a threshold and a flag"
    score = anomaly_scores(loaded.model, x, settings_, condition=cond)  # (1,)
    recon = denoise(loaded.model, x, condition=cond)  # mean of p(x|z) at the posterior mean
    maps = anomaly_maps(loaded.model, x, settings_.samples, settings_.seed, condition=cond)  # (1, H, W) or (1, D)
    out: dict[str, Any] = {
        "score": float(score[0]),
        "score_kind": settings_.describe(),
        "threshold": None if det is None else det.threshold,
        "flag": None if det is None else bool(det.flag(score)[0]),
        "note": note,
        "input": shown(loaded, x),
        "reconstruction": shown(loaded, recon),
    }
    if det is not None and det.stats:
        out["fit_stats"] = {k: det.stats[k] for k in ("median", "q99") if k in det.stats}
    if loaded.image:
        out["map"] = heat_url(maps[0].numpy())
        out["map_max"] = float(maps[0].max())
    else:
        out["map"] = np.round(maps[0].double().numpy(), 4).tolist()  # per column, nats
    return out


def _inpaint(cat: RunCatalog, body: InpaintBody, s: ServeSettings) -> dict[str, Any]:
    from vaekit.applications.masks import fit_mask
    from vaekit.applications.restoration import impute
    from vaekit.core.draws import make_generator

    loaded = cat.get(body.run)
    x = read_input(loaded, body, s)
    shape = tuple(loaded.run.info.data_shape)
    mask = ~x.isnan()  # (1, *shape): empty table cells are missing
    if body.mask is not None:
        cells = shape[1:] if loaded.image else shape  # one value per pixel (all channels) or per column
        if len(body.mask) != int(np.prod(cells)) or any(v not in (0, 1) for v in body.mask):
            raise RequestError(f"the mask must hold {int(np.prod(cells))} values of 0 (missing) or 1 (observed)")
        mask &= fit_mask(torch.tensor(body.mask, dtype=torch.bool).reshape(cells), 1, shape)
    if bool(mask.all()):
        what = "paint over the part of the image to fill" if loaded.image else "leave the cells to fill empty"
        raise RequestError(f"nothing is missing: {what}")
    res = impute(
        loaded.model, x, mask, method=body.method, steps=body.steps,
        generator=make_generator(body.seed), condition=labels(loaded, body.label, 1),
    )  # fmt: skip
    masked = torch.where(mask, x, torch.full_like(x, 0.5 if loaded.image else float("nan")))
    out = {"input": shown(loaded, masked), "restored": shown(loaded, res.x), "missing": int((~mask).sum())}
    if res.acceptance is not None:
        out["acceptance"] = float(res.acceptance.mean())
    return out
