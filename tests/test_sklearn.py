import os
import pickle
import tempfile

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from vaekit.core.elbo import elbo  # noqa: E402
from vaekit.errors import ConfigError, DataError, VaekitError  # noqa: E402
from vaekit.sklearn import VAEOutlierDetector, VAETransformer, elbo_scores  # noqa: E402

TINY = dict(hidden=(8,), epochs=2, batch_size=32)


def low_rank_table(n: int = 300, seed: int = 0) -> np.ndarray:
    """(n, 6) rows on a noisy 2-D plane, in units far from standardised (mean 100, spread 50)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    w = rng.normal(size=(2, 6))
    return 100.0 + 50.0 * (z @ w + 0.05 * rng.normal(size=(n, 6)))


@parametrize_with_checks([VAETransformer(**TINY), VAEOutlierDetector(latent_dim=2, **TINY)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_transformer_round_trip_in_original_units_and_no_files_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    X = low_rank_table()
    vae = VAETransformer(latent_dim=2, hidden=(32,), epochs=60, lr=3e-3, seed=0)
    Z = vae.fit_transform(X)
    assert Z.shape == (300, 2) and Z.dtype == np.float64
    np.testing.assert_array_equal(Z, vae.transform(X))
    X_hat = vae.inverse_transform(Z)
    r2 = 1 - ((X_hat - X) ** 2).sum() / ((X - X.mean(0)) ** 2).sum()
    assert r2 > 0.8, r2  # a 2-D latent explains data on a 2-D plane, in the data's own units
    assert os.listdir(tmp_path) == ["tmp"] and os.listdir(scratch) == []
    assert vae.n_features_in_ == 6 and len(vae.history_) >= 1
    assert list(vae.get_feature_names_out()) == ["vaetransformer0", "vaetransformer1"]
    with pytest.raises(ValueError, match="latent space has 2 dimensions"):
        vae.inverse_transform(np.zeros((3, 5)))


def test_fit_leaves_the_global_torch_generator_alone():
    X = low_rank_table(40)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    VAETransformer(**TINY).fit(X)
    torch.testing.assert_close(torch.rand(3), expected)


def test_pickle_keeps_the_model_as_safetensors_bytes():
    X = low_rank_table(60)
    vae = VAETransformer(**TINY).fit(X)
    state = vae.__getstate__()
    assert "model_" not in state and isinstance(state["_model_safetensors"], bytes)
    assert hasattr(vae, "model_")  # pickling does not strip the live estimator
    again = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(again.transform(X), vae.transform(X))
    np.testing.assert_array_equal(again.score(X), vae.score(X))


def test_pipeline_and_grid_search_over_latent_dim():
    X = low_rank_table(150)
    pipe = Pipeline([("scale", StandardScaler()), ("vae", VAETransformer(**TINY))])
    search = GridSearchCV(pipe, {"vae__latent_dim": [1, 3]}, cv=2).fit(X)
    assert search.best_params_["vae__latent_dim"] in (1, 3)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    d = search.best_params_["vae__latent_dim"]
    assert search.transform(X).shape == (150, d)
    assert search.best_estimator_.get_params()["vae__latent_dim"] == d


def test_parameters_are_stored_unchanged_and_checked_at_fit():
    det = VAEOutlierDetector(contamination=0.7, hidden=[16])
    assert det.get_params()["hidden"] == [16] and det.contamination == 0.7
    with pytest.raises(ConfigError, match=r"contamination must be a number in \(0.0, 0.5\]") as e:
        det.fit(low_rank_table(20))
    assert isinstance(e.value, ValueError)  # also what scikit-learn code expects
    with pytest.raises(ValueError, match="likelihood must be one of"):
        VAETransformer(likelihood="gamma").fit(low_rank_table(20))
    with pytest.raises(ValueError, match="'swish' is not one of"):
        VAETransformer(activation="swish").fit(low_rank_table(20))
    with pytest.raises(ValueError, match="score_method"):
        VAEOutlierDetector(score_method="iwae").fit(low_rank_table(20))


def test_elbo_scores_match_the_monte_carlo_elbo():
    X = low_rank_table(50)
    vae = VAETransformer(**TINY).fit(X)
    x = torch.from_numpy(vae.scaler_.transform(torch.from_numpy(X)).numpy())  # float64, as the model sees it
    crn = elbo_scores(vae.model_, x, samples=4000, seed=0)
    torch.manual_seed(0)
    with torch.no_grad():
        mc = elbo(vae.model_, x.repeat(4000, 1)).elbo_per_example.view(4000, -1)  # (4000, N) independent draws
    se = mc.std(0) / 4000**0.5
    assert ((crn - mc.mean(0)).abs() < 5 * se + 1e-6).all()
    # the same rows score the same alone, in another order, or with others
    np.testing.assert_allclose(vae._elbo(x[[7]]), vae._elbo(x)[[7]])


def blobs(n_in: int, n_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inliers: a Gaussian blob near a 2-D plane in 5-D; outliers: points 8 standard deviations away."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(123).normal(size=(2, 5))
    inliers = rng.normal(size=(n_in, 2)) @ w + 0.3 * rng.normal(size=(n_in, 5))
    directions = rng.normal(size=(n_out, 5))
    outliers = 8.0 * inliers.std(0) * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return inliers, outliers


def test_outlier_detector_ranks_far_points_and_flags_the_contamination_fraction():
    train, _ = blobs(400, 0, seed=0)
    test_in, test_out = blobs(200, 40, seed=1)
    det = VAEOutlierDetector(latent_dim=2, hidden=(32,), epochs=30, lr=3e-3, contamination=0.05, seed=0).fit(train)
    scores = det.score_samples(np.concatenate([test_in, test_out]))
    truth = np.r_[np.zeros(200), np.ones(40)]
    assert roc_auc_score(truth, -scores) > 0.95
    flagged = np.mean(det.predict(train) == -1)
    assert abs(flagged - 0.05) <= 1.5 / 400  # the offset is the 5% quantile of the training scores
    assert (det.predict(test_out) == -1).mean() > 0.9
    np.testing.assert_allclose(det.decision_function(test_in), det.score_samples(test_in) - det.offset_)


def test_nll_scores_use_the_iwae_estimate():
    train, _ = blobs(100, 0, seed=0)
    det = VAEOutlierDetector(latent_dim=2, score_method="nll", k=50, contamination=0.1, **{**TINY, "epochs": 5})
    try:
        import vaekit.evaluation.likelihood  # noqa: F401
    except ImportError:
        with pytest.raises(VaekitError, match="score_method='elbo'"):
            det.fit(train)
        return
    det.fit(train)
    nll = det.score_samples(train)
    assert np.isfinite(nll).all()
    elbo_det = VAEOutlierDetector(latent_dim=2, contamination=0.1, **{**TINY, "epochs": 5}).fit(train)
    elbo_scores_ = elbo_det.score_samples(train)
    # the same model (same seed and data): the IWAE bound is tighter than the ELBO on average
    assert nll.mean() >= elbo_scores_.mean() - 0.05
    assert np.corrcoef(nll, elbo_scores_)[0, 1] > 0.9


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(low_rank_table(40), columns=list("abcdef"))
    vae = VAETransformer(**TINY).fit(X)
    assert list(vae.feature_names_in_) == list("abcdef")
    assert vae.transform(X).shape == (40, 2)


def test_fit_draws_no_figures(monkeypatch):
    """The estimators' training run lives in a directory deleted right after: drawing curves.png
    into it would be most of a tiny fit's time."""

    def refuse(*a, **k):
        raise AssertionError("an estimator's fit drew figures")

    monkeypatch.setattr("vaekit.training.figures.write_run_figures", refuse)
    VAETransformer(**TINY).fit(low_rank_table(40))
    VAEOutlierDetector(latent_dim=2, **TINY).fit(low_rank_table(40))


