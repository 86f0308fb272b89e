"""`vaekit detect fit|score`, `vaekit inpaint`, `vaekit denoise`: anomaly detection and restoration.

Data: ``--data`` (default: the run's own source) and ``--split``: train, validation, test, or
``all`` — every example of a folder:/csv:/npz: source in its own order, named by file (the default
for those sources). ``detect fit`` defaults to the validation split of the run's own data and keeps
a one-class run's classes; ``detect score`` scores every class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.errors import ConfigError

RESTORE_SUFFIXES = (".png", ".npy", ".csv", "")  # "" = a folder


def _add_data(p: argparse.ArgumentParser, split_help: str) -> None:
    from vaekit.commands.limits import positive_int

    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own): mnist, folder:PATH, csv:PATH, npz:PATH, ...")
    p.add_argument("--data-dir", help="where dataset files live")
    p.add_argument("--split", choices=["train", "validation", "test", "all"], help=split_help)
    p.add_argument("-n", type=positive_int, help="use only the first N examples")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="rows per pass through the model")


# ---------------------------------------------------------------- detect fit / score


def _add_detect(sub: argparse._SubParsersAction) -> None:
    from vaekit.commands.limits import seed

    p = sub.add_parser("detect", help="anomaly detection: fit a threshold on normal data, then score new data")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = actions.add_parser("fit", help="fit a threshold on normal data; writes RUN_DIR/detector.json")
    _add_data(f, "default: validation (all for folder:/csv:/npz: sources)")
    f.add_argument(
        "--score",
        choices=["elbo", "nll", "recon", "latent"],
        default="elbo",
        help="anomaly score (default elbo: -ELBO; latent: -log density of the posterior mean under a mixture fitted here)",
    )
    f.add_argument("--k", type=int, default=256, help="importance samples for --score nll")
    f.add_argument("--samples", type=int, default=8, help="posterior samples averaged (elbo score and maps)")
    f.add_argument("--recon-metric", choices=["nll", "mse"], default="nll", help="for --score recon")
    f.add_argument("--components", type=int, default=10, help="Gaussian mixture components for --score latent")
    f.add_argument("--seed", type=seed, default=0)
    g = f.add_mutually_exclusive_group()
    g.add_argument(
        "--contamination", type=float, help="expected anomalous fraction of the fitting data, in (0, 0.5]; default 0.01"
    )
    g.add_argument("--quantile", type=float, help="threshold at this quantile of the normal scores, e.g. 0.99")
    f.set_defaults(handler=_detect_fit)

    s = actions.add_parser("score", help="score inputs with the fitted detector: scores.csv, maps, ROC/PR")
    _add_data(s, "default: test (all for folder:/csv:/npz: sources)")
    s.add_argument("--out", default="scores.csv", help="scores CSV: index,name,score,flag[,label]")
    s.add_argument("--maps", metavar="DIR", help="write per-pixel anomaly maps (PNG heatmaps + maps.npy) into DIR")
    s.add_argument("--detector", help="detector JSON (default RUN_DIR/detector.json)")
    lab = s.add_mutually_exclusive_group()
    lab.add_argument("--anomaly-labels", metavar="FILE", help="0/1 per input (1 = anomalous): one per line, or a CSV column")
    lab.add_argument("--normal-classes", help="class labels that are normal, e.g. 0,1; every other class is an anomaly")
    lab.add_argument("--labels-from-data", action="store_true", help="the run's data.classes are normal, the rest anomalous")
    s.add_argument("--label-column", help="column of --anomaly-labels holding the labels")
    s.add_argument("--curves", help="ROC/PR figure when labels are given (default: <out>_roc.png)")
    s.set_defaults(handler=_detect_score)


def _detect_fit(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import RunDir
    from vaekit.runlock import claim_run_dir

    with claim_run_dir(RunDir(args.run_dir).path, new=False, what="vaekit detect fit"):  # one writer per run directory
        return _fit_detector(args)


def _fit_detector(args: argparse.Namespace) -> int:
    from vaekit.applications.anomaly import ScoreSettings, fit_latent_score, threshold_scores
    from vaekit.applications.detector import fit_detector, save_detector, threshold_quantile, weights_sha256
    from vaekit.applications.examples import is_path_source, load_examples
    from vaekit.checkpoint import RunDir

    settings = ScoreSettings(
        args.score, args.samples, args.k, args.recon_metric, args.seed, args.batch_size, components=args.components
    ).check()
    threshold_quantile(args.contamination, args.quantile)  # a bad rate fails before any work
    run = RunDir(args.run_dir)
    source = args.data or run.config.data.source
    split = args.split or ("all" if is_path_source(source) else "validation")
    ex = load_examples(run, source, split, args.data_dir, keep_run_classes=True).head(args.n)
    model = run.load_model()
    cond = _condition(model, ex)
    settings = fit_latent_score(model, ex.x, settings, condition=cond)  # the latent score's density; else a no-op
    scores = threshold_scores(model, ex.x, settings, condition=cond)  # latent: cross-fitted, as new data sees it
    classes = run.config.data.classes if source == run.config.data.source and split != "all" else None
    data = {**ex.describe(), "classes": list(classes) if classes else None}
    det = fit_detector(
        scores, settings, contamination=args.contamination, quantile=args.quantile, data=data, model_sha256=weights_sha256(run)
    )
    path = save_detector(run, det)
    rule = f"quantile {det.quantile}" if det.quantile is not None else f"contamination {det.contamination:g}"
    print(
        f"fitted on {det.n_fit} examples of {source} ({split}); score {settings.describe()}; "
        f"threshold {det.threshold:.4f} ({rule}); wrote {path}"
    )
    return 0


def _detect_score(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    from vaekit.applications.anomaly import anomaly_maps, anomaly_scores
    from vaekit.applications.detector import load_detector
    from vaekit.applications.examples import load_examples
    from vaekit.applications.writers import write_maps, write_scores_csv
    from vaekit.checkpoint import RunDir

    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {out}: scores are written as CSV; use a .csv file name")
    if args.label_column and not args.anomaly_labels:
        raise ConfigError("--label-column names a column of --anomaly-labels FILE; pass the file too")
    run = RunDir(args.run_dir)
    det = load_detector(run, Path(args.detector) if args.detector else None)
    ex = load_examples(run, args.data, args.split, args.data_dir).head(args.n)
    labels = _labels(args, run, ex)
    model = run.load_model()
    settings = dataclasses.replace(det.settings, batch_size=args.batch_size)  # speed only: draws are per example
    cond = _condition(model, ex)
    scores = anomaly_scores(model, ex.x, settings, condition=cond)
    flags = det.flag(scores)
    write_scores_csv(out, ex.names, scores, flags, labels)
    print(
        f"scored {len(ex)} inputs of {ex.source} ({ex.split}): {int(flags.sum())} flagged above {det.threshold:.4f}; wrote {out}"
    )
    if args.maps:
        maps = anomaly_maps(model, ex.x, settings.samples, settings.seed, settings.batch_size, condition=cond)
        write_maps(Path(args.maps), maps, ex.names, image=ex.kind == "image", inputs=ex.x, scores=scores)
        print(f"wrote {len(ex)} anomaly maps to {args.maps}" + (" (and maps_overview.png)" if ex.kind == "image" else ""))
    if labels is not None:
        _report_metrics(args, out, labels, scores.numpy(), np.asarray(flags.numpy(), dtype=int))
    return 0


def _condition(model, ex):
    """The inputs' labels when the model is conditional (it scores and restores x given its label)."""
    from vaekit.runs import condition_for

    return condition_for(model, ex.y, f"{ex.source} ({ex.split})")


