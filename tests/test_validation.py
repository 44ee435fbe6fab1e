"""Input conversion and bad input: clear errors in fit, transform and predict alike."""

from __future__ import annotations

import warnings

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.validation import AmplitudeWarning, check_eeg

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
GOOD = np.random.default_rng(0).standard_normal((12, 2, 16)).astype(np.float32)
LABELS = np.arange(12) % 2


def epochs_with(ch_types, n_epochs=3, n_times=20, sfreq=100.0):
    info = mne.create_info([f"ch{i}" for i in range(len(ch_types))], sfreq, ch_types)
    data = np.random.default_rng(1).standard_normal((n_epochs, len(ch_types), n_times)) * 1e-5
    return mne.EpochsArray(data, info, verbose=False)


# ----------------------------------------------------------------------------- conversion
def test_numpy_torch_and_2d_inputs():
    x64 = GOOD.astype(np.float64)
    for X in (x64, torch.from_numpy(x64), x64.tolist()):
        eeg = check_eeg(X)
        assert eeg.X.dtype == np.float32 and eeg.X.flags.c_contiguous
        np.testing.assert_array_equal(eeg.X, GOOD)
    assert check_eeg(GOOD[:, 0]).X.shape == (12, 1, 16)  # (n, T): one channel
    assert check_eeg(GOOD.astype(np.int32)).X.dtype == np.float32


def test_2d_tables_and_recordings_read_as_one_channel_windows_warn():
    frame = pd.DataFrame(np.random.default_rng(0).standard_normal((40, 256)))
    with pytest.warns(UserWarning, match=r"40 one-channel windows .* DataFrame.*3D array"):
        assert check_eeg(frame).X.shape == (40, 1, 256)
    recording = np.zeros((3000, 19))  # (n_times, n_channels)
    with pytest.warns(UserWarning, match="3000 one-channel windows of 19 time points"):
        check_eeg(recording)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_eeg(np.zeros((40, 256)))  # plausible one-channel windows
        check_eeg(frame.to_numpy()[:, np.newaxis, :])  # the way the warning suggests


def test_epochs_in_microvolts_eeg_only_with_metadata():
    epochs = epochs_with(["eeg", "eeg", "eog", "stim", "eeg"])
    eeg = check_eeg(epochs)
    expected = epochs.get_data(picks="eeg") * 1e6
    np.testing.assert_allclose(eeg.X, expected.astype(np.float32), rtol=1e-6)
    assert eeg.ch_names == ["ch0", "ch1", "ch4"] and eeg.sfreq == 100.0
    # What sklearn's cross-validation makes of an Epochs: a list of one-epoch objects.
    as_list = [epochs[i] for i in range(len(epochs))]
    np.testing.assert_array_equal(check_eeg(as_list).X, eeg.X)


def test_epochs_without_eeg_or_inconsistent_lists_are_refused():
    with pytest.raises(ValueError, match="no EEG channel"):
        check_eeg(epochs_with(["eog", "ecg"]))
    with pytest.raises(ValueError, match="differ in sampling rate"):
        check_eeg([epochs_with(["eeg"]), epochs_with(["eeg"], sfreq=200.0)])


