"""What every route needs: the served runs, the settings, capped JSON bodies, labels, and the
way a batch of examples is shown (images or table rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from vaekit.web.catalog import LoadedRun, RunCatalog
from vaekit.web.encode import columns_of, grid_url, image_url, table_rows
from vaekit.web.errors import RequestError
from vaekit.web.security import read_capped

M = TypeVar("M", bound=BaseModel)
SMALL_BODY = 64 * 1024  # decode / interpolate requests: a latent vector or two indices


@dataclass(frozen=True)
class ServeSettings:
    max_upload_bytes: int = 5 * 1024 * 1024  # one uploaded image file
    max_pixels: int = 16_000_000  # width x height of an uploaded image, checked before decoding
    max_points: int = 10_000  # examples on the Explore map


class Body(BaseModel):
    """A request body: unknown fields are errors, as in config files."""

    model_config = ConfigDict(extra="forbid")
    run: str


def catalog(request: Request) -> RunCatalog:
    return request.app.state.catalog


def settings(request: Request) -> ServeSettings:
    return request.app.state.settings


async def parse(request: Request, model: type[M], cap: int = SMALL_BODY) -> M:
    """The JSON body as ``model``, read with a byte cap; a bad body is one readable 422 line."""
    raw = await read_capped(request, cap)
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise BodyError(describe(e.errors())) from None


class BodyError(RequestError):
    status = 422


def describe(errors: Sequence[Mapping[str, Any]]) -> str:
    """The first of pydantic's errors as one line: ``steps: Input should be ...``."""
    err = errors[0] if errors else {}
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query")) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {err.get('msg', 'invalid')}{more}"


def labels(loaded: LoadedRun, label: int | None, n: int, required: bool = True) -> torch.Tensor | None:
    """The condition (n,) for a conditional model: ``label`` checked against its classes; None for
    an unconditional one (where a label is an error). Without a label: 0 (or None if not ``required``)."""
    if not loaded.conditional:
        if label is not None:
            raise RequestError(f"run {loaded.name!r} is not conditional: it takes no label")
        return None
    if label is None:
        if required:
            raise RequestError(f"run {loaded.name!r} is conditional: pick the label (0-{loaded.classes - 1})")
        return None
    if not 0 <= label < loaded.classes:
        raise RequestError(f"label {label} is not a class of run {loaded.name!r}: use 0-{loaded.classes - 1}")
    return torch.full((n,), int(label), dtype=torch.long)


def shown(loaded: LoadedRun, x: torch.Tensor, grid: bool = False) -> dict[str, Any]:
    """(N, *shape) as the page shows it: one image (or a grid), or table rows in original units."""
    if loaded.image:
        if grid:
            return {"kind": "image", "n": int(x.shape[0]), "grid": grid_url(x)}
        return {"kind": "image", "n": int(x.shape[0]), "images": [image_url(xi) for xi in x]}
    scaler = loaded.run.scaler()
    return {
        "kind": "tabular",
        "n": int(x.shape[0]),
        "columns": columns_of(scaler, int(x.shape[1])),
        "rows": table_rows(x, scaler),
    }
