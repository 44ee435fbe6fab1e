"""EEGMAT as a MOABB dataset: a MOABB paradigm reads the local copy, offline."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sk_eegm2.datasets.eegmat as eegmat_module
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.datasets.eegmat import EEGMAT_CHANNELS

requires_moabb = pytest.mark.skipif(
    importlib.util.find_spec("moabb") is None, reason="MOABB is not installed"
)

SUBJECTS = [0, 31]  # 182 s and 80 s at rest, 62 s of arithmetic each


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that would download."""

    def refuse(url: str, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(eegmat_module.pooch, "retrieve", refuse)


def EEGMAT(*args: Any, **kwargs: Any) -> Any:
    """sk_eegm2's MOABB dataset, imported where a test needs it: importing MOABB takes
    seconds, which the quick loop (``pytest -m "not slow"``) would pay at collection."""
    from sk_eegm2.datasets.moabb import EEGMAT

    return EEGMAT(*args, **kwargs)


def paradigm() -> Any:
    from moabb.paradigms import MotorImagery

    return MotorImagery(events=["rest", "subtraction"], n_classes=2, fmin=0.5, fmax=45.0)


@requires_moabb
def test_moabb_paradigm_cuts_the_windows_of_load_eegmat(eegmat_path: Path) -> None:
    dataset = EEGMAT(eegmat_path, subjects=SUBJECTS)
    assert paradigm().is_valid(dataset)
    X, labels, metadata = paradigm().get_data(dataset, SUBJECTS)
    windows, y, groups = load_eegmat(
        SUBJECTS, path=eegmat_path, return_epochs=False, verbose="error"
    )
    # The same windows in the same order: 256 samples each, subject by subject, rest first.
    assert X.shape == windows.shape == (len(y), len(EEGMAT_CHANNELS), 256)
    np.testing.assert_array_equal(labels, np.where(y == 1, "subtraction", "rest"))
    np.testing.assert_array_equal(metadata["subject"], groups)
    assert set(metadata["session"]) == {"0"}
    np.testing.assert_array_equal(metadata["run"], np.where(y == 1, "2", "1"))
    # In microvolts, and the same signal up to the paradigm's band-pass filter (0.5-45 Hz, on
    # recordings already band-limited to it): each window matches its load_eegmat twin.
    centred = [w - w.mean(-1, keepdims=True) for w in (X, windows)]
    correlation = (centred[0] * centred[1]).sum(-1) / np.sqrt(
        (centred[0] ** 2).sum(-1) * (centred[1] ** 2).sum(-1)
    )
    assert np.median(correlation) > 0.95
    np.testing.assert_allclose(X.std(), windows.std(), rtol=0.2)


@requires_moabb
def test_moabb_dataset_window_length_and_resampling(eegmat_path: Path) -> None:
    dataset = EEGMAT(eegmat_path, subjects=5, window_seconds=4.0, sfreq=100.0)
    X, labels, metadata = paradigm().get_data(dataset)
    assert X.shape[1:] == (19, 400)
    # 182 s at rest and 62 s of arithmetic, in back-to-back windows of 4 s.
    assert (labels == "rest").sum() == 45
    assert (labels == "subtraction").sum() == 15
    np.testing.assert_array_equal(metadata["subject"], 5)


@pytest.mark.slow  # imports MOABB
@requires_moabb
def test_moabb_dataset_rejects_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="subjects"):
        EEGMAT(subjects=[36])
    with pytest.raises(ValueError, match="must be positive"):
        EEGMAT(window_seconds=0.0)
    # A folder without EEGMAT files says so, when the data are read.
    dataset = EEGMAT(tmp_path, subjects=[0])
    with pytest.raises(FileNotFoundError, match="holds no EEGMAT file"):
        dataset.get_data([0])
    with pytest.raises(ValueError, match="not among"):
        dataset.data_path(1)


def test_without_moabb_the_module_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes the import raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "moabb.datasets.base", None)
    monkeypatch.delitem(sys.modules, "sk_eegm2.datasets.moabb", raising=False)
    with pytest.raises(ImportError, match=r'pip install "sk_eegm2\[moabb\]"'):
        importlib.import_module("sk_eegm2.datasets.moabb")
