"""Generate: a grid of samples (temperature, seed, label, sampler) and decoding one latent vector."""

from __future__ import annotations

from typing import Any, Literal

import torch
from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vaekit.web.catalog import RunCatalog
from vaekit.web.errors import RequestError
from vaekit.web.routes.common import Body, catalog, labels, parse, shown

router = APIRouter()
MAX_SAMPLES = 256
MAX_LATENT = 65536


@router.get("/api/sample")
async def sample(
    request: Request,
    run: str,
    n: int = Query(64, ge=1, le=MAX_SAMPLES),
    temperature: float = Query(1.0, gt=0.0, le=10.0),
    seed: int = Query(0, ge=0, lt=2**62),
    label: int | None = None,
    sampler: Literal["prior", "gmm"] = "prior",
) -> dict[str, Any]:
    return await run_in_threadpool(_sample, catalog(request), run, n, temperature, seed, label, sampler)


def _sample(cat: RunCatalog, run: str, n: int, temperature: float, seed: int, label: int | None, sampler: str) -> dict[str, Any]:
    loaded = cat.get(run)
    condition = labels(loaded, label, n, required=False)  # no label: a conditional model cycles through its classes
    gen = torch.Generator().manual_seed(seed)
    if sampler == "gmm":
        from vaekit.applications.samplers import load_gmm_sampler, sample_with_gmm

        x = sample_with_gmm(
            loaded.model, load_gmm_sampler(loaded.path), n, generator=gen, temperature=temperature, condition=condition
        )
    else:
        x = loaded.model.sample(n, temperature=temperature, generator=gen, condition=condition)  # (n, *shape) means of p(x|z)
    return shown(loaded, x, grid=True)


class DecodeBody(Body):
    z: list[float] = Field(min_length=1, max_length=MAX_LATENT)
    label: int | None = None


@router.post("/api/decode")
async def decode(request: Request) -> dict[str, Any]:
    body = await parse(request, DecodeBody)
    return await run_in_threadpool(_decode, catalog(request), body)


def _decode(cat: RunCatalog, body: DecodeBody) -> dict[str, Any]:
    from vaekit.core.inference import decode_mean

    loaded = cat.get(body.run)
    d = loaded.model.latent_dim
    if len(body.z) != d:
        raise RequestError(f"z has {len(body.z)} values but run {loaded.name!r} has a {d}-dimensional latent")
    z = torch.tensor([body.z], dtype=torch.float32)  # (1, D)
    if not bool(torch.isfinite(z).all()):
        raise RequestError("z must hold finite numbers")
    x = decode_mean(loaded.model, z, condition=labels(loaded, body.label, 1))  # (1, *shape)
    return shown(loaded, x)