def digits(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def test_conditional_transformer_reads_the_labels_everywhere():
    X, y = digits()
    labels = np.array(list("abcdefghij"))[y]  # any label values: classes_ maps them to the condition
    vae = VAETransformer(latent_dim=2, hidden=(32,), epochs=5, lr=3e-3, conditional=True).fit(X, labels)
    assert list(vae.classes_) == list("abcdefghij") and vae.model_.conditional
    x = torch.from_numpy(vae.scaler_.transform(torch.from_numpy(X)).numpy())
    c, c_wrong = torch.from_numpy(y), torch.from_numpy((y + 1) % 10)
    with torch.no_grad():
        np.testing.assert_allclose(vae.transform(X, labels), vae.model_.encode(x, c).mean.numpy())
        assert not np.allclose(vae.transform(X, labels), vae.model_.encode(x, c_wrong).mean.numpy(), atol=1e-4)
    right = elbo_scores(vae.model_, x, 16, 0, condition=c)
    other = elbo_scores(vae.model_, x, 16, 0, condition=c_wrong)
    assert vae.score(X, labels) == pytest.approx(float(right.mean()))
    d = right - other  # paired: the same noise, right minus wrong labels
    assert d.mean() > 4 * d.std() / len(d) ** 0.5  # the true labels explain the digits better
    Z = vae.fit_transform(X, labels)
    assert Z.shape == (300, 2)
    back = vae.inverse_transform(Z[:3], labels[:3])
    with torch.no_grad():
        mean = vae.model_.decode(torch.from_numpy(Z[:3]), c[:3]).mean
    np.testing.assert_allclose(back, vae.scaler_.inverse(mean).numpy())
    again = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(again.transform(X, labels), vae.transform(X, labels))


def test_conditional_estimators_without_labels_say_so():
    X, y = digits(120)
    with pytest.raises(DataError, match=r"fit\(X, y\)") as e:
        VAETransformer(**TINY, conditional=True).fit(X)
    assert isinstance(e.value, ValueError)
    vae = VAETransformer(**TINY, conditional=True).fit(X, y)
    for call in (lambda: vae.transform(X), lambda: vae.score(X), lambda: vae.inverse_transform(np.zeros((2, 2)))):
        with pytest.raises(DataError, match="conditional=True.*pass them"):
            call()
    with pytest.raises(DataError, match=r"labels \[11\] were not seen in fit"):
        vae.transform(X[:2], [11, 3])
    with pytest.raises(ValueError, match="conditional must be True or False"):
        VAETransformer(**TINY, conditional="yes").fit(X, y)
    det = VAEOutlierDetector(latent_dim=2, **TINY, conditional=True).fit(X, y)
    with pytest.raises(DataError, match=r"score_samples\(X, y\)"):
        det.predict(X)


@pytest.mark.parametrize("score_method", ["elbo", "nll"])
def test_conditional_outlier_detector_scores_x_given_its_label(score_method):
    X, y = digits()
    det = VAEOutlierDetector(latent_dim=2, hidden=(32,), epochs=5, lr=3e-3, contamination=0.1, score_method=score_method,
                             k=20, conditional=True).fit(X, y)  # fmt: skip
    right, other = det.score_samples(X, y), det.score_samples(X, (y + 1) % 10)
    d = right - other
    assert d.mean() > 4 * d.std() / len(d) ** 0.5  # a digit under a wrong label looks more anomalous
    assert abs(np.mean(det.predict(X, y) == -1) - 0.1) <= 1.5 / 300  # offset_ was fitted with the labels
    np.testing.assert_array_equal(det.fit_predict(X, y), det.predict(X, y))
