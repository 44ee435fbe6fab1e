"""Tests of ``sk_eegm2.plotting``: each function returns a figure with the expected artists."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from skorch.history import History  # noqa: E402

from sk_eegm2 import plotting  # noqa: E402
from sk_eegm2.plotting import plot_features, plot_history, plot_reconstruction  # noqa: E402

SFREQ = 64.0
CH_NAMES = ["Fz", "Cz", "Pz", "Oz", "C3", "C4"]


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def windows() -> tuple[np.ndarray, np.ndarray]:
    """Eight 2 s windows of 10 Hz sines; the "reconstruction" is the sine at half amplitude."""
    times = np.arange(128) / SFREQ
    X = np.broadcast_to(np.sin(2 * np.pi * 10 * times), (8, len(CH_NAMES), 128)).copy()
    X += np.random.default_rng(0).standard_normal(X.shape) * 0.01
    return X, X / 2


def test_plot_reconstruction_draws_input_and_reconstruction_per_channel(
    windows: tuple[np.ndarray, np.ndarray],
) -> None:
    X, reconstruction = windows
    fig = plot_reconstruction(X, reconstruction, SFREQ, CH_NAMES, window=3)
    axes = np.array(fig.axes).reshape(-1, 2)
    # The first four channels by default, each with its time course and its spectrum.
    assert axes.shape == (plotting.N_DEFAULT_PICKS, 2)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == [f"{ch} (µV)" for ch in CH_NAMES[:4]]
    for ax_time, ax_psd in axes:
        assert len(ax_time.get_lines()) == len(ax_psd.get_lines()) == 2
        assert ax_psd.get_yscale() == "log"
    ax_time, ax_psd = axes[1]
    # Over time: window 3 of channel Cz, then its reconstruction, against time in seconds.
    time_in, time_out = ax_time.get_lines()
    np.testing.assert_allclose(time_in.get_xdata(), np.arange(128) / SFREQ)
    np.testing.assert_allclose(time_in.get_ydata(), X[3, 1])
    np.testing.assert_allclose(time_out.get_ydata(), reconstruction[3, 1])
    # As spectra: both peak at 10 Hz, and half the amplitude is a quarter of the power.
    psd_in, psd_out = ax_psd.get_lines()
    assert psd_in.get_xdata()[np.argmax(psd_in.get_ydata())] == pytest.approx(10.0)
    peak = np.argmax(psd_in.get_ydata())
    assert psd_out.get_ydata()[peak] == pytest.approx(psd_in.get_ydata()[peak] / 4)
    assert axes[-1, 0].get_xlabel() == "Time (s)"
    assert axes[-1, 1].get_xlabel() == "Frequency (Hz)"


def test_plot_reconstruction_picks_by_name_and_index(
    windows: tuple[np.ndarray, np.ndarray],
) -> None:
    X, reconstruction = windows
    fig = plot_reconstruction(X, reconstruction, SFREQ, CH_NAMES, picks=["C4", 0], unit="V")
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["C4 (V)", "Fz (V)"]
    fig = plot_reconstruction(X[:, :2], reconstruction[:, :2], SFREQ)
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["channel 0 (µV)", "channel 1 (µV)"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reconstruction": np.zeros((8, 6, 64))}, "same shape"),
        ({"ch_names": CH_NAMES[:3]}, "3 names for 6 channels"),
        ({"window": 8}, "out of range for 8 windows"),
        ({"picks": ["T7"]}, "'T7' is not among"),
        ({"picks": [6]}, "out of range for 6 channels"),
        ({"sfreq": 0.0}, "sfreq must be positive"),
    ],
)
def test_plot_reconstruction_rejects_invalid_arguments(
    windows: tuple[np.ndarray, np.ndarray], kwargs: dict, message: str
) -> None:
    X, reconstruction = windows
    arguments = {"reconstruction": reconstruction, "sfreq": SFREQ, "ch_names": CH_NAMES}
    with pytest.raises(ValueError, match=message):
        plot_reconstruction(X, **{**arguments, **kwargs})


def make_history(valid: bool) -> History:
    history = History()
    for epoch, loss in enumerate([3.0, 2.0, 1.5, 1.2], start=1):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", loss)
        if valid:
            history.record("valid_loss", [2.5, 1.8, 1.9, 2.0][epoch - 1])
    return history


def test_plot_history_draws_losses_and_marks_the_best_epoch() -> None:
    history = make_history(valid=True)
    fig = plot_history(history)
    (ax,) = fig.axes
    train, valid, best = ax.get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(train.get_ydata(), [3.0, 2.0, 1.5, 1.2])
    np.testing.assert_array_equal(valid.get_ydata(), [2.5, 1.8, 1.9, 2.0])
    np.testing.assert_array_equal(best.get_xdata(), [2])
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["training", "validation", "lowest validation loss (epoch 2)"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Epoch", "Loss")
    # A fitted estimator's history_ is read the same way.
    fig = plot_history(SimpleNamespace(history_=history))
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_ydata(), [2.5, 1.8, 1.9, 2.0])


def test_plot_history_without_validation_draws_the_training_loss_only() -> None:
    (ax,) = plot_history(make_history(valid=False)).axes
    assert len(ax.get_lines()) == 1
    with pytest.raises(ValueError, match="train_loss"):
        plot_history(History())


def test_plot_features_scatters_each_class_on_two_components() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [30, 20, 10])
    # The classes differ in four of 12 features, together, which makes their common direction
    # the first component. A noise feature at a hundredfold scale would be the first component
    # without the standardisation.
    features = rng.standard_normal((60, 12))
    features[:, :4] += 4 * y[:, None]
    features[:, 5] *= 100
    fig = plot_features(features, y, class_names={0: "rest", 1: "arithmetic"})
    (ax,) = fig.axes
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(s.get_offsets()) for s in scatters] == [30, 20, 10]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["rest (30)", "arithmetic (20)", "2 (10)"]
    assert ax.get_xlabel().startswith("PC1 (") and ax.get_ylabel().startswith("PC2 (")
    # The first component separates the classes: their means are in order along it, far apart.
    means = np.array([s.get_offsets()[:, 0].mean() for s in scatters])
    assert np.all(np.diff(means) > 0) or np.all(np.diff(means) < 0)
    assert abs(means[2] - means[0]) > 3 * max(s.get_offsets()[:, 0].std() for s in scatters)


@pytest.mark.parametrize(
    ("features", "y", "message"),
    [
        (np.zeros((10, 1)), np.zeros(10), "n_features >= 2"),
        (np.zeros(10), np.zeros(10), "shape"),
        (np.zeros((10, 3)), np.zeros(9), r"expected \(10,\)"),
    ],
)
def test_plot_features_rejects_invalid_input(
    features: np.ndarray, y: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_features(features, y)


def test_plotting_without_matplotlib_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    # A None entry in sys.modules makes the import raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "sk_eegm2\[plot\]"'):
        plot_reconstruction(*windows, SFREQ)
    with pytest.raises(ImportError, match=r"sk_eegm2\[plot\]"):
        plot_history(make_history(valid=True))
