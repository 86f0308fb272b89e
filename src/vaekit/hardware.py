"""What machine a run trained on: CPU model and the instruction sets that change its speed.

The same recipe's epoch takes twice as long on an AVX2-only CPU as on one with AVX-512 and AMX, so
a time-budgeted result means little without the CPU beside it. ``cpu_info()`` goes into every run
directory's config.json (``machine``) and into benchmark tables.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any


def _cpuinfo() -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo; ("", set()) where there is none (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", set()
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86, ARM
            flags = set(value.split())
        if model and flags:
            break
    return model, flags


@functools.cache
def cpu_info() -> dict[str, Any]:
    """{"cpu": model name, "cores": usable cores, "avx512": ..., "amx": ..., "bf16": ..., "torch_capability": ...}.

    ``bf16`` means the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16), which is what makes
    ``train.precision = "bf16"`` pay off."""
    model, flags = _cpuinfo()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # an older torch without the query
        capability = ""
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": cores,
        "avx512": "avx512f" in flags,
        "amx": any(f.startswith("amx") for f in flags),
        "bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
        "torch_capability": capability,
    }


def describe(info: dict[str, Any] | None = None) -> str:
    """One line for a table: 'AMD EPYC (2 cores; AVX2, no AVX-512, no AMX, no bf16)'."""
    i = info if info is not None else cpu_info()
    if not i:
        return "unknown CPU"
    flags = ", ".join(
        f"{'' if i.get(k) else 'no '}{name}" for k, name in (("avx512", "AVX-512"), ("amx", "AMX"), ("bf16", "bf16"))
    )
    cap = i.get("torch_capability")
    return f"{i.get('cpu', '?')} ({i.get('cores', '?')} cores; {cap + ', ' if cap else ''}{flags})"
