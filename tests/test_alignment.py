"""SubjectAlignment: each subject aligned with its own windows, groups routed by scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline

from sk_eegm2 import EEGM2Pretrainer, SubjectAlignment, SubjectScorer
from sk_eegm2.baselines import log_band_power_pipeline, raw_window_pipeline

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}


def mean_covariance(windows):
    """The mean over windows of X X^T / n_times, in float64."""
    windows = windows.astype(np.float64)
    return np.einsum("nct,ndt->cd", windows, windows) / (len(windows) * windows.shape[-1])


def subjects_data(n_subjects=4, per_subject=12, n_chans=4, n_times=64, seed=0):
    """Windows whose subjects differ in channel gains and offsets; class 1 has a strong channel 0.

    Returns (X, y, groups).
    """
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), per_subject)
    y = np.tile([0, 1], n_subjects * per_subject // 2)
    X = rng.standard_normal((len(y), n_chans, n_times))
    X[y == 1, 0] *= 2.0
    mixing = rng.standard_normal((n_subjects, n_chans, n_chans)) + 3 * np.eye(n_chans)
    offsets = rng.normal(0, 5, (n_subjects, n_chans, 1))
    X = np.einsum("ncd,ndt->nct", mixing[groups], X) + offsets[groups]
    return X.astype(np.float32), y, groups


@pytest.mark.parametrize("method", ["euclidean", "standardize"])
def test_a_subjects_output_depends_on_its_own_windows_only(method):
    X, _, groups = subjects_data()
    other = np.random.default_rng(1).standard_normal(X.shape).astype(np.float32) * 10
    alignment = SubjectAlignment(method=method).fit(X, groups=groups)
    aligned = alignment.transform(X, groups=groups)
    changed = np.where((groups == 0)[:, None, None], X, other)  # every other subject replaced
    refitted = SubjectAlignment(method=method).fit(other, groups=groups)
    for model in (alignment, refitted):  # nor does what fit saw change it
        again = model.transform(changed, groups=groups)
        np.testing.assert_array_equal(again[groups == 0], aligned[groups == 0])
    alone = alignment.transform(X[groups == 0], groups=groups[groups == 0])
    np.testing.assert_allclose(alone, aligned[groups == 0], rtol=1e-6)
    assert not np.allclose(again[groups == 1], aligned[groups == 1])


def test_euclidean_alignment_gives_each_subject_identity_mean_covariance():
    X, _, groups = subjects_data()
    aligned = SubjectAlignment().fit_transform(X, groups=groups)
    for subject in np.unique(groups):
        identity = np.eye(X.shape[1])
        np.testing.assert_allclose(mean_covariance(aligned[groups == subject]), identity, atol=1e-5)
        assert not np.allclose(mean_covariance(X[groups == subject]), identity, atol=0.1)


def test_euclidean_alignment_drops_directions_a_common_reference_removed():
    X, _, groups = subjects_data()
    X -= X.mean(axis=1, keepdims=True)  # common-average reference: rank C - 1
    aligned = SubjectAlignment().fit_transform(X, groups=groups)
    mean_cov = mean_covariance(aligned[groups == 0])
    n_chans = X.shape[1]
    centring = np.eye(n_chans) - 1 / n_chans  # the projector onto the referenced space
    np.testing.assert_allclose(mean_cov, centring, atol=1e-5)


def test_standardize_gives_each_subjects_channels_zero_mean_unit_variance():
    X, _, groups = subjects_data()
    aligned = SubjectAlignment(method="standardize").fit_transform(X, groups=groups)
    for subject in np.unique(groups):
        windows = aligned[groups == subject].astype(np.float64)
        np.testing.assert_allclose(windows.mean(axis=(0, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(windows.std(axis=(0, 2)), 1, atol=1e-5)


def test_missing_groups_say_how_to_pass_them():
    X, _, groups = subjects_data()
    alignment = SubjectAlignment().fit(X, groups=groups)
    with pytest.raises(ValueError, match=r"needs groups.*enable_metadata_routing=True"):
        alignment.transform(X)
    with pytest.raises(ValueError, match="subject of each of the 48 windows"):
        alignment.transform(X, groups=groups[:-1])
    with pytest.raises(ValueError, match="fitted on 4"):
        alignment.transform(X[:, :3], groups=groups)


def test_routing_in_a_pipeline_passes_groups_to_transform():
    X, y, groups = subjects_data()
    with sklearn.config_context(enable_metadata_routing=True):
        alignment = SubjectAlignment().set_transform_request(groups=True)
        pipe = make_pipeline(alignment, raw_window_pipeline(4)).fit(X, y, groups=groups)
        predicted = pipe.predict(X, groups=groups)
        score = pipe.score(X, y, groups=groups)
    # The same by hand: the pipeline's steps saw the subjects.
    aligned = SubjectAlignment().fit_transform(X, groups=groups)
    by_hand = raw_window_pipeline(4).fit(aligned, y)
    np.testing.assert_array_equal(predicted, by_hand.predict(aligned))
    assert score == by_hand.score(aligned, y)


def test_routing_in_cross_validate_and_grid_search():
    X, y, groups = subjects_data()
    cv = GroupKFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(SubjectAlignment(), raw_window_pipeline(4))
        own = cross_validate(pipe, X, y, cv=cv, params={"groups": groups})["test_score"]
        scored = cross_validate(
            pipe, X, y, cv=cv, params={"groups": groups}, scoring=SubjectScorer()
        )["test_score"]
        search = GridSearchCV(
            pipe,
            {"subjectalignment__method": ["euclidean", "standardize"]},
            cv=cv,
            scoring=SubjectScorer(),
        ).fit(X, y, groups=groups)
        with pytest.raises(ValueError, match="SubjectScorer"):  # named scorers drop groups
            cross_validate(
                pipe, X, y, cv=cv, params={"groups": groups}, scoring="balanced_accuracy",
                error_score="raise",
            )  # fmt: skip
    expected = []
    for train, test in cv.split(X, y, groups):
        model = make_pipeline(SubjectAlignment(), raw_window_pipeline(4))
        model.fit(X[train], y[train], subjectalignment__groups=groups[train])
        aligned = SubjectAlignment().fit_transform(X[test], groups=groups[test])
        expected.append(model[1].score(aligned, y[test]))  # balanced classes: same as BA
    np.testing.assert_allclose(own, expected)
    np.testing.assert_allclose(scored, expected)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_alignment_in_front_of_the_baselines_and_eegm2():
    X, y, groups = subjects_data()
    with sklearn.config_context(enable_metadata_routing=True):
        for model in (
            log_band_power_pipeline(64.0),
            make_pipeline(
                EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).set_fit_request(groups=True),
                LogisticRegression(),
            ),
        ):
            pipe = make_pipeline(SubjectAlignment(), model).fit(X, y, groups=groups)
            assert pipe.predict(X, groups=groups).shape == y.shape