def _labels(args: argparse.Namespace, run, ex):
    from vaekit.applications.anomaly_labels import labels_from_classes, parse_classes, read_anomaly_labels

    y = None if ex.y is None else ex.y.numpy()
    if args.anomaly_labels:
        return read_anomaly_labels(Path(args.anomaly_labels), ex.names, args.label_column)
    if args.normal_classes:
        return labels_from_classes(y, parse_classes(args.normal_classes), ex.source)
    if args.labels_from_data:
        if not run.config.data.classes:
            raise ConfigError(
                f"{run.path} was trained on every class, so the data does not say which are normal; "
                "name them with --normal-classes 0,1"
            )
        return labels_from_classes(y, run.config.data.classes, ex.source)
    return None


def _report_metrics(args: argparse.Namespace, out: Path, labels, scores, flags) -> None:
    from vaekit.applications.anomaly_labels import detection_metrics
    from vaekit.checkpoint import atomic_write_bytes, atomic_write_json
    from vaekit.errors import VaekitError

    m = detection_metrics(labels, scores)
    tp = int((flags & labels).sum())
    summary = {
        "auroc": m.auroc,
        "auprc": m.auprc,
        "n_anomalous": m.n_anomalous,
        "n_normal": m.n_normal,
        "flagged": int(flags.sum()),
        "precision_at_threshold": tp / max(1, int(flags.sum())),
        "recall_at_threshold": tp / m.n_anomalous,
    }
    metrics_path = out.with_name(out.stem + "_metrics.json")
    atomic_write_json(metrics_path, summary)
    print(
        f"AUROC {m.auroc:.4f}  AUPRC {m.auprc:.4f}  ({m.n_anomalous} anomalous, {m.n_normal} normal); "
        f"at the threshold: precision {summary['precision_at_threshold']:.3f}, recall {summary['recall_at_threshold']:.3f}; "
        f"wrote {metrics_path}"
    )
    curves = Path(args.curves) if args.curves else out.with_name(out.stem + "_roc.png")
    try:
        from vaekit.viz.roc import roc_pr_png

        png = roc_pr_png(m.fpr, m.tpr, m.auroc, m.recall, m.precision, m.auprc, m.n_anomalous / len(labels))
    except VaekitError as e:  # matplotlib missing: the numbers are written, the figure is not
        print(f"no ROC/PR figure: {e}")
        return
    atomic_write_bytes(curves, png)
    print(f"wrote ROC and PR curves to {curves}")


