"""Compression benchmark: vaekit's files against the codecs people use and published bits-back results.

All rows come from one run, on the whole 10,000-image test split of each data set:

1. lossless, statically binarised MNIST (Larochelle's binarized_mnist): vaekit bits-back (bits/dim
   from the real file size) beside the model's own -ELBO, the ideal code length of what was coded
   (discretisation included) and the overhead split; PNG (1-bit, optimize) and WebP lossless per
   image and as one 100x100 mosaic; gzip / bz2 / lzma of the packed bits;
2. lossless, 8-bit MNIST: the same with 8-bit PNG and WebP and the raw bytes;
3. lossy, Fashion-MNIST: PSNR and SSIM against bits per pixel for vaekit at several qualities,
   JPEG and WebP at a range of qualities, counted per image (every file whole) and per 10x10 mosaic
   of 100 images (100 mosaics; vaekit codes the same 100 images in one file); an R-D plot;
4. speed: images/s of compress and decompress in each mode.

    python benchmarks/compression.py --runs runs/compression --train      # train missing models, then measure
    python benchmarks/compression.py --runs runs/compression --limit 1000  # a quicker, partial run

The three models are trained by vaekit from shipped configs (CONFIGS below, 20-40 minutes each on one CPU core
on a quiet machine). Writes benchmarks/results/compression.md and compression_rd.png.
"""

from __future__ import annotations

