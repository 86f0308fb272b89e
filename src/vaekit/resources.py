"""How much memory this process may use, for checks that refuse what cannot fit before allocating it."""

from __future__ import annotations

import os
import resource


def memory_limit() -> int:
    """Bytes this process may use: physical memory, or less under an address-space limit (ulimit -v)."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
        limit = 1 << 62
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, max(soft - _address_space_in_use(), 0))
    return limit


def _address_space_in_use() -> int:
    """This process's virtual size (Linux), which counts against RLIMIT_AS."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
