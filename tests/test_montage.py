"""Montage and rate adaptation: channels="match" / "interpolate", resample=True."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from torch.utils.data import Dataset

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.datasets import load_eegbci, load_eegmat
from sk_eegm2.datasets.eegmat import EEGMAT_CHANNELS
from sk_eegm2.datasets.windows import _standard_1020
from sk_eegm2.montage import (
    CHANNEL_ALIASES,
    Adaptation,
    AdaptationWarning,
    adapt_stream,
    adapt_windows,
    channel_key,
    match_channels,
)
from sk_eegm2.streaming import RecordingWindows
from sk_eegm2.validation import EEGData, InputShape

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
#: Ten 10-20 channels under their old names, as EEGMAT's files name them.
NAMES = ["Fp1", "Fp2", "F3", "F4", "T3", "T4", "C3", "C4", "T5", "T6", "O1", "O2", "Cz"]


def make_epochs(names, sfreq=64.0, n=12, n_times=64, seed=0):
    """Random EEG epochs (volts) with the given channel names."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, len(names), n_times)) * 1e-5
    info = mne.create_info(list(names), sfreq, "eeg")
    return mne.EpochsArray(data, info, verbose=False)


@pytest.fixture(scope="module")
def fitted():
    """A tiny pretrainer fitted on Epochs named with the old 10-20 names."""
    return EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(make_epochs(NAMES))


