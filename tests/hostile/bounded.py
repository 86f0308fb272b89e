"""Run CLI commands (and an estimator) under an address-space limit: ``python bounded.py CASES.json``.

Imports first, then ``RLIMIT_AS`` = what the process already maps + ``HEADROOM``, then each case in
turn; prints one JSON line per case (exit code, stderr, seconds, peak RSS growth). A case that tried
to allocate beyond the limit ends in MemoryError or a kill, which the test reports.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

HEADROOM = 1536 << 20  # bytes beyond the imported interpreter: ample for the tiny runs here


def _vm_size() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _estimator_case(argv: list[str]) -> tuple[int, str]:
    """``["estimator", "hidden"]``: VAETransformer with a 10**9-wide layer must raise ValueError and
    leave no temporary folder behind."""
    import numpy as np

    from vaekit.sklearn import VAETransformer

    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("vaekit-sklearn-*"))
    try:
        VAETransformer(hidden=(10**9,), epochs=1, threads=1).fit(np.random.default_rng(0).normal(size=(40, 3)))
    except ValueError as e:
        left = sorted(set(tmp.glob("vaekit-sklearn-*")) - before)
        return (1 if not left else 3), f"{type(e).__name__}: {e}" + (f" (left {left})" if left else "")
    return 0, "fitted"


def main() -> None:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    import torch

    import vaekit.sklearn  # noqa: F401 - imported before the limit, like everything else
    from vaekit.cli import main as cli

    torch.set_num_threads(1)
    cases = json.loads(Path(sys.argv[1]).read_text())
    limit = _vm_size() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:  # the limit holds: a plain allocation beyond it fails
        bytearray(HEADROOM + (256 << 20))
        print(json.dumps({"name": "control", "code": 0, "stderr": "allocated beyond the limit"}), flush=True)
    except MemoryError:
        print(json.dumps({"name": "control", "code": 1, "stderr": "MemoryError"}), flush=True)
    for name, argv in cases:
        err = io.StringIO()
        started = time.perf_counter()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            try:
                code = _estimator_case(argv) if argv[0] == "estimator" else (cli(argv), "")
                code, extra = code if isinstance(code, tuple) else (code, "")
            except SystemExit as e:
                code, extra = (e.code if isinstance(e.code, int) else 1), ""
            except MemoryError:
                code, extra = 99, "MemoryError"
        row = {"name": name, "code": code, "stderr": err.getvalue() + extra, "seconds": time.perf_counter() - started}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
