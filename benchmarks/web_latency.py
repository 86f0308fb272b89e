"""`vaekit serve` latency: decode and sample requests under concurrent clients, and the time to the
Explore map of 10,000 points when its cache exists.

Trains a small MLP VAE on MNIST (one thread, about a minute; reused from --workdir on later runs),
starts ``vaekit serve`` as its own process on a loopback port and measures with httpx clients on
this machine:

- decode (one latent vector -> one image, what a slider sends) and sample (a 64-image grid, the
  Generate tab) with 1 and then 4 concurrent clients, each sending a bounded number of requests;
  p50 / p95 / max in milliseconds, beside a static file request measured the same way (what the
  HTTP stack and the machine's load cost without any model work);
- the Explore map: the first request (encodes 10,000 test images and writes the cache), then a
  fresh server process: the time from a new server's first request to the map of 10,000 points
  (model load + cache read), and, when /usr/bin/chromium exists, the time for the page itself to
  draw the map from a cold start of the page.

    python benchmarks/web_latency.py --data-dir /work/shared/data/mnist

Writes benchmarks/results/web_latency.md (then run benchmarks/assemble.py). Every request goes to
127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LABELS = {"static": "a static file (no computation: the floor)", "decode": "decode one z", "sample": "sample 64 images"}


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def train(run: Path, data_dir: str, epochs: int) -> float:
    import torch

    from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from vaekit.training.loop import fit

    torch.set_num_threads(1)
    cfg = RunConfig(
        data=DataConfig(source="mnist", data_dir=data_dir),
        model=ModelConfig(arch="mlp", latent_dim=16, hidden=(512, 256), likelihood="bernoulli"),
        train=TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, threads=1, progress=False, tensorboard=False),
        seed=0,
    )
    t = time.perf_counter()
    fit(cfg, run)
    return time.perf_counter() - t


class Server:
    """``vaekit serve ROOT`` in its own process on a free loopback port; with ``stack`` = "h11",
    the same app on uvicorn's pure-Python HTTP parser and asyncio loop instead of the fast ones."""

    def __init__(self, root: Path, threads: int, stack: str = "auto"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "vaekit.cli", "serve", str(root), "--port", str(self.port), "--threads", str(threads)]
        if stack == "h11":
            code = (
                f"import torch, uvicorn; from vaekit.web.app import create_app; torch.set_num_threads({threads}); "
                f"uvicorn.run(create_app({str(root)!r}), port={self.port}, http='h11', loop='asyncio', log_level='warning')"
            )
            argv = [sys.executable, "-c", code]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self, client, timeout: float = 60.0) -> float:
        t = time.perf_counter()
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"vaekit serve exited: {self.proc.stderr.read()}")
            try:
                if client.get(self.url + "/api/runs").status_code == 200:
                    return time.perf_counter() - t
            except Exception:  # not listening yet
                time.sleep(0.05)
        raise SystemExit("vaekit serve did not answer within a minute")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def load(url: str, run: str, kind: str, clients: int, per_client: int, latent_dim: int) -> list[float]:
    """Latencies (ms) of ``clients`` threads each sending ``per_client`` requests of one kind."""
    import httpx
    import numpy as np

    times: list[float] = []
    lock = threading.Lock()

    def one(seed: int) -> None:
        rng = np.random.default_rng(seed)
        mine = []
        with httpx.Client(timeout=30) as c:
            for i in range(per_client):
                t = time.perf_counter()
                if kind == "decode":
                    r = c.post(url + "/api/decode", json={"run": run, "z": rng.standard_normal(latent_dim).tolist()})
                elif kind == "static":  # the floor: a request that computes nothing
                    r = c.get(url + "/static/style.css")
                else:
                    r = c.get(url + "/api/sample", params={"run": run, "n": 64, "seed": seed * 1000 + i})
                mine.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return times


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def page_time(url: str, run: str) -> float | None:
    """Seconds from opening the Explore tab in Chromium to the drawn map of every point."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return None
    from playwright.sync_api import expect, sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=flags)
        page = b.new_page()
        t = time.perf_counter()
        page.goto(f"{url}/?run={run}&tab=explore")
        expect(page.locator("#map-caption")).to_contain_text("10000 test examples", timeout=60_000)
        took = time.perf_counter() - t
        b.close()
    return took


def compare_http(root: Path, run: str, args: argparse.Namespace, rounds: int = 2) -> list[str]:
    """Server CPU ms per request (4 clients) on uvicorn's fast stack (httptools + uvloop, what it
    picks when they are installed) and on the pure-Python one (h11 + asyncio), alternated."""
    import httpx

    cpu: dict[tuple[str, str], list[float]] = {}
    with httpx.Client(timeout=120) as c:
        for _ in range(rounds):
            for stack in ("auto", "h11"):
                srv = Server(root, args.threads, stack)
                try:
                    srv.wait(c)
                    for kind in ("static", "decode", "sample"):
                        load(srv.url, run, kind, 4, 5, 16)
                        cpu0 = srv.cpu_seconds()
                        n = len(load(srv.url, run, kind, 4, args.requests // 2, 16))
                        cpu.setdefault((stack, kind), []).append((srv.cpu_seconds() - cpu0) * 1000 / n)
                finally:
                    srv.stop()
    out = [
        f"HTTP stack, 4 clients, {rounds} alternated rounds: server CPU ms per request (mean)",
        "",
        "| request | httptools + uvloop | h11 + asyncio | ratio |",
        "|---|---:|---:|---:|",
    ]
    for kind in ("static", "decode", "sample"):
        fast, slow = statistics.mean(cpu[("auto", kind)]), statistics.mean(cpu[("h11", kind)])
        out.append(f"| {LABELS[kind]} | {fast:.1f} | {slow:.1f} | {slow / fast:.2f}x |")
    print("\n".join(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("VAEKIT_DATA", str(ROOT.parent / "shared" / "data" / "mnist")))
    ap.add_argument("--workdir", default="/tmp/vaekit-web-bench")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100, help="requests per client and kind (bounded)")
    ap.add_argument("--threads", type=int, default=1, help="vaekit serve --threads")
    ap.add_argument("--compare-http", action="store_true", help="also: fast HTTP stack vs pure-Python, alternated")
    args = ap.parse_args()
    import httpx

    root = Path(args.workdir)
    run = root / "mnist-mlp"
    train_s = None
    if not (run / "model.safetensors").is_file():
        train_s = train(run, args.data_dir, args.epochs)
        print(f"trained {run} in {train_s:.0f} s")
    cache = run / ".vaekit-web-cache"
    if cache.exists():
        for f in cache.iterdir():
            f.unlink()

    rows: list[str] = []
    loads: list[float] = []
    p95: dict[tuple[str, int], float] = {}
    with httpx.Client(timeout=120) as c:
        srv = Server(root, args.threads)
        try:
            srv.wait(c)
            t = time.perf_counter()
            n = len(c.get(srv.url + "/api/explore", params={"run": run.name}).json()["x"])
            cold = time.perf_counter() - t
            for clients in (1, 4):
                for kind in ("static", "decode", "sample"):
                    load(srv.url, run.name, kind, clients, 5, 16)  # warm-up
                    cpu0, load0 = srv.cpu_seconds(), os.getloadavg()[0]
                    ms = load(srv.url, run.name, kind, clients, args.requests, 16)
                    cpu_ms = (srv.cpu_seconds() - cpu0) * 1000 / len(ms)
                    loads.append((load0 + os.getloadavg()[0]) / 2)
                    p95[(kind, clients)] = pct(ms, 95)
                    rows.append(
                        f"| {LABELS[kind]} | {clients} | {len(ms)} | "
                        f"{statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {max(ms):.1f} | {cpu_ms:.1f} |"
                    )
                    print(rows[-1], flush=True)
        finally:
            srv.stop()
        srv = Server(root, args.threads)  # a new process: nothing in memory, the cache on disk
        try:
            srv.wait(c)
            t = time.perf_counter()
            assert len(c.get(srv.url + "/api/explore", params={"run": run.name}).json()["x"]) == n
            warm = time.perf_counter() - t
        finally:
            srv.stop()
        srv = Server(root, args.threads)
        try:
            srv.wait(c)
            page = page_time(srv.url, run.name)
        finally:
            srv.stop()

    if args.compare_http:
        lines_http = compare_http(root, run.name, args)
    lines = [
        f"CPU: {cpu_name()}, 2 cores (the load average while measuring is given below the table); "
        f"`vaekit serve --threads {args.threads}` (one uvicorn process), commit {commit()}. "
        f"Model: MLP VAE on MNIST, latent 16, hidden (512, 256), {args.epochs} epochs at 1 thread"
        + (f" ({train_s:.0f} s)." if train_s else "."),
        "",
        "| request | concurrent clients | requests | p50 ms | p95 ms | max ms | server CPU ms per request |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Load average while measuring: {min(loads):.1f}-{max(loads):.1f} on 2 cores (the latencies include the wait "
        "for a core; the CPU time per request does not, and bounds what two idle cores would serve).",
        "",
        "| Explore map of the test split | points | seconds |",
        "|---|---:|---:|",
        f"| first request (encode, project, write the cache) | {n} | {cold:.2f} |",
        f"| new server process, cache on disk: first request to the map | {n} | {warm:.2f} |",
    ]
    if page is not None:
        lines.append(f"| new server process, cache on disk: page opened to map drawn (Chromium) | {n} | {page:.2f} |")
    verdict = lambda ok: "met" if ok else "missed at this load"  # noqa: E731
    lines += [
        "",
        f"Targets: decode p95 under 100 ms with 4 clients: {p95[('decode', 4)]:.0f} ms, "
        f"{verdict(p95[('decode', 4)] < 100)}; sample p95 under 100 ms: {p95[('sample', 4)]:.0f} ms, "
        f"{verdict(p95[('sample', 4)] < 100)}; the map of {n:,} points within 1 s of opening a run whose cache "
        f"exists: {warm:.2f} s from a new server's first request, {verdict(warm < 1)}.",
    ]
    if args.compare_http:
        lines += ["", *lines_http]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
