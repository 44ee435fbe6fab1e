"""EEGM2Pretrainer and EEGM2Classifier as users write them, on real EEG and toy arrays."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline

import sk_eegm2._training
from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.datasets import load_eegmat

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}


@pytest.fixture(scope="module")
def eegmat(eegmat_path):
    """Four subjects of EEGMAT, 2 s windows: (Epochs, y, groups)."""
    return load_eegmat([0, 1, 2, 3], path=eegmat_path, window_seconds=2.0, verbose=False)


@pytest.fixture(scope="module")
def eegmat_arrays(eegmat):
    epochs, y, groups = eegmat
    return epochs.get_data(units="uV").astype(np.float32), y, groups


@pytest.fixture(scope="module")
def fitted_pretrainer(eegmat_arrays):
    X, _, groups = eegmat_arrays
    return EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0).fit(X, groups=groups)


def toy_data(n=48, n_chans=3, n_times=32, n_classes=2, seed=0):
    """Classes differ in amplitude and rhythm, so even tiny networks separate them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    t = np.arange(n_times) / 32
    X = rng.standard_normal((n, n_chans, n_times))
    X += (1 + y[:, None, None]) * np.sin(2 * np.pi * (2 + 3 * y[:, None, None]) * t)
    return X.astype(np.float32), y