BAD_INPUTS = {
    "nan": (np.where(np.arange(GOOD.size).reshape(GOOD.shape) == 5, np.nan, GOOD), ValueError,
            "NaN or infinity"),
    "inf": (np.where(np.arange(GOOD.size).reshape(GOOD.shape) == 7, np.inf, GOOD), ValueError,
            "NaN or infinity"),
    "1d": (GOOD[0, 0], ValueError, "Reshape your data"),
    "4d": (GOOD[None], ValueError, "got 4D"),
    "empty": (GOOD[:0], ValueError, "0 sample"),
    "no time": (GOOD[..., :0], ValueError, "0 feature"),
    "object": (GOOD.astype(object), TypeError, "object array"),
    "complex": (GOOD.astype(np.complex64), ValueError, "Complex data not supported"),
    "bool": (GOOD > 0, TypeError, "boolean"),
    "string": (GOOD.astype(str), TypeError, "not text"),
    "ragged": ([np.zeros((2, 16)), np.zeros((2, 15))], ValueError, "ragged"),
    "sparse": (scipy.sparse.csr_matrix(GOOD[:, 0]), TypeError, "sparse"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_everywhere(name, fitted):
    X, error, message = BAD_INPUTS[name]
    with pytest.raises(error, match=message):
        check_eeg(X)
    with pytest.raises(error, match=message):
        EEGM2Pretrainer(**TINY).fit(X)
    with pytest.raises(error, match=message):
        n_samples = X.shape[0] if hasattr(X, "shape") and X.ndim else len(X)
        EEGM2Classifier(**TINY).fit(X, LABELS[:n_samples])
    pretrainer, classifier = fitted
    with pytest.raises(error, match=message):
        pretrainer.transform(X)
    with pytest.raises(error, match=message):
        pretrainer.reconstruct(X)
    with pytest.raises(error, match=message):
        classifier.predict(X)


@pytest.fixture(scope="module")
def fitted():
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(GOOD)
    classifier = EEGM2Classifier(**TINY, max_epochs=1, random_state=0).fit(GOOD, LABELS)
    return pretrainer, classifier


def test_too_short_and_wrong_channels(fitted):
    pretrainer, classifier = fitted
    with pytest.raises(ValueError, match="at least 4 time points"):
        EEGM2Pretrainer(**TINY).fit(GOOD[..., :3])
    with pytest.raises(ValueError, match="at least 8 time points"):
        EEGM2Pretrainer().fit(GOOD[..., :7])
    with pytest.raises(ValueError, match="X has 3 channels, but EEGM2Pretrainer was fitted on 2"):
        pretrainer.transform(np.zeros((2, 3, 16), np.float32))
    with pytest.raises(ValueError, match="X has 1 channels, but EEGM2Classifier"):
        classifier.predict(GOOD[:, :1])


def test_channel_names_must_match():
    epochs = epochs_with(["eeg", "eeg"], n_epochs=6, n_times=32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1).fit(epochs)
    with pytest.raises(ValueError, match="reorder"):
        pretrainer.transform(epochs.copy().reorder_channels(["ch1", "ch0"]))


def test_sampling_rate_must_match():
    epochs = epochs_with(["eeg", "eeg"], n_epochs=6, n_times=32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1).fit(epochs)
    assert pretrainer.sfreq_ == 100.0 and pretrainer.ch_names_ == ["ch0", "ch1"]
    with pytest.raises(ValueError, match="resample"):
        pretrainer.transform(epochs_with(["eeg", "eeg"], n_times=32, sfreq=128.0))


def test_arrays_declare_their_rate_and_it_is_checked_like_epochs():
    arrays = np.random.default_rng(0).standard_normal((6, 2, 32)).astype(np.float32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, sfreq=128.0).fit(arrays)
    assert pretrainer.sfreq_ == 128.0
    pretrainer.transform(arrays)  # declared 128 Hz, fitted at 128 Hz
    with pytest.raises(ValueError, match="resample"):
        pretrainer.set_params(sfreq=256.0).transform(arrays)
    with pytest.raises(ValueError, match=r"sfreq=128\.0 was declared"):
        EEGM2Pretrainer(**TINY, max_epochs=1, sfreq=128.0).fit(
            epochs_with(["eeg", "eeg"], n_epochs=6, n_times=32, sfreq=100.0)
        )


def test_a_classifier_compares_declared_rates_with_its_pretrained_network():
    arrays = np.random.default_rng(0).standard_normal((12, 2, 32)).astype(np.float32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, sfreq=128.0).fit(arrays)
    classifier = EEGM2Classifier(pretrained=pretrainer, max_epochs=1, sfreq=255.0)
    with pytest.raises(ValueError, match=r"sampled at 255\.0 Hz"):
        classifier.fit(arrays, LABELS)
    assert classifier.set_params(sfreq=128.0).fit(arrays, LABELS).sfreq_ == 128.0


def test_verbose_2_shows_a_progress_bar_over_batches(capsys):
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, batch_size=4, verbose=2).fit(GOOD)
    assert "progress" in dict(pretrainer.net_.callbacks_)
    # tqdm, on stderr: 12 windows, 11 train in 3 batches of 4 and 1 held out in 1 batch (tqdm
    # redraws at most every 0.1 s, so only the first frame, "0/4", is sure to be written)
    assert "/4 [" in capsys.readouterr().err
    quiet = EEGM2Pretrainer(**TINY, max_epochs=1, verbose=1).fit(GOOD)
    assert "progress" not in dict(quiet.net_.callbacks_)


def test_labels_with_a_single_class_or_wrong_length():
    with pytest.raises(ValueError, match="1 class"):
        EEGM2Classifier(**TINY).fit(GOOD, np.zeros(12))
    with pytest.raises(ValueError, match="12 windows but y has 5"):
        EEGM2Classifier(**TINY).fit(GOOD, LABELS[:5])
    with pytest.raises(ValueError, match="Unknown label type"):
        EEGM2Classifier(**TINY).fit(GOOD, np.linspace(0, 1, 12))


def test_fewer_samples_than_one_batch_still_train():
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=2, batch_size=64, random_state=0)
    pretrainer.fit(GOOD[:5])
    assert len(pretrainer.history_) == 2  # both epochs ran on the one partial batch
    assert pretrainer.history_[-1]["train_batch_count"] == 1


def epochs_named(names, sfreq=100.0, n_epochs=12, scale=1e-5, seed=1):
    """Epochs of EEG channels ``names``, in volts (MNE's unit)."""
    info = mne.create_info(list(names), sfreq, "eeg")
    data = np.random.default_rng(seed).standard_normal((n_epochs, len(names), 32)) * scale
    return mne.EpochsArray(data, info, verbose=False)


@pytest.fixture(scope="module")
def named_pretrainer():
    """A pretrainer fitted on Epochs with channels Fz, Cz, Pz at 100 Hz."""
    return EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(
        epochs_named(["Fz", "Cz", "Pz"])
    )


