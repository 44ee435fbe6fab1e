"""The main job and the baselines, on a few subjects of the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_PROTOCOL

from sk_eegm2.__main__ import main
from sk_eegm2.baselines import LogBandPower, raw_window_pipeline
from sk_eegm2.benchmark import (
    HELDOUT,
    READOUTS,
    TRANSDUCTIVE,
    heldout_markdown,
    include_runs,
    markdown_table,
    run_eegmat,
    run_heldout,
    save,
    save_heldout,
)

MODELS = {
    "EEGM2 (Linear)", "EEGM2 (Light)", "EEGM2 (Fine)", "Log band power + LR",
    "LR on raw windows (16 Hz)",
}  # fmt: skip


def test_cross_subject_study_on_real_eeg(eegmat_path, tmp_path):
    lines: list[str] = []
    results = run_eegmat(
        eegmat_path, config=TINY_PROTOCOL, n_folds=2, subjects=[0, 1, 2, 3], log=lines.append
    )
    assert MODELS <= set(results["summary"])
    for mode in ("Linear", "Light"):  # every EEGM2 mode beside its untrained twin
        assert f"EEGM2 ({mode}, untrained)" in results["summary"]
    assert "EEGM2 (Scratch = Fine, untrained)" in results["summary"]
    for name, runs in results["folds"].items():
        assert len(runs) == 2
        for metric in ("balanced_accuracy", "roc_auc"):  # the summary is that of the folds
            scores = [run[metric] for run in runs]
            assert results["summary"][name][metric] == {
                "mean": pytest.approx(np.mean(scores)),
                "std": pytest.approx(np.std(scores)),
            }
    # each model is scored on its own predictions
    assert len({runs[0]["roc_auc"] for runs in results["folds"].values()}) > 1
    assert any("pretrained on" in line for line in lines)  # progress is reported
    assert results["n_subjects"] == 4 and results["machine"]["versions"]["torch"]
    paths = save(results, tmp_path)
    assert [p.suffix for p in paths] == [".json", ".md", ".png"]
    assert json.loads(paths[0].read_text())["summary"] == results["summary"]
    table = markdown_table(results)
    assert "| EEGM2 (Fine) |" in table and "GroupKFold" in table


def test_two_subjects_two_folds_pretrain_without_a_validation_split(eegmat_path):
    """Fault 12: with one training subject there is no valid_loss, and the log raised KeyError."""
    lines: list[str] = []
    results = run_eegmat(
        eegmat_path, config=TINY_PROTOCOL, n_folds=2, subjects=[0, 1], log=lines.append
    )
    assert results["n_subjects"] == 2 and MODELS <= set(results["summary"])
    assert sum("best train loss" in line for line in lines) == 2


def test_command_line(eegmat_path, tmp_path, capsys):
    torch.set_num_threads(2)  # the run's --threads (default 1) replaces it, then restores it
    try:
        assert main(
            ["benchmark", "eegmat", "--data", str(eegmat_path), "--subjects", "4", "--folds",
             "2", "--out", str(tmp_path)]
        ) == 0  # fmt: skip
        restored = torch.get_num_threads()
    finally:
        torch.set_num_threads(1)  # tests/conftest.py's setting
    out = capsys.readouterr().out
    assert "| Log band power + LR |" in out and (tmp_path / "eegmat.png").stat().st_size > 0
    assert json.loads((tmp_path / "eegmat.json").read_text())["machine"]["torch_threads"] == 1
    assert restored == 2


def test_log_band_power_finds_the_alpha_rhythm():
    t = np.arange(256) / 128
    rng = np.random.default_rng(0)
    alpha = np.sin(2 * np.pi * 10 * t) + 0.1 * rng.standard_normal((4, 2, 256))
    features = LogBandPower(sfreq=128).fit(alpha).transform(alpha).reshape(4, 2, 5)
    assert (features.argmax(-1) == 2).all()  # the 8-13 Hz band
    with pytest.raises(ValueError, match="sfreq"):
        LogBandPower().fit(alpha)


def test_heldout_protocol_reports_seeds_and_merges_a_peer(eegmat_path, tmp_path, monkeypatch):
    monkeypatch.setitem(HELDOUT, "heldout_subjects", [12, 13, 14, 15])
    monkeypatch.setitem(HELDOUT, "n_folds", 2)
    config = {**TINY_PROTOCOL, "fine": False}
    lines: list[str] = []
    results = run_heldout(
        eegmat_path, config=config, seeds=[0, 1], folds=[1], aligned=True, n_jobs=2,
        log=lines.append,
    )  # fmt: skip
    for name in ("EEGM2 (Linear)", "EEGM2 (Linear), aligned"):
        runs = results["runs"][name]
        assert sorted((r["seed"], r["fold"]) for r in runs) == [(0, 1), (1, 1)]
    # Aligned windows make other features: the transductive variant is a model of its own,
    # reported under its own title.
    assert results["runs"]["Log band power + LR, aligned"] != results["runs"]["Log band power + LR"]
    inductive, transductive = heldout_markdown(results).split(TRANSDUCTIVE)
    assert "aligned" not in inductive and "| EEGM2 (Linear), aligned |" in transductive
    assert "EEGM2 (Fine)" not in results["runs"] and results["n_subjects"] == 4
    ba = results["summary"]["Log band power + LR"]["balanced_accuracy"]
    seed_means = [
        np.mean([r["balanced_accuracy"] for r in results["runs"]["Log band power + LR"]
                 if r["seed"] == s]) for s in (0, 1)
    ]  # fmt: skip
    assert ba["mean"] == pytest.approx(np.mean(seed_means))
    assert ba["std"] == pytest.approx(np.std(seed_means))
    peer = {"runs": {"ShallowFBCSPNet": [
        {"seed": s, "fold": f, "balanced_accuracy": 0.5 + s / 10, "roc_auc": 0.6}
        for s in (0, 1) for f in (0, 1)
    ]}}  # fmt: skip
    # two seeds of two folds: mean 0.55 over seeds, std 0.05
    include_runs(results, peer, "peer.json")
    assert results["summary"]["ShallowFBCSPNet"]["balanced_accuracy"]["mean"] == pytest.approx(0.55)
    paths = save_heldout(results, tmp_path)
    assert json.loads(paths[0].read_text())["summary"] == results["summary"]
    assert "| ShallowFBCSPNet |" in heldout_markdown(results)
    assert "peer.json" in paths[1].read_text()
    # a peer's file merged later into the saved runs, without running them again
    peer_file = tmp_path / "eegnet.json"
    peer_file.write_text(json.dumps({"runs": {"EEGNet": peer["runs"]["ShallowFBCSPNet"]}}))
    argv = ["benchmark", "eegmat", "--protocol", "heldout", "--reuse", "--out", str(tmp_path)]
    assert main([*argv, "--include", str(peer_file)]) == 0
    merged = json.loads(paths[0].read_text())
    assert {"EEGNet", "ShallowFBCSPNet", "EEGM2 (Linear)"} <= set(merged["summary"])
    assert merged["runs"]["EEGM2 (Linear)"] == results["runs"]["EEGM2 (Linear)"]


def test_raw_window_baseline_sees_the_waveform():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2, 64))
    y = np.repeat([0, 1], 20)
    X[y == 1, 0, :32] += 1.0  # a slow deflection in the first half of channel 0
    model = raw_window_pipeline(8).fit(X[::2], y[::2])
    assert model.score(X[1::2], y[1::2]) > 0.9
    assert model[0].transform(X).shape == (40, 2 * 8)


def test_ridge_readout_beside_the_logistic_one(eegmat_path):
    config = {**TINY_PROTOCOL, "fine": False, "readouts": ("logistic", "ridge")}
    results = run_eegmat(eegmat_path, config=config, n_folds=2, subjects=[0, 1], log=print)
    ridge = {"EEGM2 (Linear, ridge)", "EEGM2 (Linear, ridge, untrained)"}
    assert ridge | {"EEGM2 (Linear)", "EEGM2 (Linear, untrained)"} <= set(results["summary"])
    for name in ridge:  # scored by the decision function: a ridge gives no probabilities
        for scores in results["folds"][name]:
            assert 0 <= scores["balanced_accuracy"] <= 1 and 0 <= scores["roc_auc"] <= 1
    assert not hasattr(READOUTS["ridge"](), "predict_proba")
