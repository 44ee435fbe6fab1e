"""Tests of ``sk_eegm2.datasets``: window cutting, and the EEGMAT and EEGBCI loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mne
import numpy as np
import pytest

import sk_eegm2.datasets.eegmat as eegmat_module
from sk_eegm2.datasets import load_eegbci, load_eegmat, make_windows
from sk_eegm2.datasets.eegbci import EEGBCI_PATH_ENV
from sk_eegm2.datasets.eegmat import DATA_HOME_ENV, EEGMAT_CHANNELS, EEGMAT_PATH_ENV

# Recording lengths in seconds, from the data README: rest is 182 s except for a few subjects.
REST_SECONDS = {0: 182, 31: 80}
TASK_SECONDS = 62


def n_windows(duration: float, window: float, stride: float) -> int:
    """Number of windows of ``window`` s every ``stride`` s that fit in ``duration`` s."""
    return int((duration - window) // stride) + 1


# --------------------------------------------------------------------------- make_windows


@pytest.fixture
def raw() -> mne.io.RawArray:
    """10.5 s at 100 Hz: 3 EEG channels holding their sample index, and one ECG channel."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 1050)) * 1e-5
    data[:3] = np.arange(1050) * [[1.0], [2.0], [3.0]]
    info = mne.create_info(["C3", "Cz", "C4", "ECG"], 100.0, ["eeg", "eeg", "eeg", "ecg"])
    return mne.io.RawArray(data, info, verbose="error")


def test_make_windows_cuts_back_to_back_eeg_windows(raw: mne.io.RawArray) -> None:
    epochs = make_windows(raw, 2.0)
    data = epochs.get_data()
    # 10.5 s holds five whole 2 s windows; the last 0.5 s is left out.
    assert data.shape == (5, 3, 200)
    assert epochs.ch_names == ["C3", "Cz", "C4"]
    np.testing.assert_array_equal(epochs.events[:, 0], [0, 200, 400, 600, 800])
    # Each window is the matching stretch of the recording.
    np.testing.assert_array_equal(data[2], raw.get_data(picks="eeg")[:, 400:600])


def test_make_windows_overlap(raw: mne.io.RawArray) -> None:
    epochs = make_windows(raw, 2.0, stride_seconds=0.5)
    assert len(epochs) == n_windows(10.5, 2.0, 0.5) == 18
    np.testing.assert_array_equal(np.diff(epochs.events[:, 0]), 50)
    np.testing.assert_array_equal(epochs.get_data()[1, 0], np.arange(50, 250))


def test_make_windows_resamples_a_copy(raw: mne.io.RawArray) -> None:
    before = raw.get_data()
    epochs = make_windows(raw, 2.0, sfreq=50.0, picks=["Cz", "ECG"])
    assert epochs.info["sfreq"] == 50.0
    assert epochs.get_data().shape == (5, 2, 100)
    assert epochs.ch_names == ["Cz", "ECG"]
    # The caller's recording keeps its rate, channels and data.
    assert raw.info["sfreq"] == 100.0
    assert raw.ch_names == ["C3", "Cz", "C4", "ECG"]
    np.testing.assert_array_equal(raw.get_data(), before)


