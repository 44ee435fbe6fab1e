"""The main job and the baselines, on a few subjects of the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sk_eegm2.__main__ import main
from sk_eegm2.baselines import LogBandPower
from sk_eegm2.benchmark import markdown_table, run_eegmat, save

TINY = {
    "network": {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16,
                "scaling": "global"},
    "pretrain": {"max_epochs": 1, "batch_size": 64},
    "finetune": {"max_epochs": 1, "batch_size": 64},
}  # fmt: skip
MODELS = {
    "EEGM2 (Linear)", "EEGM2 (Light)", "EEGM2 (Fine)", "EEGM2 (Scratch)", "Log band power + LR",
}  # fmt: skip


def test_cross_subject_study_on_real_eeg(eegmat_path, tmp_path):
    lines: list[str] = []
    results = run_eegmat(
        eegmat_path, config=TINY, n_folds=2, subjects=[0, 1, 2, 3], log=lines.append
    )
    assert MODELS <= set(results["summary"])
    for runs in results["folds"].values():
        assert len(runs) == 2
        for scores in runs:
            assert 0 <= scores["balanced_accuracy"] <= 1 and 0 <= scores["roc_auc"] <= 1
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
    results = run_eegmat(eegmat_path, config=TINY, n_folds=2, subjects=[0, 1], log=lines.append)
    assert results["n_subjects"] == 2 and MODELS <= set(results["summary"])
    assert sum("best train loss" in line for line in lines) == 2


def test_command_line(eegmat_path, tmp_path, capsys):
    assert main(
        ["benchmark", "eegmat", "--data", str(eegmat_path), "--subjects", "4", "--folds", "2",
         "--out", str(tmp_path)]
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "| Log band power + LR |" in out and (tmp_path / "eegmat.png").stat().st_size > 0


def test_log_band_power_finds_the_alpha_rhythm():
    t = np.arange(256) / 128
    rng = np.random.default_rng(0)
    alpha = np.sin(2 * np.pi * 10 * t) + 0.1 * rng.standard_normal((4, 2, 256))
    features = LogBandPower(sfreq=128).fit(alpha).transform(alpha).reshape(4, 2, 5)
    assert (features.argmax(-1) == 2).all()  # the 8-13 Hz band
    with pytest.raises(ValueError, match="sfreq"):
        LogBandPower().fit(alpha)