# -------------------------------------------------------- the snippet of the issue, real EEG
def test_pipeline_cross_validation_on_mne_epochs(eegmat):
    epochs, y, groups = eegmat
    pipe = Pipeline(
        [
            ("eegm2", EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    scores = cross_val_score(
        pipe, epochs, y, groups=groups, cv=GroupKFold(2), scoring="balanced_accuracy"
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()  # a failed fit scores NaN


def test_grid_search_over_the_pipeline(eegmat_arrays):
    X, y, groups = eegmat_arrays
    pipe = Pipeline(
        [("eegm2", EEGM2Pretrainer(**TINY, random_state=0)), ("clf", LogisticRegression())]
    )
    search = GridSearchCV(
        pipe, {"eegm2__max_epochs": [1, 2], "clf__C": [0.1, 1.0]}, cv=GroupKFold(2)
    )
    search.fit(X, y, groups=groups)
    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert search.best_estimator_.named_steps["eegm2"].max_epochs in (1, 2)
    assert len(search.best_estimator_.named_steps["eegm2"].history_) <= 2


def test_fine_tuning_a_fitted_pretrainer(eegmat_arrays, fitted_pretrainer):
    X, y, groups = eegmat_arrays
    before = {k: v.clone() for k, v in fitted_pretrainer.net_.module_.state_dict().items()}
    labels = np.where(y == 1, "arithmetic", "rest")
    clf = EEGM2Classifier(pretrained=fitted_pretrainer, mode="fine", max_epochs=2, random_state=0)
    clf.fit(X, labels, groups=groups)
    assert set(clf.predict(X[:20])) <= {"arithmetic", "rest"}
    assert list(clf.classes_) == ["arithmetic", "rest"]
    # Fine-tuning trains a copy: the user's pretrainer is unchanged.
    for key, value in fitted_pretrainer.net_.module_.state_dict().items():
        assert torch.equal(value, before[key])
    backbone = clf.net_.module_.backbone.state_dict()
    assert any(not torch.equal(backbone[k].cpu(), before[k]) for k in before)


@pytest.mark.slow
def test_joblib_round_trip_in_a_fresh_cpu_only_process(tmp_path, eegmat_arrays):
    X, y, _ = eegmat_arrays
    pipe = Pipeline(
        [
            ("eegm2", EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    joblib.dump(pipe, tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X[:30])
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        pipe = joblib.load({str(tmp_path / "m.joblib")!r})
        np.save({str(tmp_path / "pred.npy")!r}, pipe.predict_proba(np.load({str(tmp_path / "X.npy")!r})))
        """  # noqa: E501
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), pipe.predict_proba(X[:30]))


# ----------------------------------------------------------------------- metadata routing
def test_groups_reach_the_validation_split_through_metadata_routing(monkeypatch, eegmat_arrays):
    X, y, groups = eegmat_arrays
    seen = []
    original = sk_eegm2._training.validation_split

    def spy(n, y_, groups_, fraction, seed):
        train, valid = original(n, y_, groups_, fraction, seed)
        seen.append((groups_, train, valid))
        return train, valid

    monkeypatch.setattr(sk_eegm2._training, "validation_split", spy)
    with sklearn.config_context(enable_metadata_routing=True):
        pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, validation_fraction=0.34)
        pipe = Pipeline(
            [("eegm2", pretrainer.set_fit_request(groups=True)), ("clf", LogisticRegression())]
        )
        cross_validate(pipe, X, y, params={"groups": groups}, cv=GroupKFold(2))
    assert seen
    for fold_groups, train, valid in seen:
        assert fold_groups is not None
        fold_groups = np.asarray(fold_groups)
        # The early-stopping split holds out whole subjects.
        assert valid is not None and not set(fold_groups[train]) & set(fold_groups[valid])


def test_without_groups_everything_still_works():
    X, y = toy_data()
    clf = EEGM2Classifier(**TINY, max_epochs=2, random_state=0).fit(X[:40], y[:40])
    assert clf.predict(X[40:]).shape == (8,)


# ---------------------------------------------------------------------- pretrainer details
def test_transform_features_names_and_pandas_output():
    X, _ = toy_data()
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    features = pretrainer.transform(X)
    assert features.shape == (48, 9 * 8) and features.dtype == np.float32
    names = pretrainer.get_feature_names_out()
    assert len(names) == features.shape[1] and names[0] == "pool_min_0"
    frame = pretrainer.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)
    np.testing.assert_array_equal(frame.to_numpy(), features)


def test_default_features_are_the_papers_2304():
    X, _ = toy_data(n=4, n_chans=2, n_times=16)
    pretrainer = EEGM2Pretrainer(max_epochs=1, validation_fraction=0, batch_size=4).fit(X)
    assert pretrainer.transform(X).shape == (4, 2304)


def test_bottleneck_features_differ_from_pool_features():
    X, _ = toy_data()
    pool = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    bottleneck = clone(pool).set_params(features="bottleneck").fit(X)
    assert pool.transform(X).shape == bottleneck.transform(X).shape
    assert not np.allclose(pool.transform(X), bottleneck.transform(X))
    assert bottleneck.get_feature_names_out()[0] == "bottleneck_min_0"


def test_transform_accepts_other_lengths():
    X, _ = toy_data(n_times=32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    for n_times in (4, 31, 200):
        long, _ = toy_data(n_times=n_times)
        assert pretrainer.transform(long).shape == (48, 72)
        assert pretrainer.reconstruct(long).shape == long.shape
    with pytest.raises(ValueError, match="at least 4 time points"):
        pretrainer.transform(X[..., :3])


def test_reconstruct_is_in_input_units_and_scale_invariant_with_window_scaling():
    X, _ = toy_data()
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    np.testing.assert_allclose(
        pretrainer.reconstruct(10 * X), 10 * pretrainer.reconstruct(X), rtol=1e-4, atol=1e-4
    )
    unscaled = clone(pretrainer).set_params(scaling=None).fit(X)
    assert not np.allclose(unscaled.reconstruct(10 * X), 10 * unscaled.reconstruct(X), rtol=1e-2)


def test_score_is_negative_loss_and_improves_with_training():
    X, _ = toy_data(n=64)
    short = EEGM2Pretrainer(**TINY, max_epochs=1, lr=1e-2, random_state=0).fit(X)
    longer = clone(short).set_params(max_epochs=15).fit(X)
    assert short.score(X) < 0 and longer.score(X) > short.score(X)
    assert len(longer.history_) >= 1 and "valid_loss" in longer.history_[-1]


def test_outputs_do_not_depend_on_the_batch_size_beyond_float32_rounding():
    X, y = toy_data(n=40)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    clf = EEGM2Classifier(**TINY, max_epochs=1, random_state=0).fit(X, y)
    reference = pretrainer.transform(X), clf.predict_proba(X)
    for batch_size in (1, 7, 64):
        pretrainer.set_params(batch_size=batch_size)
        clf.set_params(batch_size=batch_size)
        np.testing.assert_allclose(pretrainer.transform(X), reference[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(clf.predict_proba(X), reference[1], rtol=1e-5, atol=1e-6)


def test_device_auto_resolves_to_cpu_here():
    X, _ = toy_data()
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1).fit(X)
    assert pretrainer.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------- classifier details
@pytest.mark.parametrize("mode", ["fine", "light"])
def test_labels_of_any_type_and_multiclass(mode):
    X, y = toy_data(n=60, n_classes=3)
    labels = np.array([7, 3, 11])[y]  # non-contiguous integers
    clf = EEGM2Classifier(**TINY, mode=mode, max_epochs=3, lr=1e-2, random_state=0)
    clf.fit(X, labels)
    assert list(clf.classes_) == [3, 7, 11]
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])


@pytest.mark.parametrize("class_weight", ["balanced", {"rare": 3.0, "common": 1.0}])
def test_class_weight_keeps_the_minority_class_alive(class_weight):
    X, y = toy_data(n=80)
    keep = (y == 0) | (np.arange(80) % 8 == 1)  # 40 "common", 10 "rare" windows
    labels = np.where(y[keep] == 1, "rare", "common")
    settings = {**TINY, "max_epochs": 1, "random_state": 0, "validation_fraction": 0}
    weighted = EEGM2Classifier(**settings, class_weight=class_weight).fit(X[keep], labels)
    criterion = weighted.net_.criterion_
    # classes_ is sorted: ["common", "rare"]; "balanced" gives n / (n_classes * count).
    expected = [1.0, 3.0] if isinstance(class_weight, dict) else [50 / 80, 50 / 20]
    np.testing.assert_allclose(criterion.weight.numpy(), expected, rtol=1e-6)
    assert EEGM2Classifier(**settings).fit(X[keep], labels).net_.criterion_.weight is None


def test_classifier_learns_the_toy_task():
    X, y = toy_data(n=96)
    clf = EEGM2Classifier(**TINY, max_epochs=30, lr=3e-3, random_state=0).fit(X[:64], y[:64])
    assert clf.score(X[64:], y[64:]) >= 0.9


def test_light_mode_uses_the_frozen_encoder_and_any_length(fitted_pretrainer, eegmat_arrays):
    X, y, _ = eegmat_arrays
    clf = EEGM2Classifier(pretrained=fitted_pretrainer, mode="light", max_epochs=2).fit(X, y)
    encoder = fitted_pretrainer.net_.module_.state_dict()
    for key, value in clf.encoder_.state_dict().items():
        assert torch.equal(value, encoder[key])  # frozen: not trained
    assert clf.predict(X[:5, :, :100]).shape == (5,)
    mixed = np.r_[:25, len(X) - 25 : len(X)]  # rest of subject 0, arithmetic of subject 3
    fine = EEGM2Classifier(pretrained=fitted_pretrainer, max_epochs=1).fit(X[mixed], y[mixed])
    with pytest.raises(ValueError, match="expecting 4864 features"):
        fine.predict(X[:5, :, :100])


def test_frozen_pretrainer_is_reused_in_grid_search(eegmat_arrays, fitted_pretrainer):
    X, y, groups = eegmat_arrays
    clf = EEGM2Classifier(pretrained=FrozenEstimator(fitted_pretrainer), max_epochs=1)
    search = GridSearchCV(clf, {"lr": [1e-4, 1e-3]}, cv=GroupKFold(2))
    search.fit(X, y, groups=groups)
    assert search.best_estimator_.pretrained.estimator is fitted_pretrainer
    assert search.best_estimator_.config_.widths == (4, 8)


def test_unfitted_pretrainer_is_pretrained_on_the_training_data(caplog):
    X, y = toy_data()
    clf = EEGM2Classifier(pretrained=EEGM2Pretrainer(**TINY, max_epochs=1), max_epochs=1)
    with caplog.at_level("INFO", logger="sk_eegm2"):
        clf.fit(X, y)
    assert "pretraining it" in caplog.text
    assert not hasattr(clf.pretrained, "net_")  # the user's object stays unfitted


def test_pretrainer_with_other_channels_is_refused(fitted_pretrainer):
    X, y = toy_data(n_chans=3)
    with pytest.raises(
        ValueError, match="X has 3 channels, but the pretrained network was fitted on 19"
    ):
        EEGM2Classifier(pretrained=fitted_pretrainer).fit(X, y)


# ----------------------------------------------------------- determinism and persistence
@pytest.mark.slow
def test_same_random_state_same_weights_across_processes(tmp_path):
    script = textwrap.dedent(
        """
        import hashlib, sys, numpy as np, torch
        from sk_eegm2 import EEGM2Pretrainer
        rng = np.random.default_rng(0)
        X = rng.standard_normal((40, 3, 32)).astype(np.float32)
        p = EEGM2Pretrainer(widths=(4, 8), d_state=4, expand=2, headdim=4, chunk_size=16,
                            max_epochs=2, random_state=7).fit(X)
        h = hashlib.sha256()
        for v in p.net_.module_.state_dict().values():
            h.update(v.numpy().tobytes())
        h.update(p.transform(X).tobytes())
        print(h.hexdigest())
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], check=True, env=env, capture_output=True, text=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64


def test_random_state_controls_the_result():
    X, _ = toy_data()
    a = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=1).fit(X).transform(X)
    b = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=1).fit(X).transform(X)
    c = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=2).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    state = torch.random.get_rng_state()
    EEGM2Pretrainer(**TINY, max_epochs=1, random_state=1).fit(X)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


def test_pickles_carry_no_training_windows():
    X = np.random.default_rng(0).standard_normal((400, 3, 32)).astype(np.float32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0).fit(X)
    assert pretrainer.net_.train_split is None  # the held-out windows are gone
    blob = pickle.dumps(pretrainer)
    assert not any(window.tobytes()[:64] in blob for window in X)


def test_save_and_load_pretrained_pretrainer(tmp_path):
    X, _ = toy_data()
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0, scaling="global").fit(X)
    folder = pretrainer.save_pretrained(tmp_path / "pre")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["params"]["widths"] == {"tuple": [4, 8]} and config["fitted"]["n_chans_"] == 3
    loaded = EEGM2Pretrainer.from_pretrained(folder)
    np.testing.assert_array_equal(loaded.transform(X), pretrainer.transform(X))
    assert loaded.get_params() == {**pretrainer.get_params(), "device": "auto"}
    clf = EEGM2Classifier(pretrained=str(folder), max_epochs=1, random_state=0).fit(
        X, X[:, 0, 0] > 0
    )
    assert clf.scaling_ == "global"


@pytest.mark.parametrize("mode", ["fine", "light"])
def test_save_and_load_pretrained_classifier(tmp_path, mode):
    X, y = toy_data()
    labels = np.array(["left", "right"])[y]
    clf = EEGM2Classifier(**TINY, mode=mode, max_epochs=2, random_state=0).fit(X, labels)
    loaded = EEGM2Classifier.from_pretrained(clf.save_pretrained(tmp_path / mode))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_corrupted_or_missing_files_give_clear_errors(tmp_path):
    X, _ = toy_data()
    folder = EEGM2Pretrainer(**TINY, max_epochs=1).fit(X).save_pretrained(tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        EEGM2Pretrainer.from_pretrained(folder)
    with pytest.raises(ValueError, match="holds a EEGM2Pretrainer"):
        EEGM2Classifier.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        EEGM2Pretrainer.from_pretrained(tmp_path / "nowhere")


# ------------------------------------------------------------- early stopping with groups
def test_held_out_groups_hold_every_class_where_the_groups_allow():
    """Fault 9: with one class per group, held-out groups were often of one class."""
    groups = np.repeat(np.arange(8), 6)  # e.g. 8 recordings of 6 windows, one class each
    y = np.repeat(np.arange(8) % 2, 6)
    for seed in range(20):
        train, valid = sk_eegm2._training.validation_split(len(y), y, groups, 0.25, seed)
        assert set(y[valid]) == {0, 1}
        assert not set(groups[train]) & set(groups[valid])


def test_held_out_groups_that_cannot_hold_every_class_warn():
    groups = np.repeat(np.arange(4), 6)
    y = np.repeat([0, 0, 0, 1], 6)  # class 1 in one group only
    X, _ = toy_data(n=24)
    with pytest.warns(UserWarning, match="lack the classes"):
        EEGM2Classifier(**TINY, max_epochs=1, validation_fraction=0.25).fit(X, y, groups=groups)