def test_make_windows_drops_windows_over_bad_annotations(raw: mne.io.RawArray) -> None:
    raw.set_annotations(mne.Annotations(onset=[2.5], duration=[0.5], description=["BAD_blink"]))
    assert len(make_windows(raw, 2.0)) == 4
    assert len(make_windows(raw, 2.0, reject_by_annotation=False)) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_seconds": 11.0}, "longer than the recording"),
        ({"window_seconds": 0.0}, "window_seconds must be positive"),
        ({"window_seconds": 2.0, "stride_seconds": 0.0}, "stride_seconds must be a positive"),
        ({"window_seconds": 2.0, "stride_seconds": 3.0}, "must not exceed window_seconds"),
        ({"window_seconds": 2.0, "sfreq": -1.0}, "sfreq must be a positive"),
    ],
)
def test_make_windows_rejects_invalid_arguments(
    raw: mne.io.RawArray, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_windows(raw, **kwargs)


def test_make_windows_rejects_epochs(raw: mne.io.RawArray) -> None:
    with pytest.raises(TypeError, match="continuous recording"):
        make_windows(make_windows(raw, 2.0), 1.0)


# --------------------------------------------------------------------------- EEGMAT


@pytest.fixture(scope="module")
def eegmat_two(eegmat_path: Path) -> tuple[mne.BaseEpochs, np.ndarray, np.ndarray]:
    """Subjects 0 (182 s of rest) and 31 (80 s of rest) as 2 s windows."""
    X, y, groups = load_eegmat([0, 31], path=eegmat_path, verbose="error")
    assert isinstance(X, mne.BaseEpochs)
    return X, y, groups


def test_load_eegmat_windows(eegmat_two: tuple[mne.BaseEpochs, np.ndarray, np.ndarray]) -> None:
    X, _, _ = eegmat_two
    assert X.get_data().shape == (len(X), 19, 256)
    assert X.info["sfreq"] == 128.0
    assert X.ch_names == list(EEGMAT_CHANNELS)
    assert X.ch_names[:2] == ["Fp1", "Fp2"]
    # The montage gave every channel a position.
    assert not np.isnan(np.array([ch["loc"][:3] for ch in X.info["chs"]])).any()
    expected = {
        f"Subject{s:02d}_{r}": n_windows(seconds, 2.0, 2.0)
        for s in REST_SECONDS
        for r, seconds in ((1, REST_SECONDS[s]), (2, TASK_SECONDS))
    }
    assert X.metadata.groupby("recording").size().to_dict() == expected
    assert len(X) == sum(expected.values()) == 91 + 31 + 40 + 31


def test_load_eegmat_labels_and_groups(
    eegmat_two: tuple[mne.BaseEpochs, np.ndarray, np.ndarray],
) -> None:
    X, y, groups = eegmat_two
    assert y.dtype == np.int64
    assert groups.dtype == np.int64
    assert list(X.metadata.columns) == ["subject", "label", "recording"]
    np.testing.assert_array_equal(y, X.metadata["label"])
    np.testing.assert_array_equal(groups, X.metadata["subject"])
    np.testing.assert_array_equal(y, X.metadata["recording"].str.endswith("_2"))
    np.testing.assert_array_equal(groups, X.metadata["recording"].str[7:9].astype(int))
    assert set(groups) == {0, 31}
    # Event codes are the labels, so windows can be selected by name.
    np.testing.assert_array_equal(X.events[:, 2], y)
    assert X.event_id == {"rest": 0, "arithmetic": 1}
    assert len(X["arithmetic"]) == (y == 1).sum() == 62


def test_load_eegmat_array_in_microvolts(
    eegmat_path: Path, eegmat_two: tuple[mne.BaseEpochs, np.ndarray, np.ndarray]
) -> None:
    X, y, groups = load_eegmat([0, 31], path=eegmat_path, return_epochs=False, verbose="error")
    assert isinstance(X, np.ndarray)
    assert X.dtype == np.float32
    epochs, epochs_y, epochs_groups = eegmat_two
    assert X.shape == epochs.get_data().shape
    np.testing.assert_allclose(X, epochs.get_data() * 1e6, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(y, epochs_y)
    np.testing.assert_array_equal(groups, epochs_groups)
    # Scalp EEG is tens of microvolts: a value in volts would be about 1e-5.
    channel_std = X.std(axis=(0, 2))
    assert np.all((channel_std > 1.0) & (channel_std < 200.0))


def test_load_eegmat_overlap_and_resampling(eegmat_path: Path) -> None:
    X, y, _ = load_eegmat(0, path=eegmat_path, stride_seconds=1.0, sfreq=64.0, verbose="error")
    assert isinstance(X, mne.BaseEpochs)
    assert X.info["sfreq"] == 64.0
    assert X.get_data().shape[1:] == (19, 128)
    n_rest = n_windows(REST_SECONDS[0], 2.0, 1.0)
    n_task = n_windows(TASK_SECONDS, 2.0, 1.0)
    assert (n_rest, n_task) == (181, 61)  # about twice the 91 and 31 back-to-back windows
    np.testing.assert_array_equal(np.bincount(y), [n_rest, n_task])


@pytest.mark.slow
def test_load_eegmat_prints_nothing_unless_verbose(
    eegmat_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_eegmat(0, path=eegmat_path)
    assert capfd.readouterr() == ("", "")
    load_eegmat(0, path=eegmat_path, verbose="info")
    assert "matching events found" in "".join(capfd.readouterr())


def test_load_eegmat_path_from_environment(
    eegmat_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EEGMAT_PATH_ENV, str(eegmat_path))
    X, _, groups = load_eegmat(5, window_seconds=4.0, download=False, return_epochs=False)
    assert X.shape == (n_windows(182, 4.0, 4.0) + n_windows(TASK_SECONDS, 4.0, 4.0), 19, 512)
    np.testing.assert_array_equal(groups, 5)


def test_load_eegmat_download_failure_explains_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on the discard port: the download fails at once, as without network.
    monkeypatch.setattr(eegmat_module, "EEGMAT_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv(EEGMAT_PATH_ENV, raising=False)
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path))
    with pytest.raises(OSError, match="could not be reached") as excinfo:
        load_eegmat(3)
    message = str(excinfo.value)
    assert "http://127.0.0.1:9/Subject03_1.edf" in message
    assert EEGMAT_PATH_ENV in message
    assert "path=" in message
    # The cache folder is under SK_EEGM2_DATA, and no partial file was left in it.
    assert str(tmp_path / "eegmat") in message
    assert not (tmp_path / "eegmat" / "Subject03_1.edf").exists()


def test_load_eegmat_missing_file_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without path nor environment variables, files are looked for in ~/sk_eegm2_data/eegmat.
    monkeypatch.delenv(EEGMAT_PATH_ENV, raising=False)
    monkeypatch.delenv(DATA_HOME_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"Subject07_1\.edf") as excinfo:
        load_eegmat([7], download=False)
    message = str(excinfo.value)
    assert str(tmp_path / "sk_eegm2_data" / "eegmat") in message
    assert EEGMAT_PATH_ENV in message


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record pooch's downloads instead of making them (each call's keyword arguments)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(eegmat_module.pooch, "retrieve", lambda url, **kw: calls.append(kw))
    return calls


def test_load_eegmat_named_folder_without_eegmat_files_is_not_downloaded_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: list[dict[str, Any]]
) -> None:
    (tmp_path / "notes.txt").write_text("not EEG")
    with pytest.raises(FileNotFoundError, match="holds no EEGMAT file") as excinfo:
        load_eegmat(0, path=tmp_path)
    message = str(excinfo.value)
    assert "path=" in message
    assert EEGMAT_PATH_ENV in message
    assert DATA_HOME_ENV in message  # where downloads go instead
    # The same for a folder named by the environment variable.
    monkeypatch.setenv(EEGMAT_PATH_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"given by {EEGMAT_PATH_ENV}"):
        load_eegmat(0)
    assert no_download == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_load_eegmat_relative_folder_that_does_not_exist_shows_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: list[dict[str, Any]]
) -> None:
    # As the documentation build once did: a path relative to another working directory.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist") as excinfo:
        load_eegmat(0, path="../shared/data/eegmat")
    assert str((tmp_path / "../shared/data/eegmat").absolute()) in str(excinfo.value)
    assert no_download == []
    assert not (tmp_path.parent / "shared").exists()


