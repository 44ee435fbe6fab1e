"""The bci.report protocol: its windows, its subject-weighted metric and its report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sk_eegm2.__main__ import main
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.leaderboard import (
    BCIREPORT,
    LEADERBOARD,
    bcireport_markdown,
    load_bcireport_windows,
    save_bcireport,
    subject_scores,
    summarise,
)
from sk_eegm2.report import machine_info


def test_subject_scores_weigh_every_subject_equally() -> None:
    # Subject 0: 4 windows, all right; subject 1: 40 windows, half right. Pooled over windows
    # the accuracy would be 24/44; with equal weight per subject it is (1 + 0.5) / 2.
    y = np.array([0, 0, 1, 1] + [0] * 20 + [1] * 20)
    predicted = np.array([0, 0, 1, 1] + [0] * 10 + [1] * 10 + [1] * 10 + [0] * 10)
    groups = np.array([0] * 4 + [1] * 40)
    score = predicted.astype(float)
    scores = subject_scores(y, predicted, score, groups)
    assert scores["balanced_accuracy"] == pytest.approx(0.75)
    assert scores["roc_auc"] == pytest.approx(0.75)
    # Neither subject is among the held-out protocol's 12-35.
    assert np.isnan(scores["balanced_accuracy_12_35"])


def test_subject_scores_on_heldout_subjects_only() -> None:
    y = np.tile([0, 1], 2)
    groups = np.array([3, 3, 20, 20])
    predicted = np.array([1, 0, 0, 1])  # subject 3 all wrong, subject 20 all right
    scores = subject_scores(y, predicted, predicted.astype(float), groups)
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    assert scores["balanced_accuracy_12_35"] == pytest.approx(1.0)


@pytest.mark.slow
def test_windows_are_the_first_minute_of_each_recording(eegmat_path) -> None:
    X, y, groups = load_bcireport_windows(eegmat_path)
    assert X.shape == (36 * 60, 19, 256) and X.dtype == np.float32
    for subject in (0, 31):  # Subject31's rest recording is the shortest, 80 s
        assert np.bincount(y[groups == subject]).tolist() == [30, 30]
    np.testing.assert_allclose(X.mean(axis=-1), 0, atol=1e-4)
    # The same windows as load_eegmat's first 30 of each recording, less their means.
    full, full_y, _ = load_eegmat([0], path=eegmat_path, return_epochs=False, verbose=False)
    rest, task = full[full_y == 0][:30], full[full_y == 1][:30]
    expected = np.concatenate([rest, task])
    expected = expected - expected.mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(X[groups == 0], expected, atol=1e-3)


def test_report_keeps_aligned_models_apart_and_shows_the_leaderboard() -> None:
    record = {"balanced_accuracy": 0.6, "roc_auc": 0.65, "balanced_accuracy_12_35": 0.62}
    runs = {
        "EEGM2 (Linear, ridge)": [{"seed": 0, **record}],
        "EEGM2 (Linear, ridge), aligned": [{"seed": 0, **record, "balanced_accuracy": 0.7}],
    }
    results = {
        "n_subjects": 36, "n_windows": 2160, "window_seconds": 2.0, "n_folds": 5, "seeds": [0],
        "config": "bcireport", "protocol": BCIREPORT, "summary": summarise(runs),
        "leaderboard": LEADERBOARD, "included": [], "total_seconds": 60.0,
        "machine": machine_info(),
    }  # fmt: skip
    text = bcireport_markdown(results)
    inductive, transductive = text.split("**Transductive")
    assert "EEGM2 (Linear, ridge) |" in inductive and "aligned" not in inductive.split("|", 1)[1]
    assert "EEGM2 (Linear, ridge), aligned | 0.700" in transductive
    assert "REVE Large | 0.690" in transductive  # the leaderboard's table comes last


def test_cli_merges_a_peer_into_saved_bcireport_results(tmp_path) -> None:
    record = {"balanced_accuracy": 0.6, "roc_auc": 0.65, "balanced_accuracy_12_35": 0.62}
    runs = {"EEGM2 (Linear, ridge)": [{"seed": s, **record} for s in (0, 1)]}
    results = {
        "n_subjects": 36, "n_windows": 2160, "window_seconds": 2.0, "n_folds": 5,
        "seeds": [0, 1], "config": "bcireport", "protocol": BCIREPORT, "runs": runs,
        "summary": summarise(runs), "leaderboard": LEADERBOARD, "included": [],
        "total_seconds": 60.0, "machine": machine_info(),
    }  # fmt: skip
    save_bcireport(results, tmp_path)
    peer = {
        "runs": {
            "EEGNet (braindecode)": [
                {"seed": 0, **record, "balanced_accuracy": 0.66},
                {"seed": 1, **record, "balanced_accuracy": 0.68},
            ]
        }
    }
    peer_file = tmp_path / "peer.json"
    peer_file.write_text(json.dumps(peer))
    argv = ["benchmark", "eegmat", "--protocol", "bci-report", "--reuse", "--out", str(tmp_path)]
    assert main([*argv, "--include", str(peer_file)]) == 0
    # a third seed from a file of its own; the seeds already there are not added again
    one_seed = {"runs": {"EEGNet (braindecode)": [{"seed": 2, **record, "balanced_accuracy": 0.7}]}}
    (tmp_path / "seed2.json").write_text(json.dumps(one_seed))
    for again in (peer_file, tmp_path / "seed2.json"):
        assert main([*argv, "--include", str(again)]) == 0
    merged = json.loads((tmp_path / "eegmat_bcireport.json").read_text())
    assert sorted(r["seed"] for r in merged["runs"]["EEGNet (braindecode)"]) == [0, 1, 2]
    assert merged["summary"]["EEGNet (braindecode)"]["balanced_accuracy"]["mean"] == pytest.approx(
        (0.66 + 0.68 + 0.7) / 3
    )
    assert merged["runs"]["EEGM2 (Linear, ridge)"] == runs["EEGM2 (Linear, ridge)"]
    assert "EEGNet (braindecode) | 0.680" in (tmp_path / "eegmat_bcireport.md").read_text()
