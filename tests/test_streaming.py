"""Pretraining on recordings read from disk a window at a time: corpora larger than memory."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import mne
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, RandomSampler

import sk_eegm2.pretrainer
from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2._training import ShuffleSampler
from sk_eegm2.datasets import make_windows
from sk_eegm2.streaming import RecordingWindows

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def recording(seconds, sfreq=64.0, names=("Fz", "Cz", "Pz"), seed=0, types="eeg"):
    rng = np.random.default_rng(seed)
    info = mne.create_info(list(names), sfreq, types)
    return mne.io.RawArray(rng.standard_normal((len(names), round(seconds * sfreq))) * 1e-5, info)


@pytest.fixture(scope="module")
def fif_files(tmp_path_factory):
    """Four FIF recordings of 20, 13.5, 9 and 1.5 s at 64 Hz (the last shorter than a window)."""
    folder = tmp_path_factory.mktemp("fif")
    paths = []
    for index, seconds in enumerate((20, 13.5, 9, 1.5)):
        path = folder / f"rec{index}_raw.fif"
        recording(seconds, seed=index).save(path, verbose=False)
        paths.append(path)
    return paths


def weights(estimator):
    return {k: v.detach().clone() for k, v in estimator.net_.module_.state_dict().items()}


# --------------------------------------------------------------------------- the dataset
def test_windows_are_those_make_windows_cuts(fif_files):
    windows = RecordingWindows(fif_files, window_seconds=4.0, stride_seconds=1.5)
    expected = [
        make_windows(mne.io.read_raw(p, verbose=False), 4.0, 1.5, verbose=False)
        for p in fif_files[:3]
    ]
    assert list(windows.window_counts) == [len(e) for e in expected] + [0]
    assert len(windows) == sum(len(e) for e in expected)
    reference = np.concatenate([e.get_data(units="uV") for e in expected]).astype(np.float32)
    read = np.stack([windows[i] for i in range(len(windows))])
    assert read.dtype == np.float32 and read.shape == (len(windows), 3, 256)
    np.testing.assert_allclose(read, reference, rtol=1e-6)
    assert windows.locate(len(expected[0])) == (1, 0)
    assert windows.locate(-1) == (2, (len(expected[2]) - 1) * 96)
    assert windows.sfreq == 64.0 and windows.ch_names == ["Fz", "Cz", "Pz"]
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_raw_objects_edf_files_and_channel_names(tmp_path):
    edf = tmp_path / "a.edf"
    recording(10, names=("Cz", "Fz", "EOG"), types=["eeg", "eeg", "eog"]).export(edf)
    fif = tmp_path / "b_raw.fif"
    recording(10, seed=1).save(fif)
    # By name, channels are read in the order asked for, whatever each file's order.
    windows = RecordingWindows([edf, recording(10, seed=2), fif], 2.0, picks=["Fz", "Cz"])
    assert windows.ch_names == ["Fz", "Cz"] and list(windows.window_counts) == [5, 5, 5]
    in_edf = mne.io.read_raw(edf, verbose=False).get_data(["Fz", "Cz"], 0, 128, units="uV")
    np.testing.assert_allclose(windows[0], in_edf, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="channels"):  # by type, EDF has Cz, Fz: another order
        RecordingWindows([edf, fif], 2.0)
    with pytest.raises(ValueError, match="lacks the channels"):
        RecordingWindows([edf, fif], 2.0, picks=["Fz", "Oz"])
    with pytest.raises(ValueError, match="Resample the corpus"):
        RecordingWindows([fif, recording(10, sfreq=128.0)], 2.0)
    with pytest.raises(ValueError, match="No recording is as long"):
        RecordingWindows([fif], 60.0)


def test_open_files_are_bounded_and_not_pickled(fif_files):
    windows = RecordingWindows(fif_files, 2.0, max_open=2)
    for index in range(len(windows)):
        windows[index]
    assert len(windows._open) == 2
    copy = pickle.loads(pickle.dumps(windows))  # as DataLoader workers get it under spawn
    assert not copy._open  # they open their own files
    np.testing.assert_array_equal(copy[7], windows[7])


def test_shuffle_sampler_draws_the_order_of_dataloader_shuffle():
    torch.manual_seed(3)
    ours = [list(ShuffleSampler(1000)) for _ in range(2)]
    torch.manual_seed(3)
    torch_order = [list(RandomSampler(range(1000))) for _ in range(2)]
    assert ours == torch_order and ours[0] != ours[1]


# ------------------------------------------------------------------ fitting from the disk
class Windows(Dataset):
    """A generic PyTorch dataset: (window, label) tuples, as braindecode's give."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return torch.from_numpy(self.X[index]), 0