def test_load_eegmat_named_folder_with_some_files_downloads_the_missing_ones_into_it(
    eegmat_path: Path, tmp_path: Path, no_download: list[dict[str, Any]]
) -> None:
    (tmp_path / "Subject00_1.edf").symlink_to(eegmat_path / "Subject00_1.edf")
    with pytest.raises(FileNotFoundError, match=r"Subject01_1\.edf is not in"):
        load_eegmat(1, path=tmp_path, download=False)
    # Downloading is mocked (it writes nothing), so reading the file fails afterwards.
    with pytest.raises(FileNotFoundError):
        load_eegmat(1, path=tmp_path)
    assert [(call["fname"], call["path"]) for call in no_download] == [
        ("Subject01_1.edf", tmp_path),
        ("Subject01_2.edf", tmp_path),
    ]


@pytest.mark.parametrize(
    ("subjects", "error"),
    [
        (36, ValueError),
        (-1, ValueError),
        ([0, 36], ValueError),
        ([], ValueError),
        ([1, 1], ValueError),
        ([True], ValueError),
        (2.5, TypeError),
        ("3", TypeError),
    ],
)
def test_load_eegmat_rejects_invalid_subjects(
    subjects: object, error: type[Exception], tmp_path: Path
) -> None:
    with pytest.raises(error, match="subjects"):
        load_eegmat(subjects, path=tmp_path, download=False)  # type: ignore[arg-type]