def test_a_classifier_on_a_pretrainer_checks_channel_names_order_and_rate(named_pretrainer):
    """Fault 5: only the channel count was compared; other orders and rates were fine-tuned."""
    y = np.arange(12) % 2
    classifier = EEGM2Classifier(pretrained=named_pretrainer, max_epochs=1)
    with pytest.raises(ValueError, match="reorder"):
        classifier.fit(epochs_named(["Cz", "Fz", "Pz"]), y)
    with pytest.raises(ValueError, match="resample"):
        classifier.fit(epochs_named(["Fz", "Cz", "Pz"], sfreq=256.0), y)
    classifier.fit(epochs_named(["Fz", "Cz", "Pz"]), y)  # the same channels and rate: fine


def test_input_in_other_units_than_in_fit_warns(named_pretrainer):
    """Fault 6: Epochs (microvolts) at fit, epochs.get_data() (volts) later: no word."""
    epochs = epochs_named(["Fz", "Cz", "Pz"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmplitudeWarning)
        named_pretrainer.transform(epochs)  # the same units: silent
        named_pretrainer.transform(epochs.get_data(units="uV"))
    with pytest.warns(AmplitudeWarning, match="other units"):
        named_pretrainer.transform(epochs.get_data())  # volts
    classifier = EEGM2Classifier(**TINY, max_epochs=1, scaling="global").fit(
        epochs, np.arange(12) % 2
    )
    with pytest.warns(AmplitudeWarning, match="get_data"):
        classifier.predict_proba(epochs.get_data())


def test_channels_marked_bad_are_refused_not_dropped():
    """Fault 10: bad channels were dropped silently; later "19 channels, fitted on 18"."""
    epochs = epochs_named(["Fz", "Cz", "Pz"])
    epochs.info["bads"] = ["Cz"]
    with pytest.raises(ValueError, match=r"info\['bads'\].*interpolate_bads"):
        check_eeg(epochs)


def test_bfloat16_tensors_are_read():
    """Fault 10: bfloat16 tensors failed with "unsupported ScalarType"."""
    tensor = torch.from_numpy(GOOD).to(torch.bfloat16)
    np.testing.assert_array_equal(check_eeg(tensor).X, tensor.float().numpy())


def test_values_beyond_float32_are_not_called_nan():
    """Fault 10: float64 beyond the float32 range was reported as NaN or infinity."""
    X = GOOD.astype(np.float64)
    X[1, 0, 2] = 1e300
    with pytest.raises(ValueError, match="beyond the float32 range"):
        check_eeg(X)


def test_missing_labels_and_unknown_class_weights_get_clear_errors():
    """Fault 10: y with None, and class_weight naming a label not in y."""
    y = np.array([0, 1] * 5 + [None, 1], dtype=object)
    with pytest.raises(ValueError, match=r"missing labels.*position 10"):
        EEGM2Classifier(**TINY).fit(GOOD, y)
    with pytest.raises(ValueError, match=r"class_weight has weights for \[5\]"):
        EEGM2Classifier(**TINY, class_weight={0: 1.0, 5: 2.0}).fit(GOOD, LABELS)


def test_the_too_short_message_does_not_call_3d_input_2d():
    """Fault 10: "n_features = 3 for 2D input" for 3D input."""
    with pytest.raises(ValueError, match="at least 4 time points") as error:
        EEGM2Pretrainer(**TINY).fit(GOOD[..., :3])
    assert "2D" not in str(error.value) and "n_features = 6 with 2 channels" in str(error.value)


# ------------------------------------------------------------------ property-based tests
valid_shapes = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6)
valid_arrays = st.one_of(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        valid_shapes,
        elements=st.floats(-1e6, 1e6, width=32),  # representable in float32 exactly
    ),
    hnp.arrays(st.sampled_from([np.int16, np.int32, np.uint8]), valid_shapes),
)


@settings(max_examples=60, deadline=None)
@given(valid_arrays)
def test_any_valid_array_converts_to_float32_with_the_same_values(X):
    eeg = check_eeg(X)
    expected = X if X.ndim == 3 else X[:, None, :]
    assert eeg.X.dtype == np.float32 and eeg.X.shape == expected.shape
    np.testing.assert_array_equal(eeg.X, expected.astype(np.float32))


invalid_arrays = st.one_of(
    hnp.arrays(  # non-finite values
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5),
        elements=st.sampled_from([np.nan, np.inf, -np.inf]),
    ),
    hnp.arrays(  # wrong number of dimensions
        np.float32,
        st.one_of(
            hnp.array_shapes(min_dims=1, max_dims=1), hnp.array_shapes(min_dims=4, max_dims=5)
        ),
    ),
    hnp.arrays(  # empty along some axis
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=3).filter(
            lambda shape: 0 in shape
        ),
    ),
    hnp.arrays(  # types that are not real numbers
        st.sampled_from([np.bool_, np.complex128, np.dtype("U3"), np.dtype(object)]),
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4),
    ),
)


@settings(max_examples=80, deadline=None)
@given(invalid_arrays)
def test_any_invalid_array_raises_a_clear_error(X):
    with pytest.raises((ValueError, TypeError)):
        check_eeg(X)
