"""The transfer protocol: EEGMAT-pretrained EEGM2 on EEGBCI motor imagery."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_PROTOCOL

from sk_eegm2.__main__ import PROTOCOLS, RESULTS, main
from sk_eegm2.benchmark import summarise_runs
from sk_eegm2.report import machine_info
from sk_eegm2.transfer import (
    FINE_TUNED,
    IN_DOMAIN,
    SOURCE,
    TRANSFER,
    UNTRAINED,
    run_transfer,
    save_transfer,
    transfer_markdown,
)

MODELS = {
    SOURCE, IN_DOMAIN, UNTRAINED, *FINE_TUNED.values(), "Log band power + LR",
    "Riemann tangent space + LR",
}  # fmt: skip


def _results(runs):
    return {
        "protocol": TRANSFER, "n_source_windows": 4000, "n_source_subjects": 36,
        "n_trials": 45, "n_in_domain_windows": 600,
        "adaptation": "left out 45 channels; resampled from 160 Hz to 128 Hz",
        "n_folds": 5, "seeds": [0, 1], "config": "heldout", "runs": runs,
        "summary": summarise_runs(runs), "included": [], "total_seconds": 60.0,
        "machine": machine_info(),
    }  # fmt: skip


def test_protocol_is_declared_and_registered() -> None:
    assert "transfer" in PROTOCOLS and RESULTS["transfer"] == "eegmat_transfer"
    # No trial of the target runs is seen by the in-domain pretraining.
    assert not set(TRANSFER["target_runs"]) & set(TRANSFER["in_domain_runs"])
    assert TRANSFER["channels"] in ("match", "interpolate") and TRANSFER["resample"]


def test_aligned_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="no aligned variant"):
        run_transfer(aligned=True)


def test_report_shows_every_model_with_its_spread(tmp_path) -> None:
    runs = {
        SOURCE: [{"seed": s, "fold": f, "balanced_accuracy": 0.5 + 0.1 * s, "roc_auc": 0.6}
                 for s in (0, 1) for f in (0, 1)],
        "Log band power + LR": [{"seed": s, "fold": 0, "balanced_accuracy": 0.7, "roc_auc": 0.8}
                                for s in (0, 1)],
    }  # fmt: skip
    text = transfer_markdown(_results(runs))
    assert f"{SOURCE} | 0.550 ± 0.050 | 0.600 ± 0.000 | 0.050" in text
    assert "Log band power + LR | 0.700 ± 0.000" in text
    assert "resampled from 160 Hz to 128 Hz" in text and "45 trials" in text
    paths = save_transfer(_results(runs), tmp_path)
    assert [p.name for p in paths] == ["eegmat_transfer.json", "eegmat_transfer.md"]
    assert json.loads(paths[0].read_text())["runs"] == runs


def test_cli_merges_a_peer_into_saved_transfer_results(tmp_path) -> None:
    runs = {SOURCE: [{"seed": 0, "fold": 0, "balanced_accuracy": 0.6, "roc_auc": 0.6}]}
    save_transfer(_results(runs), tmp_path)
    peer = {"runs": {"EEGNet": [{"seed": 0, "fold": 0, "balanced_accuracy": 0.8,
                                 "roc_auc": 0.9}]}}  # fmt: skip
    (tmp_path / "peer.json").write_text(json.dumps(peer))
    argv = ["benchmark", "eegmat", "--protocol", "transfer", "--reuse", "--out", str(tmp_path)]
    assert main([*argv, "--include", str(tmp_path / "peer.json")]) == 0
    assert "EEGNet | 0.800" in (tmp_path / "eegmat_transfer.md").read_text()


def test_transfer_on_real_eeg(eegmat_path, eegbci_path, tmp_path) -> None:
    protocol = {**TRANSFER, "in_domain_runs": [1, 2], "n_folds": 3, "seeds": [0]}
    lines: list[str] = []
    results = run_transfer(
        eegmat_path, eegbci_path=eegbci_path, eegmat_subjects=[0], config=TINY_PROTOCOL,
        protocol=protocol, threads=1, log=lines.append,
    )  # fmt: skip
    assert set(results["runs"]) == MODELS
    assert results["n_trials"] == 45 and results["n_source_subjects"] == 1
    # 64 channels at 160 Hz brought to EEGMAT's 19 at 128 Hz.
    assert "left out 45 channels" in results["adaptation"]
    assert "160" in results["adaptation"] and "128" in results["adaptation"]
    for records in results["runs"].values():
        assert [(r["seed"], r["fold"]) for r in records] == [(0, 0), (0, 1), (0, 2)]
        assert all(0 <= r["balanced_accuracy"] <= 1 for r in records)
    assert any("pretrained on" in line for line in lines)
    save_transfer(results, tmp_path)
    assert SOURCE in (tmp_path / "eegmat_transfer.md").read_text()
