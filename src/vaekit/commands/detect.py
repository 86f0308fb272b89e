"""`vaekit detect fit|score`: anomaly detection (inpaint and denoise: ``restore.py``).

Data: ``--data`` (default: the run's own source) and ``--split``: train, validation, test, or
``all`` — every example of a folder:/csv:/npz: source in its own order, named by file (the default
for those sources). ``detect fit`` defaults to the validation split of the run's own data and keeps
a one-class run's classes; ``detect score`` scores every class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.outputs import add_data, example_condition
from vaekit.errors import ConfigError


def _add_detect(sub: argparse._SubParsersAction) -> None:
    from vaekit.commands.limits import seed

    p = sub.add_parser("detect", help="anomaly detection: fit a threshold on normal data, then score new data")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = actions.add_parser("fit", help="fit a threshold on normal data; writes RUN_DIR/detector.json")
    add_data(f, "default: validation (all for folder:/csv:/npz: sources)")
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
    add_data(s, "default: test (all for folder:/csv:/npz: sources)")
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
    cond = example_condition(model, ex)
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
    cond = example_condition(model, ex)
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


def register(sub: argparse._SubParsersAction) -> None:
    _add_detect(sub)