# ---------------------------------------------------------------- inpaint / denoise


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    from vaekit.commands.limits import count, positive_int, seed

    p = sub.add_parser("inpaint", help="fill missing entries (masked pixels, NaN cells) with the model")
    _add_data(p, "default: test (all for folder:/csv:/npz: sources)")
    p.add_argument(
        "--mask",
        help="what is missing: bottom-half, top-half, left-half, right-half, center (a square of half the side), "
        "random:F (a fraction F, seeded), or a .npy/image file (1/white = observed); NaN entries are always missing",
    )
    p.add_argument(
        "--method",
        choices=["hmc", "mwg", "pseudo-gibbs"],
        default="hmc",
        help="hmc: Hamiltonian Monte Carlo on z (default); mwg: Metropolis-within-Gibbs; pseudo-gibbs (inexact, fast)",
    )
    p.add_argument("--steps", type=positive_int, default=100, help="chain steps (after the warm-up)")
    p.add_argument("--burn-in", type=count, help="steps discarded before averaging (default steps/4)")
    p.add_argument("--chains", type=positive_int, default=1, help="independent chains per input, averaged (more: a better mean)")
    p.add_argument("--warmup", type=count, help="pseudo-Gibbs steps before each hmc/mwg chain (default 20)")
    p.add_argument("--leapfrog", type=positive_int, default=5, help="leapfrog steps per hmc step")
    p.add_argument("--samples", type=count, default=0, help="also write K completions drawn from the chain")
    p.add_argument("--draw", action="store_true", help="samples are draws x ~ p(x|z), not decoded means")
    p.add_argument("--seed", type=seed, default=0)
    _add_clip(p)
    p.add_argument("--out", required=True, help=".png grid, .npy array, .csv table (tabular), or a folder (no suffix)")
    p.set_defaults(handler=_inpaint)


def _add_clip(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tables: keep restored cells within each column's training range, rounded in whole-number columns "
        "(default: the run's data.clip_restored, true unless set)",
    )


def _table_range(args: argparse.Namespace, run, kind: str):
    """The run's scaler when restored table cells are to be held to its ranges, else None."""
    clip = run.config.data.clip_restored if args.clip is None else args.clip
    scaler = run.scaler() if kind == "tabular" and clip else None
    if scaler is not None and not scaler.has_range:
        print(f"note: {run.path}/scaler.json has no column ranges (an older run), so restored values are not clipped")
        return None
    return scaler


def _add_denoise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("denoise", help="clean inputs: encode, then decode the posterior mean")
    _add_data(p, "default: test (all for folder:/csv:/npz: sources)")
    _add_clip(p)
    p.add_argument("--out", required=True, help="a folder (no suffix: same file names), .png grid, .npy or .csv")
    p.set_defaults(handler=_denoise)


