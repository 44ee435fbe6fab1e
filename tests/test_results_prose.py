"""The figures that docs/results.rst quotes in its prose are those of the committed results.

The tables come from the results files (``.. include::``); the sentences about them are
typed, so this test recomputes each quoted figure from the JSON and looks for it in the page.
After `make benchmark-reference` rewrites a results file, a sentence whose figure changed
fails here until it is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
Results = dict[str, Any]


def mean(name: str, metric: str = "balanced_accuracy") -> Callable[[Results], float]:
    return lambda results: results["summary"][name][metric]["mean"]


def gain(name: str, other: str, metric: str = "balanced_accuracy") -> Callable[[Results], float]:
    return lambda results: mean(name, metric)(results) - mean(other, metric)(results)


def seed_std(name: str) -> Callable[[Results], float]:
    return lambda results: results["summary"][name]["balanced_accuracy"]["std"]


LINEAR, LIGHT = "EEGM2 (Linear)", "EEGM2 (Light)"
LINEAR_TWIN, LIGHT_TWIN = "EEGM2 (Linear, untrained)", "EEGM2 (Light, untrained)"
BAND_POWER = "Log band power + LR"
FINE, SCRATCH = "EEGM2 (Fine)", "EEGM2 (Scratch = Fine, untrained)"
# (results file, sentence with one {} for the figure, the figure from the results)
CLAIMS: list[tuple[str, str, Callable[[Results], float]]] = [
    ("eegmat.json", "Linear by {:.3f}", gain(LINEAR, LINEAR_TWIN)),
    ("eegmat.json", "Light by {:.3f} balanced accuracy", gain(LIGHT, LIGHT_TWIN)),
    ("eegmat.json", "(Light {:.3f} against", mean(LIGHT)),
    ("eegmat.json", "Scratch {:.3f} against", mean("EEGM2 (Scratch = Fine, untrained)")),
    ("eegmat.json", "{:.1f} min with the", lambda results: results["total_seconds"] / 60),
    ("eegmat_heldout.json", "twin by {:.3f} balanced accuracy", gain(LINEAR, LINEAR_TWIN)),
    ("eegmat_heldout.json", "accuracy ({:.3f} against", mean(LINEAR)),
    ("eegmat_heldout.json", "against {:.3f}; ROC AUC", mean(LINEAR_TWIN)),
    ("eegmat_heldout.json", "ROC AUC {:.3f} against", mean(LINEAR, "roc_auc")),
    ("eegmat_heldout.json", "against {:.3f}), and Light", mean(LINEAR_TWIN, "roc_auc")),
    ("eegmat_heldout.json", "beat its twin by {:.3f} (", gain(LIGHT, LIGHT_TWIN)),
    ("eegmat_heldout.json", "({:.3f} against", mean(LIGHT)),
    ("eegmat_heldout.json", "against {:.3f}; the twin", mean(LIGHT_TWIN)),
    ("eegmat_heldout.json", "seeds, ± {:.3f})", seed_std(LIGHT_TWIN)),
    ("eegmat_heldout.json", "at chance ({:.3f}, ROC AUC", mean(FINE)),
    ("eegmat_heldout.json", "ROC AUC {:.3f}), but", mean(FINE, "roc_auc")),
    ("eegmat_heldout.json", "Scratch twin scored {:.3f}", mean(SCRATCH)),
    ("eegmat_heldout.json", "{:.3f} above it, inside", gain(SCRATCH, FINE)),
    ("eegmat_heldout.json", "seeds (± {:.3f} and", seed_std(FINE)),
    ("eegmat_heldout.json", "and ± {:.3f}). The gain", seed_std(SCRATCH)),
    ("eegmat_heldout.json", "with EEGNet ({:.3f}, trained", mean("EEGNet (braindecode)")),
    ("eegmat_heldout.json", "seeds), {:.3f} below it.", gain("EEGNet (braindecode)", FINE)),
    ("eegmat_heldout.json", "Light ({:.3f}, ROC AUC", mean(LIGHT)),
    ("eegmat_heldout.json", "ROC AUC {:.3f}), is level", mean(LIGHT, "roc_auc")),
    ("eegmat_heldout.json", "power + LR ({:.3f}, ROC", mean(BAND_POWER)),
    ("eegmat_heldout.json", "ROC AUC {:.3f}): ", mean(BAND_POWER, "roc_auc")),
    ("eegmat_heldout.json", "{:.3f} below it in balanced", gain(BAND_POWER, LIGHT)),
    ("eegmat_heldout.json", "and {:.3f} below in ROC AUC", gain(BAND_POWER, LIGHT, "roc_auc")),
    ("eegmat_heldout.json", "ShallowFBCSPNet {:.3f}", mean("ShallowFBCSPNet (braindecode)")),
    ("eegmat_heldout.json", "tangent space ({:.3f})", mean("Riemann tangent space + LR")),
    ("eegmat_heldout.json", "raw windows ({:.3f})", mean("LR on raw windows (16 Hz)")),
    (
        "eegmat_heldout.json",
        "{:.1f} min with ``--jobs",
        lambda results: results["total_seconds"] / 60,
    ),
    ("eegmat_bcireport.json", "scores {:.3f} balanced accuracy", mean("EEGM2 (Linear, ridge)")),
    ("eegmat_bcireport.json", "(aligned: {:.3f})", mean("EEGM2 (Linear, ridge), aligned")),
    ("eegmat_bcireport.json", "log band power + LR ({:.3f}) and below", mean(BAND_POWER)),
    ("eegmat_bcireport.json", "the logistic one ({:.3f})", mean(LINEAR)),
    ("eegmat_bcireport.json", "against {:.3f}).", mean("EEGM2 (Linear, ridge, untrained)")),
    ("eegmat_bcireport.json", "space from {:.3f} to", mean("Riemann tangent space + LR")),
    (
        "eegmat_bcireport.json",
        "to {:.3f}, log band",
        mean("Riemann tangent space + LR, aligned"),
    ),
    ("eegmat_bcireport.json", "power from {:.3f} to", mean(BAND_POWER)),
    ("eegmat_bcireport.json", "to {:.3f} and EEGNet from", mean(f"{BAND_POWER}, aligned")),
    ("eegmat_bcireport.json", "(Linear with ridge {:.3f})", mean("EEGM2 (Linear, ridge), aligned")),
    ("eegmat_bcireport.json", "EEGNet scored {:.3f}", mean("EEGNet (braindecode)")),
    ("eegmat_bcireport.json", "ShallowFBCSPNet {:.3f}.", mean("ShallowFBCSPNet (braindecode)")),
    ("eegmat_bcireport.json", "EEGNet from {:.3f} to", mean("EEGNet (braindecode)")),
    ("eegmat_bcireport.json", "to {:.3f} (the best", mean("EEGNet (braindecode), aligned")),
]


@pytest.mark.parametrize(("results_file", "sentence", "figure"), CLAIMS)
def test_results_page_quotes_the_committed_results(results_file, sentence, figure):
    page = " ".join((REPO / "docs" / "results.rst").read_text().split())
    results = json.loads((RESULTS / results_file).read_text())
    assert sentence.format(figure(results)) in page