def test_alias_table_and_spellings():
    assert CHANNEL_ALIASES == {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
    for old, new in CHANNEL_ALIASES.items():
        assert channel_key(old) == channel_key(new) == new.lower()
    for spelling in ("EEG Fp1", "fp1", "FP1-REF", "EEG FP1-LE", "Fp1."):
        assert channel_key(spelling) == "fp1"
    assert channel_key("Fz") != channel_key("Cz")
    positions, missing = match_channels(["EEG T7", "cz", "P8"], ["Cz", "T3", "T6", "O1"])
    assert positions == [1, 0, 2, None]
    assert missing == ["O1"]
    with pytest.raises(ValueError, match="'T3' and 'T7', which name the same electrode"):
        match_channels(["T3", "T7"], ["T3"])


def test_the_template_montage_places_old_and_new_names_alike():
    positions = mne.channels.make_standard_montage(_standard_1020()).get_positions()["ch_pos"]
    for old, new in CHANNEL_ALIASES.items():
        np.testing.assert_array_equal(positions[old], positions[new])


def test_match_picks_and_reorders_by_name(fitted):
    epochs = make_epochs(NAMES)
    expected = fitted.transform(epochs)
    # Other spellings, another order, and an extra channel.
    renamed = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8", "Fp1": "EEG FP1"}
    shuffled = epochs.copy().rename_channels(renamed)
    extra = make_epochs(["Pz"], n=len(epochs), seed=1)
    shuffled.add_channels([extra], force_update_info=True)
    order = list(reversed(shuffled.ch_names))
    shuffled.reorder_channels(order)
    with pytest.raises(ValueError, match="channels='match'"):
        fitted.transform(shuffled)
    adapted = fitted.set_params(channels="match")
    with pytest.warns(AdaptationWarning, match="T7 as T3"):
        features = adapted.transform(shuffled)
    np.testing.assert_array_equal(features, expected)
    (record,) = adapted.adaptation_
    assert ("EEG FP1", "Fp1") in record.renamed
    assert record.dropped == ("Pz",)
    assert record.reordered and not record.interpolated and record.resampled is None
    adapted.transform(epochs)  # as fitted: nothing done, nothing recorded
    assert adapted.adaptation_ == ()
    fitted.set_params(channels="strict")


def test_match_refuses_missing_channels_naming_them(fitted):
    partial = make_epochs(NAMES).drop_channels(["Cz", "T4"])
    with pytest.raises(ValueError, match=r"lacks the fitted channels \['T4', 'Cz'\]"):
        fitted.set_params(channels="match").transform(partial)
    fitted.set_params(channels="strict")


def test_arrays_cannot_be_matched_by_name(fitted):
    X = make_epochs(NAMES).get_data(units="uV")
    with pytest.raises(ValueError, match="X carries no channel names"):
        fitted.set_params(channels="match").transform(X)
    fitted.set_params(channels="strict")
    on_arrays = EEGM2Pretrainer(**TINY, max_epochs=1, channels="match", random_state=0)
    with pytest.raises(ValueError, match="the fitted windows carried no channel names"):
        on_arrays.fit(X).transform(make_epochs(NAMES))


def test_interpolated_channels_equal_mnes_own_interpolation():
    epochs = make_epochs(NAMES, seed=3)
    present = epochs.copy().drop_channels(["Cz", "T4"])
    eeg = EEGData(present.get_data(units="uV").astype(np.float32), 64.0, present.ch_names)
    target = InputShape(len(NAMES), 64, 64.0, NAMES)
    adapted, record = adapt_windows(eeg, target, "interpolate", resample=False)
    assert record == Adaptation(interpolated=("T4", "Cz"))

    # MNE's own interpolation of the same data: the missing channels marked bad.
    zeros = mne.EpochsArray(
        np.zeros((len(epochs), 2, 64)), mne.create_info(["T4", "Cz"], 64.0, "eeg"), verbose=False
    )
    reference = present.copy().add_channels([zeros], force_update_info=True)
    reference.set_montage(_standard_1020())
    reference.info["bads"] = ["T4", "Cz"]
    reference.interpolate_bads(reset_bads=True, verbose=False)
    expected = reference.reorder_channels(NAMES).get_data(units="uV")
    assert adapted.ch_names == NAMES
    np.testing.assert_allclose(adapted.X, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    kept = [NAMES.index(name) for name in present.ch_names]
    np.testing.assert_array_equal(adapted.X[:, kept], eeg.X)
    with pytest.raises(ValueError, match=r"lacks the fitted channels \['T4', 'Cz'\]"):
        adapt_windows(eeg, target, "match", resample=False)


def test_resampling_equals_mnes(fitted):
    epochs = make_epochs(NAMES, sfreq=80.0, n_times=80, seed=4)
    eeg = EEGData(epochs.get_data(units="uV").astype(np.float32), 80.0, NAMES)
    adapted, record = adapt_windows(eeg, InputShape(13, 64, 64.0, NAMES), "strict", True)
    assert record == Adaptation(resampled=(80.0, 64.0))
    expected = epochs.copy().resample(64.0, verbose=False).get_data(units="uV")
    np.testing.assert_allclose(adapted.X, expected, rtol=1e-4, atol=1e-4)
    assert adapted.sfreq == 64.0 and adapted.X.shape == (12, 13, 64)
    with pytest.raises(ValueError, match="resample=True"):
        fitted.transform(epochs)
    with pytest.warns(AdaptationWarning, match="resampled from 80 to 64 Hz"):
        features = fitted.set_params(resample=True).transform(epochs)
    assert features.shape == (12, 9 * TINY["widths"][-1])
    fitted.set_params(resample=False)


def test_a_classifier_brings_its_input_to_the_pretrained_network(fitted):
    names = ["Pz", *(name for name in reversed(NAMES) if name != "T3")]
    epochs = make_epochs(names, sfreq=80.0, n=16, n_times=80, seed=5)
    y = np.arange(16) % 2
    clf = EEGM2Classifier(pretrained=fitted, mode="light", max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="channels"):
        clf.fit(epochs, y)
    clf.set_params(channels="interpolate", resample=True)
    with pytest.warns(AdaptationWarning):
        clf.fit(epochs, y)
    assert clf.ch_names_ == NAMES and clf.sfreq_ == 64.0
    (record,) = clf.adaptation_
    assert record.interpolated == ("T3",) and record.resampled == (80.0, 64.0)
    assert clf.predict(epochs).shape == (16,)


def test_one_fit_on_epochs_of_several_montages_and_rates():
    first = make_epochs(NAMES, n=10)
    second = make_epochs([*NAMES[::-1], "Pz"], sfreq=128.0, n=6, n_times=128, seed=6)
    second.rename_channels({"T3": "T7"})
    with pytest.raises(ValueError, match="differ in sampling rate or EEG channels"):
        EEGM2Pretrainer(**TINY, max_epochs=1).fit([first, second])
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, channels="match", resample=True, random_state=0
    )
    with pytest.warns(AdaptationWarning, match="resampled from 128 to 64 Hz"):
        pretrainer.fit([first, second])
    assert pretrainer.ch_names_ == NAMES and pretrainer.sfreq_ == 64.0
    assert pretrainer.n_times_ == 64
    (record,) = pretrainer.adaptation_
    assert record.dropped == ("Pz",) and record.renamed == (("T7", "T3"),)


def test_windows_of_different_durations_are_refused():
    first = make_epochs(NAMES, n=4)
    second = make_epochs(NAMES, sfreq=128.0, n=4, n_times=64, seed=7)  # half the duration
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, resample=True)
    with pytest.raises(ValueError, match="64 and 32 time points"):
        pretrainer.fit([first, second])


class NamedWindows(Dataset):
    """Windows in memory, with the channel names and rate that datasets may carry."""

    def __init__(self, epochs):
        self.data = epochs.get_data(units="uV").astype(np.float32)
        self.ch_names = epochs.ch_names
        self.sfreq = epochs.info["sfreq"]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