def _check_out(out: Path, run, what: str) -> str:
    suffix = out.suffix.lower()
    if suffix not in RESTORE_SUFFIXES:
        raise ConfigError(
            f"--out {out}: unsupported suffix {out.suffix!r}; write a .png grid, .npy, .csv, or a folder (no suffix)"
        )
    image = run.info.data_kind == "image"
    if suffix == ".csv" and image:
        raise ConfigError(f"--out {out}: {run.path} models images; {what} them into a folder, a .png grid or .npy")
    if suffix in (".png", "") and not image:
        raise ConfigError(f"--out {out}: {run.path} models tables; write .csv or .npy")
    return suffix


def _inpaint(args: argparse.Namespace) -> int:
    from vaekit.applications.examples import load_examples
    from vaekit.applications.masks import resolve_mask
    from vaekit.applications.restoration import impute
    from vaekit.applications.writers import save_restored
    from vaekit.checkpoint import RunDir
    from vaekit.core.draws import make_generator

    run = RunDir(args.run_dir)
    out = Path(args.out)
    suffix = _check_out(out, run, "write")
    if args.samples and suffix == "":
        raise ConfigError("--samples: a folder holds one image per input; write --out .png or .npy to get samples")
    whole = load_examples(run, args.data, args.split, args.data_dir)
    ex = whole.head(args.n)
    if suffix == ".csv" and (ex.path is None or not ex.source.lower().startswith("csv:")):
        raise ConfigError(
            "--out .csv rewrites a csv: source with its gaps filled; pass --data csv:FILE (split all), or write .npy"
        )
    mask = resolve_mask(args.mask, ex.x, make_generator(args.seed))
    model = run.load_model()
    scaler = _table_range(args, run, ex.kind)
    res = impute(
        model, ex.x, mask, method=args.method, steps=args.steps, burn_in=args.burn_in,
        warmup=args.warmup, chains=args.chains, leapfrog=args.leapfrog, samples=args.samples,
        draw_samples=args.draw, generator=make_generator(args.seed + 1), batch_size=args.batch_size,
        condition=_condition(model, ex), bounds=None if scaler is None else scaler.bounds(ex.x.dtype),
    )  # fmt: skip
    filled = res.x
    note = save_restored(out, run, ex, filled, original=ex.x, mask=mask, samples=res.samples, clip=scaler is not None)
    if suffix == ".csv" and len(ex) < len(whole):
        note += f" (its first {len(ex)} of {len(whole)} rows)"
    missing = int((~mask).sum())
    rate = f"; acceptance rate {float(res.acceptance.mean()):.2f}" if res.acceptance is not None else ""
    print(f"filled {missing} missing entries in {len(ex)} inputs ({args.method}, {args.steps} steps{rate}); {note}")
    unseen = ~mask & scaler.unseen() if scaler is not None else None
    if unseen is not None and bool(unseen.any()):
        cols = int(unseen.any(0).sum())
        print(f"left {int(unseen.sum())} of them missing: their {cols} column(s) have no value in the training data")
    known = ~mask & ~ex.x.isnan()
    if bool(known.any()):
        mse = float((filled - ex.x)[known].double().pow(2).mean())
        print(f"the masked entries were known: mean squared error of the fill {mse:.5f} (in model units)")
    return 0


def _denoise(args: argparse.Namespace) -> int:
    from vaekit.applications.examples import load_examples
    from vaekit.applications.restoration import denoise
    from vaekit.applications.writers import save_restored
    from vaekit.checkpoint import RunDir
    from vaekit.errors import DataError

    run = RunDir(args.run_dir)
    out = Path(args.out)
    _check_out(out, run, "write")
    ex = load_examples(run, args.data, args.split, args.data_dir).head(args.n)
    if bool(ex.x.isnan().any()):
        raise DataError("the data has missing (NaN) entries; fill them with vaekit inpaint first")
    model = run.load_model()
    clean = denoise(model, ex.x, batch_size=args.batch_size, condition=_condition(model, ex))
    scaler = _table_range(args, run, ex.kind)
    note = save_restored(out, run, ex, clean, original=ex.x, clip=scaler is not None)
    print(f"denoised {len(ex)} inputs; {note}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_detect(sub)
    _add_inpaint(sub)
    _add_denoise(sub)