def test_streaming_trains_the_same_network_as_arrays(fif_files):
    settings = {**TINY, "max_epochs": 2, "batch_size": 8, "random_state": 0}
    windows = RecordingWindows(fif_files, 2.0)
    X = np.stack([windows[i] for i in range(len(windows))])
    from_arrays = EEGM2Pretrainer(**settings, validation_fraction=0).fit(X)
    from_paths = EEGM2Pretrainer(**settings, validation_fraction=0, window_seconds=2.0)
    from_paths.fit([str(p) for p in fif_files])
    from_dataset = EEGM2Pretrainer(**settings, validation_fraction=0, num_workers=2)
    from_dataset.fit(Windows(X))
    expected = weights(from_arrays)
    for fitted in (from_paths, from_dataset):
        for key, value in weights(fitted).items():
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    assert (from_paths.n_chans_, from_paths.n_times_) == (3, 128)
    assert from_paths.sfreq_ == 64.0 and from_paths.ch_names_ == ["Fz", "Cz", "Pz"]
    assert from_dataset.sfreq_ is None and from_dataset.n_times_ == 128
    np.testing.assert_array_equal(from_paths.transform(X), from_arrays.transform(X))


def test_validation_holds_out_whole_recordings(fif_files, monkeypatch):
    splits = []
    original = sk_eegm2.pretrainer.split_stream

    def spy(windows, *args):
        train, valid = original(windows, *args)
        splits.append((train[0].windows, valid.windows))
        return train, valid

    monkeypatch.setattr(sk_eegm2.pretrainer, "split_stream", spy)
    windows = RecordingWindows(fif_files, 2.0)
    settings = {**TINY, "max_epochs": 1, "validation_fraction": 0.34, "random_state": 0}
    pretrainer = EEGM2Pretrainer(**settings).fit(windows)
    train, valid = splits[0]
    assert len(train) + len(valid) == len(windows)
    assert not set(train._recordings) & set(valid._recordings)
    assert str(fif_files[3]) not in train._recordings + valid._recordings  # no window in it
    assert "valid_loss" in pretrainer.history_[-1]
    # Recordings of one subject stay together: two subjects, so one is held out.
    EEGM2Pretrainer(**settings).fit(windows, groups=[0, 0, 1, 1])
    train, valid = splits[1]
    assert {str(p) for p in fif_files[:2]} in (set(train._recordings), set(valid._recordings))
    with pytest.raises(ValueError, match="one per recording"):
        EEGM2Pretrainer(**settings).fit(windows, groups=[0, 1])


def test_global_scaling_is_estimated_from_a_sample_of_windows(fif_files):
    windows = RecordingWindows(fif_files, 1.0)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, scaling="global").fit(windows)
    everything = np.stack([windows[i] for i in range(len(windows))])
    assert len(windows) < 1000  # all read: the estimate is exact
    assert pretrainer.scale_ == pytest.approx(np.percentile(np.abs(everything), 95), rel=1e-5)


def test_a_bad_window_or_dataset_gets_a_clear_error():
    X = np.random.default_rng(0).standard_normal((16, 2, 32)).astype(np.float32)
    X[5, 1, 3] = np.nan
    with pytest.raises(ValueError, match="Window 5 contains NaN"):
        EEGM2Pretrainer(**TINY, max_epochs=1, validation_fraction=0).fit(Windows(X))
    with pytest.raises(ValueError, match=r"windows have shape \(32,\)"):
        EEGM2Pretrainer(**TINY).fit(Windows(X[:, 0]))
    with pytest.raises(ValueError, match="at least 4 time points"):
        EEGM2Pretrainer(**TINY).fit(Windows(X[..., :3]))
    fitted = EEGM2Pretrainer(**TINY, max_epochs=1).fit(np.nan_to_num(X))
    with pytest.raises(TypeError, match=r"EEGM2Pretrainer\.fit only"):
        fitted.transform(["recording.edf"])