def test_a_dataset_is_adapted_window_by_window_as_windows_in_memory_are():
    epochs = make_epochs(["Pz", *(n for n in reversed(NAMES) if n != "T3")], 128.0, 4, 128, 8)
    target = InputShape(len(NAMES), 64, 64.0, NAMES)
    stream, record = adapt_stream(NamedWindows(epochs), target, "interpolate", resample=True)
    eeg = EEGData(NamedWindows(epochs).data, 128.0, epochs.ch_names)
    in_memory, same = adapt_windows(eeg, target, "interpolate", resample=True)
    assert record == same and record.interpolated == ("T3",)
    assert (stream.ch_names, stream.sfreq, len(stream)) == (NAMES, 64.0, 4)
    np.testing.assert_allclose(
        np.stack([stream[i] for i in range(4)]), in_memory.X, rtol=1e-4, atol=1e-3
    )
    unchanged = NamedWindows(make_epochs(NAMES))
    assert adapt_stream(unchanged, target, "match", resample=True) == (unchanged, None)


def test_one_fit_on_datasets_of_several_montages_and_rates():
    first = NamedWindows(make_epochs(NAMES, n=10))
    second = NamedWindows(make_epochs(["Pz", *NAMES[1:]], sfreq=128.0, n=6, n_times=128))
    with pytest.raises(ValueError, match="datasets differ in sampling rate or channels"):
        EEGM2Pretrainer(**TINY, max_epochs=1).fit([first, second])
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, channels="interpolate", resample=True, random_state=0
    )
    with pytest.warns(AdaptationWarning, match="adapted a dataset"):
        pretrainer.fit([first, second])
    assert pretrainer.ch_names_ == NAMES and pretrainer.sfreq_ == 64.0
    assert pretrainer.n_windows_ == 16
    (record,) = pretrainer.adaptation_
    assert record.interpolated == ("Fp1",) and record.resampled == (128.0, 64.0)


def test_an_eegmat_pretrainer_takes_eegbci_epochs_adapted(eegmat_path, eegbci_path):
    eegmat, _, _ = load_eegmat([0], path=eegmat_path, window_seconds=2.0)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(eegmat[:24])
    assert pretrainer.sfreq_ == 128.0 and "T3" in pretrainer.ch_names_
    eegbci, _, _ = load_eegbci(1, runs=(4,), path=eegbci_path, window_seconds=2.0)
    assert len(eegbci.ch_names) == 64 and eegbci.info["sfreq"] == 160.0
    with pytest.raises(ValueError, match="channels"):
        pretrainer.transform(eegbci)
    pretrainer.set_params(channels="match")
    with pytest.raises(ValueError, match="resample=True"):
        pretrainer.transform(eegbci)
    pretrainer.set_params(channels="interpolate", resample=True)
    with pytest.warns(AdaptationWarning, match="resampled from 160 to 128 Hz"):
        features = pretrainer.transform(eegbci)
    assert features.shape == (len(eegbci), 9 * TINY["widths"][-1])
    assert np.isfinite(features).all()
    (record,) = pretrainer.adaptation_
    assert ("T7", "T3") in record.renamed and len(record.dropped) == 64 - 19
    # Without a channel EEGBCI has, "interpolate" makes it up from the others.
    without_cz = eegbci.copy().drop_channels(["Cz"])
    pretrainer.transform(without_cz)
    assert pretrainer.adaptation_[0].interpolated == ("Cz",)


def test_one_fit_pretrains_on_eegmat_and_eegbci_recordings_from_disk(eegmat_path, eegbci_path):
    eegmat_names = ["EEG " + name for name in EEGMAT_CHANNELS]
    eegmat = RecordingWindows(
        [eegmat_path / "Subject00_1.edf", eegmat_path / "Subject00_2.edf"], 2.0,
        picks=eegmat_names,
    )  # fmt: skip
    eegbci = RecordingWindows(sorted(eegbci_path.rglob("S001R04.edf")), 2.0)
    assert eegbci.sfreq == 160.0 and eegbci.n_chans == 64
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, channels="match", resample=True, random_state=0
    )
    with pytest.warns(AdaptationWarning, match=f"resampled from 160 to {eegmat.sfreq:g} Hz"):
        pretrainer.fit([eegmat, eegbci])
    assert pretrainer.ch_names_ == eegmat_names and pretrainer.sfreq_ == eegmat.sfreq
    assert pretrainer.n_windows_ == len(eegmat) + len(eegbci)
    (record,) = pretrainer.adaptation_
    assert ("T7..", "EEG T3") in record.renamed and len(record.dropped) == 64 - 19


def test_one_fit_pretrains_on_eegmat_and_eegbci_together(eegmat_path, eegbci_path):
    eegmat, _, _ = load_eegmat([0], path=eegmat_path, window_seconds=2.0)
    eegbci, _, _ = load_eegbci(1, runs=(4,), path=eegbci_path, window_seconds=2.0)
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, channels="match", resample=True, random_state=0
    )
    with pytest.warns(AdaptationWarning):
        pretrainer.fit([eegmat[:16], eegbci])
    assert pretrainer.ch_names_ == eegmat.ch_names and pretrainer.sfreq_ == 128.0
    assert len(pretrainer.history_) == 1
    assert pretrainer.transform(eegbci).shape[0] == len(eegbci)
