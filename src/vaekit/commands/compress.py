"""`vaekit compress` and `vaekit decompress`: a data split or a folder to a .vkz file and back."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from vaekit.errors import ConfigError

OUT_SUFFIXES = (".npz", ".npy")


def _add_compress(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="compress data to a .vkz file: lossless bits-back ANS, or --lossy")
    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own): binarized-mnist, mnist, folder:PATH, npz:PATH, ...")
    p.add_argument("--data-dir", help="where dataset files live")
    p.add_argument("--split", choices=["train", "validation", "test", "all"], help="default: test; all for folder:/npz: sources")
    p.add_argument("--limit", type=int, help="compress only the first N examples")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="the compressed file to write (.vkz)")
    out.add_argument("--dry-run", action="store_true", help="compress and report the size, write nothing")
    p.add_argument("--lossy", action="store_true", help="quantised latents: smaller files, restored by the decoder")
    p.add_argument("--quality", type=int, default=6, help="lossy: 1 (smallest) .. 12 (best); each +2 halves the step")
    p.add_argument(
        "--prior", action="store_true",
        help="lossy: code under the discretised N(0, 1) prior instead of the density fitted on the run's training data",
    )  # fmt: skip
    p.add_argument("--latent-bits", type=int, default=12, help="lossless: precision of the latent bins (bits per latent)")
    p.add_argument("--batch-size", type=int, default=1000, help="lossless: most examples per network pass")
    p.set_defaults(handler=_compress)


def _compress(args: argparse.Namespace) -> int:
    from vaekit.applications.compression import compress
    from vaekit.applications.examples import load_examples
    from vaekit.checkpoint import RunDir, atomic_write_bytes

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    out = Path(args.out) if args.out else None
    run = RunDir(args.run_dir)
    model = run.load_model()
    ex = load_examples(run, args.data, args.split, args.data_dir).head(args.limit)
    density = _density(run, model) if args.lossy and not args.prior else None
    names = ex.names if ex.split == "all" else ()  # a split's examples are named by index: nothing to store
    start = time.perf_counter()
    data = compress(
        model, ex.x, lossy=args.lossy, quality=args.quality, density=density, names=names,
        latent_bits=args.latent_bits, batch_size=args.batch_size,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    n, dims = len(ex), ex.x[0].numel()
    mode = f"lossy, quality {args.quality}" + (", prior" if density is None else "") if args.lossy else "lossless, bits-back"
    rate = f"{8 * len(data) / (n * dims):.4f} bits/dim, {8 * len(data) / n:.1f} bits/example"
    if out is not None:
        atomic_write_bytes(out, data)
    where = f"to {out}" if out is not None else "(dry run, nothing written)"
    print(f"compressed {n} examples of {ex.source} ({mode}) {where}: {len(data):,} bytes, {rate}")
    print(f"{seconds:.2f} s, {n / seconds:,.0f} examples/s")
    return 0


def _density(run, model):
    """The run's fitted latent density; fitted on its training split (and saved) when missing or stale."""
    from vaekit.applications.compression import fit_density, load_density, save_density
    from vaekit.applications.compression.format import model_id
    from vaekit.runs import load_run_data

    density = load_density(run.path)
    if density is not None and density.model_id == model_id(model):
        return density
    train = load_run_data(run).train
    density = fit_density(model, train.x)
    path = save_density(density, run.path, {"source": run.config.data.source, "split": "train"})
    print(f"fitted the latent density on {len(train)} training examples: {path}")
    return density


def _add_decompress(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decompress", help="restore the data of a .vkz file with the run that compressed it")
    p.add_argument("file")
    p.add_argument("--run", required=True, dest="run_dir", help="the run directory that compressed the file")
    p.add_argument("--out", required=True, help=".npz (x and names), .npy (the array), or a folder of PNG images")
    p.set_defaults(handler=_decompress)


def _decompress(args: argparse.Namespace) -> int:
    import numpy as np

    from vaekit.applications.compression import decompress_file, load_density
    from vaekit.applications.writers import npy_bytes, write_image_files
    from vaekit.checkpoint import RunDir, atomic_write_bytes

    src, out = Path(args.file), Path(args.out)
    if not src.is_file():
        raise ConfigError(f"{src} does not exist; pass a file written by 'vaekit compress'")
    suffix = out.suffix.lower()
    if suffix and suffix not in OUT_SUFFIXES:
        raise ConfigError(f"--out {out}: use a .npz or .npy file, or a folder name for PNG images")
    run = RunDir(args.run_dir)
    if not suffix and run.info.data_kind != "image":
        raise ConfigError(f"{run.path} models tabular data; write --out as .npz or .npy")
    model = run.load_model()
    start = time.perf_counter()
    dec = decompress_file(model, src.read_bytes(), density=load_density(run.path))
    seconds = time.perf_counter() - start
    x, names = dec.x, dec.header.names
    if suffix == ".npz":
        import io

        buf = io.BytesIO()
        arrays: dict[str, Any] = {"x": x.numpy(), **({"names": np.array(names)} if names else {})}
        np.savez(buf, **arrays)
        atomic_write_bytes(out, buf.getvalue())
    elif suffix == ".npy":
        atomic_write_bytes(out, npy_bytes(x.numpy()))
    else:
        write_image_files(out, x, names or tuple(str(i) for i in range(len(x))))
    print(f"decompressed {len(x)} examples ({dec.mode}) to {out}")
    print(f"{seconds:.2f} s, {len(x) / seconds:,.0f} examples/s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_compress(sub)
    _add_decompress(sub)