def test_load_eegmat_checks_window_before_looking_for_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not exceed window_seconds"):
        load_eegmat(0, path=tmp_path, stride_seconds=3.0, download=False)


# --------------------------------------------------------------------------- EEGBCI


@pytest.fixture(scope="module")
def eegbci_imagery(eegbci_path: Path) -> tuple[mne.BaseEpochs, np.ndarray, np.ndarray]:
    """Subject 1, left vs right fist motor imagery (runs 4, 8 and 12)."""
    X, y, groups = load_eegbci(1, path=eegbci_path, verbose="error")
    assert isinstance(X, mne.BaseEpochs)
    return X, y, groups


def test_load_eegbci_imagery_trials(
    eegbci_imagery: tuple[mne.BaseEpochs, np.ndarray, np.ndarray],
) -> None:
    X, y, groups = eegbci_imagery
    # 15 trials per run; 0 to 4 s at 160 Hz, both ends included.
    assert X.get_data().shape == (45, 64, 641)
    assert X.info["sfreq"] == 160.0
    assert X.baseline is None
    # Standardised names ("Fc5." in the files) with positions from the montage.
    assert {"FC5", "Cz", "Oz"} <= set(X.ch_names)
    assert not any(name.endswith(".") for name in X.ch_names)
    assert not np.isnan(np.array([ch["loc"][:3] for ch in X.info["chs"]])).any()
    assert X.event_id == {"left_fist": 0, "right_fist": 1}
    assert y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert 15 <= (y == 0).sum() <= 30
    np.testing.assert_array_equal(y, X.events[:, 2])
    np.testing.assert_array_equal(y, X.metadata["label"])
    np.testing.assert_array_equal(groups, 1)
    assert X.metadata["run"].value_counts().to_dict() == {4: 15, 8: 15, 12: 15}


def test_load_eegbci_array_windows(eegbci_path: Path) -> None:
    X, _, _ = load_eegbci(
        1, 4, path=eegbci_path, window_seconds=2.0, tmin=0.5, return_epochs=False, verbose="error"
    )
    assert isinstance(X, np.ndarray)
    assert X.dtype == np.float32
    assert X.shape == (15, 64, 320)  # exactly 2 s at 160 Hz
    channel_std = X.std(axis=(0, 2))
    assert np.all((channel_std > 1.0) & (channel_std < 200.0))


def test_load_eegbci_feet_runs_and_resampling(eegbci_path: Path) -> None:
    X, y, _ = load_eegbci(1, [6, 10], path=eegbci_path, sfreq=80.0, verbose="error")
    assert isinstance(X, mne.BaseEpochs)
    assert X.event_id == {"both_fists": 0, "both_feet": 1}
    assert X.info["sfreq"] == 80.0
    assert X.get_data().shape == (30, 64, 321)
    assert set(np.unique(y)) == {0, 1}


def test_load_eegbci_path_forms(eegbci_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # MNE's own convention: the folder that holds "MNE-eegbci-data".
    X, _, _ = load_eegbci(1, 4, path=eegbci_path.parent, verbose="error")
    assert len(X) == 15
    monkeypatch.setenv(EEGBCI_PATH_ENV, str(eegbci_path))
    X, _, _ = load_eegbci(1, 8, verbose="error")
    assert isinstance(X, mne.BaseEpochs)
    assert X.metadata["run"].unique().tolist() == [8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subject": 0}, "numbered 1 to 109"),
        ({"subject": 110}, "numbered 1 to 109"),
        ({"runs": (4, 6)}, "left/right fist runs"),
        ({"runs": 1}, "left/right fist runs"),
        ({"runs": []}, "runs is empty"),
        ({"runs": (4, 4)}, "must not repeat"),
        ({"tmin": 1.0, "tmax": 1.0}, "tmax"),
        ({"window_seconds": 0.0}, "window_seconds must be positive"),
    ],
)
def test_load_eegbci_rejects_invalid_arguments(
    kwargs: dict[str, object], message: str, tmp_path: Path
) -> None:
    # Checked before any file is looked for: the empty folder is never read.
    with pytest.raises(ValueError, match=message):
        load_eegbci(path=tmp_path, **kwargs)  # type: ignore[arg-type]