def test_long_windows_of_30_seconds(tmp_path):
    paths = []
    for index in range(2):
        paths.append(tmp_path / f"long{index}_raw.fif")
        recording(95, sfreq=128.0, seed=index).save(paths[-1])
    windows = RecordingWindows(paths, window_seconds=30.0, stride_seconds=15.0)
    assert windows.n_times == 3840 and len(windows) == 10
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, batch_size=4, validation_fraction=0.5, random_state=0
    ).fit(windows)
    assert pretrainer.n_times_ == 3840 and np.isfinite(pretrainer.history_[-1]["valid_loss"])
    assert pretrainer.transform(np.stack([windows[0], windows[9]])).shape == (2, 72)


# ------------------------------------------------------------------- memory: the point
# A child process indexes the corpus, then pretrains one epoch on every window, and prints
# how far its resident set rose above where it stood before fit. The peak is Linux's VmHWM,
# reset to the current size just before fit: ru_maxrss would not do, as a process started
# with subprocess inherits in it the peak of its parent (here pytest's, after writing the
# corpus), which can hide the child's own.
MEMORY = """
import sys, numpy as np, torch
torch.set_num_threads(1)
from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2.streaming import RecordingWindows

def status_mb(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key)) / 1024

windows = RecordingWindows(sys.argv[1:], window_seconds=0.5)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the current size (VmRSS)
before = status_mb("VmRSS:")
pretrainer = EEGM2Pretrainer(widths=(4, 8), d_state=4, expand=2, headdim=4, chunk_size=16,
                             max_epochs=1, batch_size=16, random_state=0).fit(windows)
sizes = [b.get("train_batch_size", 0) + b.get("valid_batch_size", 0)
         for b in pretrainer.history_[-1]["batches"]]
print(status_mb("VmHWM:") - before, len(windows) * windows[0].nbytes / 2**20, sum(sizes),
      len(windows))
"""


def write_corpus(folder, n_files, seconds):
    """``n_files`` FIF recordings of 256 EEG channels at 256 Hz, float32 on disk."""
    rng = np.random.default_rng(0)
    info = mne.create_info([f"E{i}" for i in range(256)], 256.0, "eeg")
    folder.mkdir()
    paths = []
    for index in range(n_files):
        data = rng.standard_normal((256, round(seconds * 256)), dtype=np.float32) * 1e-5
        paths.append(str(folder / f"part{index:02d}_raw.fif"))
        mne.io.RawArray(data, info, verbose=False).save(paths[-1], verbose=False)
    return paths


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="measures peak memory through Linux's /proc"
)
def test_pretraining_on_a_corpus_four_times_the_memory_budget(tmp_path):
    budget_mb = 200
    small = write_corpus(tmp_path / "small", 2, 195)  # 98 MiB
    large = write_corpus(tmp_path / "large", 16, 195)  # 780 MiB
    corpus_mb = sum(os.path.getsize(p) for p in large) / 2**20
    assert corpus_mb > 3.8 * budget_mb

    def peak_growth(paths):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY, *paths],
            check=True,
            capture_output=True,
            text=True,
            env=ENV,
        ).stdout.split()
        return float(out[0]), float(out[1]), int(out[2]), int(out[3])

    growth_small, *_ = peak_growth(small)
    growth, windows_mb, seen, n_windows = peak_growth(large)
    # Every window of the corpus went through the network (training or validation).
    assert windows_mb > 0.99 * corpus_mb and seen == n_windows == 16 * 390
    assert growth < budget_mb, (growth, corpus_mb)
    # Memory does not grow with the corpus: eight times the data, the same peak.
    assert growth - growth_small < 32, (growth_small, growth)
