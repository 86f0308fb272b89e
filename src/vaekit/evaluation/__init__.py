"""Honest evaluation: metrics as pure functions of (model, data), one concept per module.

    report = evaluate(model, data, split="test", metrics=["nll", "elbo", "fd"], k=5000)
    report.summary["nll"]; report.to_dict()           # what eval.json holds
    r = iwae_nll(model, x, k=5000, batch_size=1, k_chunk=5000)   # per-example -log p(x), float64

likelihood (ELBO, importance-weighted NLL, bits/dim), posterior (KL per dimension, active units,
mutual information), reconstruction (MSE, PSNR, SSIM), sample_quality (Fréchet distance, k-NN
precision/recall) with extractor (the default feature CNN), probe (linear probe), report
(EvalReport, eval.json), runner (evaluate, evaluate_run), compare (rank runs).
"""

from vaekit.evaluation.compare import Comparison, compare_runs, format_comparison
from vaekit.evaluation.likelihood import ELBOResult, IWAEResult, bits_per_dim, elbo_metrics, iwae_nll
from vaekit.evaluation.posterior import MIResult, PosteriorResult, mutual_information, posterior_diagnostics
from vaekit.evaluation.probe import ProbeResult, linear_probe
from vaekit.evaluation.reconstruction import ReconResult, psnr, reconstruction_metrics, ssim
from vaekit.evaluation.report import DIRECTIONS, EvalReport, format_table, read_eval_json
from vaekit.evaluation.runner import default_metrics, evaluate, evaluate_run, metric_names
from vaekit.evaluation.sample_quality import (
    SampleQualityResult,
    frechet_distance,
    frechet_distance_features,
    precision_recall,
    sample_quality,
)

__all__ = [
    "DIRECTIONS",
    "Comparison",
    "ELBOResult",
    "EvalReport",
    "IWAEResult",
    "MIResult",
    "PosteriorResult",
    "ProbeResult",
    "ReconResult",
    "SampleQualityResult",
    "bits_per_dim",
    "compare_runs",
    "default_metrics",
    "elbo_metrics",
    "evaluate",
    "evaluate_run",
    "format_comparison",
    "format_table",
    "frechet_distance",
    "frechet_distance_features",
    "iwae_nll",
    "linear_probe",
    "metric_names",
    "mutual_information",
    "posterior_diagnostics",
    "precision_recall",
    "psnr",
    "read_eval_json",
    "reconstruction_metrics",
    "sample_quality",
    "ssim",
]