import argparse
import bz2
import dataclasses
import gzip
import io
import lzma
import math
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = next(
    (p for p in (ROOT.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()), ROOT.parent / "shared" / "data"
)
DATA_DIRS = {
    "mnist": SHARED / "mnist",
    "binarized-mnist": SHARED / "binarized_mnist",
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
}
CONFIGS = {  # run name -> the shipped config that trains it (data_dir filled in from DATA_DIRS)
    "binary": ROOT / "configs" / "mnist_best.toml",  # dynamically binarised MNIST; coded on binarized-mnist
    "mnist8": ROOT / "configs" / "mnist8_bitsback.toml",
    "fashion": ROOT / "configs" / "fashion_mnist_lossy.toml",
}
PUBLISHED = {
    "binary": [("BB-ANS (Townsend et al. 2019)", 0.19)],
    "mnist8": [("BB-ANS (Townsend et al. 2019)", 1.41), ("Bit-Swap (Kingma et al. 2019), hierarchy of latents", 1.29)],
}
JPEG_Q = (5, 10, 20, 30, 50, 70, 90)
WEBP_Q = (5, 10, 20, 40, 60, 80, 95)
VAEKIT_Q = (1, 2, 3, 4, 5, 6, 7, 9, 11)


def train_missing(runs: Path) -> None:
    from vaekit.checkpoint import RunDir
    from vaekit.config import load_config
    from vaekit.training.loop import fit

    for name, path in CONFIGS.items():
        out = runs / name
        if (out / "model.safetensors").is_file() and RunDir(out).train_state().get("finished"):
            continue
        cfg = load_config(path, ["train.max_time=none", "train.progress=false", "train.tensorboard=false"])
        cfg = cfg.replace(data=dataclasses.replace(cfg.data, data_dir=str(DATA_DIRS[cfg.data.source])))
        print(f"training {name} ({path.name}) -> {out}", flush=True)
        fit(cfg, out, resume=(out / "config.json").exists())


def load(runs: Path, name: str, source: str, limit: int | None):
    from vaekit.checkpoint import RunDir
    from vaekit.runs import load_run_data

    run = RunDir(runs / name)
    data = load_run_data(run, source, str(DATA_DIRS[source]))
    return run, run.load_model(), data.test.x[:limit]


def timed(f, *args, **kw):
    start = time.perf_counter()
    out = f(*args, **kw)
    return out, time.perf_counter() - start


THREADS: tuple[int, ...] = (1, 2)  # set from --threads


def measure_speed(speed: list, mode: str, run, model, x: torch.Tensor, **options) -> None:
    """Images/s of compress and decompress of x at each thread count, rounds alternating."""
    from vaekit.applications.compression import compress, decompress

    before = torch.get_num_threads()
    rates: dict[int, list[tuple[float, float]]] = {t: [] for t in THREADS}
    for _ in range(2):
        for t in THREADS:
            torch.set_num_threads(t)
            data, t_c = timed(compress, model, x, **options)
            _, t_d = timed(decompress, model, data, density=options.get("density"))
            rates[t].append((len(x) / t_c, len(x) / t_d))
    torch.set_num_threads(before)
    for t, r in rates.items():
        speed.append((mode, _describe(run), t, len(x), max(c for c, _ in r), max(d for _, d in r)))


# ---------------------------------------------------------------- classic codecs


def mosaic(images: np.ndarray, cols: int) -> np.ndarray:
    """(N, H, W) -> one (rows*H, cols*W) image, row-major; N a multiple of cols."""
    n, h, w = images.shape
    return images.reshape(n // cols, cols, h, w).transpose(0, 2, 1, 3).reshape(n // cols * h, cols * w)


def tiles(image: np.ndarray, h: int, w: int) -> np.ndarray:
    rows, cols = image.shape[0] // h, image.shape[1] // w
    return image.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(-1, h, w)


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    from PIL import Image

    im = Image.fromarray(image)
    if options.pop("one_bit", False):
        im = im.convert("1")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def lossless_codecs(u8: np.ndarray, binary: bool) -> list[tuple[str, float]]:
    """(codec, bits/dim) for images u8 (N, H, W) uint8 (0/255 when binary)."""
    n, dims = len(u8), u8[0].size
    big = mosaic(u8[: n - n % 100], 100) if n >= 100 else u8[0]
    png = {"optimize": True, "one_bit": True} if binary else {"optimize": True}
    webp = {"lossless": True, "quality": 100, "method": 6}
    rows = []
    for name, fmt, opts in (("PNG" + (" 1-bit" if binary else ""), "PNG", png), ("WebP lossless", "WEBP", webp)):
        per = sum(len(encode(im, fmt, **opts)) for im in u8)
        rows.append((f"{name}, one file per image", 8 * per / (n * dims)))
        rows.append((f"{name}, one 100x100 mosaic", 8 * len(encode(big, fmt, **opts)) / big.size))
    raw = np.packbits(u8 > 0).tobytes() if binary else u8.tobytes()
    what = "packed bits" if binary else "raw bytes"
    for name, f in (("gzip -9", lambda b: gzip.compress(b, 9)), ("bz2 -9", lambda b: bz2.compress(b, 9)),
                    ("lzma -9", lambda b: lzma.compress(b, preset=9))):  # fmt: skip
        rows.append((f"{name} of the {what}", 8 * len(f(raw)) / (n * dims)))
    return rows


# ---------------------------------------------------------------- lossless


def lossless(runs: Path, name: str, source: str, limit: int | None, speed: list) -> list[str]:
    from vaekit.applications.compression import compress, decompress
    from vaekit.applications.compression.bins import Ledger
    from vaekit.applications.compression.bitsback import compress_lossless
    from vaekit.applications.compression.format import model_id
    from vaekit.applications.compression.view import coding_view
    from vaekit.evaluation.likelihood import elbo_metrics

    run, model, x = load(runs, name, source, limit)
    n, dims = len(x), x[0].numel()
    per_dim = lambda bits: bits / (n * dims)  # noqa: E731
    data = compress(model, x)
    assert torch.equal(x, decompress(model, data)), "the lossless round trip is not exact"
    bpd16 = per_dim(8 * len(compress(model, x, latent_bits=16)))
    measure_speed(speed, f"lossless, {source}", run, model, x)
    e = elbo_metrics(model, x, generator=torch.Generator().manual_seed(0))
    neg_elbo = per_dim(-e.elbo * n / math.log(2))
    ledger = Ledger()
    _, payload = compress_lossless(coding_view(model), x, model_id(model), ledger=ledger)
    ideal = per_dim(ledger.bits["x"] + ledger.bits["prior"] - ledger.bits["posterior"])
    file_bpd = per_dim(8 * len(data))
    binary = source == "binarized-mnist"
    u8 = (x[:, 0].numpy() * 255).round().astype(np.uint8)  # 0/255 for binary images
    lines = [
        f"{n:,} test images of `{source}`, {dims} dims each; model `{run.path.name}` "
        f"({_describe(run)}), trained {run.train_state().get('epoch')} epochs in {run.train_state().get('elapsed', 0) / 60:.0f} min.",
        "",
        "| codec | bits/dim |",
        "| --- | ---: |",
        f"| **vaekit bits-back ANS (file size; 12-bit latent bins, the default)** | **{file_bpd:.4f}** |",
        f"| vaekit bits-back ANS, 16-bit latent bins | {bpd16:.4f} |",
        f"| model -ELBO (one posterior draw per image, ± {per_dim(e.elbo_stderr * n / math.log(2)):.4f}) | {neg_elbo:.4f} |",
    ]
    lines += [f"| {c} | {b:.4f} |" for c, b in lossless_codecs(u8, binary)]
    lines += [f"| published: {c} | {b:.2f} |" for c, b in PUBLISHED["binary" if binary else "mnist8"]]
    lines += [
        "",
        f"Where the file's {file_bpd:.4f} bits/dim go ({100 * (file_bpd / neg_elbo - 1):+.2f}% against the -ELBO):",
        "",
        "| part | bits/dim |",
        "| --- | ---: |",
        f"| x pushed under p(x given z) | {per_dim(ledger.bits['x']):.4f} |",
        f"| z pushed under the prior | {per_dim(ledger.bits['prior']):.4f} |",
        f"| bits back: z popped under q(z given x) | -{per_dim(ledger.bits['posterior']):.4f} |",
        f"| = ideal code length of the discretised chain ({100 * (ideal / neg_elbo - 1):+.2f}% against the -ELBO) | {ideal:.4f} |",
        f"| ANS stack beyond that (initial bits, final state, 32-bit words) | {per_dim(8 * len(payload)) - ideal:+.5f} |",
        f"| header (counts, batch sizes, guard-band exceptions, checksums) | {per_dim(8 * (len(data) - len(payload))):+.5f} |",
    ]
    return lines


def _describe(run) -> str:
    m = run.config.model
    latent = f"latents {list(m.latent_dims)}" if m.latent_dims else f"latent {m.latent_dim}"
    options = ", ".join(f"{k} {v}" for k, v in m.likelihood.to_dict().items() if k != "kind")
    return f"{m.arch} {list(m.hidden)}, {latent}, {m.likelihood.kind}" + (f" ({options})" if options else "")


# ---------------------------------------------------------------- lossy


def rd_metrics(orig: np.ndarray, restored: np.ndarray) -> tuple[float, float]:
    """Mean per-image PSNR (dB) and SSIM of uint8 images (N, H, W)."""
    from vaekit.evaluation.reconstruction import psnr, ssim

    a = torch.from_numpy(orig).double()[:, None] / 255
    b = torch.from_numpy(restored).double()[:, None] / 255
    return float(psnr(a, b).mean()), float(ssim(a, b).mean())


def lossy(runs: Path, limit: int | None, speed: list) -> tuple[list[str], dict]:
    from vaekit.applications.compression import compress, decompress, fit_density, load_density, save_density
    from vaekit.applications.compression.format import model_id, pack
    from vaekit.applications.compression.lossy import compress_lossy, decompress_lossy
    from vaekit.runs import load_run_data

    run, model, x = load(runs, "fashion", "fashion-mnist", limit)
    x = x[: len(x) - len(x) % 100]
    n, hw = len(x), x[0].numel()
    u8 = (x[:, 0].numpy() * 255).round().astype(np.uint8)
    density = load_density(run.path)
    if density is None or density.model_id != model_id(model):
        density = fit_density(model, load_run_data(run, None, str(DATA_DIRS["fashion-mnist"])).train.x)
        save_density(density, run.path, {"source": "fashion-mnist", "split": "train"})
    mid = model_id(model)
    curves: dict = {}
    to_u8 = lambda t: (t[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    for q in VAEKIT_Q:
        restored = decompress(model, compress(model, x, lossy=True, quality=q, density=density), density=density)
        if q == 6:
            measure_speed(speed, f"lossy, fashion-mnist, quality {q}", run, model, x, lossy=True, quality=q, density=density)
        p, s = rd_metrics(u8, to_u8(restored))
        per_image = sum(len(pack(*compress_lossy(model, x[i : i + 1], mid, q, density))) for i in range(n))
        per_mosaic = 0
        for m in range(n // 100):
            header, payload = compress_lossy(model, x[100 * m : 100 * (m + 1)], mid, q, density)
            assert torch.equal(decompress_lossy(model, header, payload, density), restored[100 * m : 100 * (m + 1)])
            per_mosaic += len(pack(header, payload))
        curves.setdefault("vaekit", []).append((q, 8 * per_image / (n * hw), 8 * per_mosaic / (n * hw), p, s))
    mosaics = [mosaic(u8[100 * m : 100 * (m + 1)], 10) for m in range(n // 100)]
    for codec, fmt, qs, opts in (("JPEG", "JPEG", JPEG_Q, {"optimize": True}), ("WebP", "WEBP", WEBP_Q, {"method": 6})):
        for q in qs:
            files = [encode(im, fmt, quality=q, **opts) for im in u8]
            big = [encode(im, fmt, quality=q, **opts) for im in mosaics]
            dec = np.stack([decode(f) for f in files])
            dec_m = np.concatenate([tiles(decode(f), 28, 28) for f in big])
            p, s = rd_metrics(u8, dec)
            pm, sm = rd_metrics(u8, dec_m)
            curves.setdefault(codec, []).append(
                (q, 8 * sum(map(len, files)) / (n * hw), 8 * sum(map(len, big)) / (n * hw), p, s, pm, sm)
            )
    lines = [
        f"{n:,} Fashion-MNIST test images (28x28, 8-bit grey); model `{run.path.name}` ({_describe(run)}), trained {run.train_state().get('epoch')} epochs; latent density fitted on "
        f"{density.fitted_on:,} training images. bpp counts whole files: one per image, or one per 100 images "
        "(a 10x10 mosaic for JPEG/WebP, one 100-image .vkz for vaekit). PSNR/SSIM: mean over images of the 8-bit result.",
        "",
        "| codec | quality | bpp, per image | PSNR dB | SSIM | bpp, per 100 | PSNR dB | SSIM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for q, b1, b100, p, s in curves["vaekit"]:
        lines.append(f"| vaekit | {q} | {b1:.3f} | {p:.2f} | {s:.3f} | {b100:.3f} | {p:.2f} | {s:.3f} |")
    for codec in ("JPEG", "WebP"):
        for q, b1, b100, p, s, pm, sm in curves[codec]:
            lines.append(f"| {codec} | {q} | {b1:.3f} | {p:.2f} | {s:.3f} | {b100:.3f} | {pm:.2f} | {sm:.3f} |")
    return lines, curves


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for codec, color in (("vaekit", "C3"), ("JPEG", "C0"), ("WebP", "C2")):
        rows = curves[codec]
        p100 = [r[5] for r in rows] if codec != "vaekit" else [r[3] for r in rows]
        ax.plot([r[2] for r in rows], p100, "o-", color=color, label=f"{codec}, per 100 images")
        ax.plot([r[1] for r in rows], [r[3] for r in rows], "x--", color=color, alpha=0.6, label=f"{codec}, per image")
    ax.set_xlim(0, 2.0)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Fashion-MNIST test set: rate-distortion")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- main


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor()
    )
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, commit {commit}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "compression", help="run directories binary/, mnist8/, fashion/")
    p.add_argument("--train", action="store_true", help="train the models that are missing first")
    p.add_argument("--limit", type=int, help="only the first N test images of each set")
    p.add_argument("--threads", default="1,2", help="torch thread counts for the speed table; sizes use the first")
    p.add_argument("--only", choices=["binary", "mnist8", "fashion"], action="append", help="run only these sections")
    args = p.parse_args()
    global THREADS
    THREADS = tuple(int(t) for t in args.threads.split(","))
    torch.set_num_threads(THREADS[0])
    if args.train:
        train_missing(args.runs)
    only = args.only or ["binary", "mnist8", "fashion"]
    speed: list = []
    out = ["# Compression to files", "", f"Measured on {machine()}.", ""]
    if "binary" in only:
        out += (
            ["## Lossless, statically binarised MNIST", ""]
            + lossless(args.runs, "binary", "binarized-mnist", args.limit, speed)
            + [""]
        )
    if "mnist8" in only:
        out += ["## Lossless, 8-bit MNIST", ""] + lossless(args.runs, "mnist8", "mnist", args.limit, speed) + [""]
    if "fashion" in only:
        lines, curves = lossy(args.runs, args.limit, speed)
        plot(curves, RESULTS / "compression_rd.png")
        out += ["## Lossy, Fashion-MNIST", ""] + lines + ["", "![rate-distortion](results/compression_rd.png)", ""]
    out += ["## Speed", "", "Whole test split in one call each way (batches of up to 1,000 images per network pass); "
            "the better of two rounds, thread counts alternating.", "",
            "| mode | model | torch threads | images | compress images/s | decompress images/s |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for mode, model, t, n, c, d in speed:
        out.append(f"| {mode} | {model} | {t} | {n:,} | {c:,.0f} | {d:,.0f} |")
    out += ["", f"Load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} (1, 5, 15 min)."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compression.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
