"""braindecode interop: its windowed datasets in the estimators, EEGM2Net in EEGClassifier.

braindecode pins torch and torchaudio to versions that may differ from this project's, so
these tests run in an environment of their own: ``make test-braindecode``. Elsewhere they
are skipped.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest
import torch

pytest.importorskip("braindecode")

from braindecode import EEGClassifier
from braindecode.datasets import BaseConcatDataset, RawDataset, create_from_mne_epochs
from braindecode.preprocessing import create_windows_from_events

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.braindecode import EEGM2Net
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.scaling import scale_windows
from sk_eegm2.validation import braindecode_info, braindecode_targets

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
#: The labels of EEGBCI's motor imagery runs (T0 is the rest between trials).
MAPPING = {"T1": 0, "T2": 1}


@pytest.fixture(scope="module")
def eegmat_windows(eegmat_path):
    """EEGMAT epochs of two subjects as a braindecode windows dataset (from Epochs)."""
    epochs, y, _ = load_eegmat([0, 1], path=eegmat_path, window_seconds=2.0)
    parts = [epochs[y == label][:12] for label in (0, 1)]
    return create_from_mne_epochs(
        parts, window_size_samples=256, window_stride_samples=256, drop_last_window=True
    )


@pytest.fixture(scope="module")
def eegbci_windows(eegbci_path):
    """EEGBCI run 4 of subject 1 as braindecode trial windows (from a Raw, by events)."""
    (fname,) = mne.datasets.eegbci.load_data(1, [4], path=eegbci_path.parent, update_path=False)
    raw = mne.io.read_raw_edf(fname, preload=True, verbose=False)
    mne.datasets.eegbci.standardize(raw)
    raw.pick(["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4"]).resample(128, verbose=False)
    dataset = BaseConcatDataset([RawDataset(raw, {"subject": 1, "run": 4})])
    return create_windows_from_events(
        dataset, window_size_samples=256, window_stride_samples=256, mapping=MAPPING
    )


def test_eegm2net_follows_braindecodes_constructor_convention():
    chs_info = [{"ch_name": name} for name in ("C3", "Cz", "C4")]
    net = EEGM2Net(n_outputs=2, chs_info=chs_info, n_times=64, sfreq=128.0, preset="cpu")
    assert (net.n_chans, net.n_outputs, net.n_times, net.sfreq) == (3, 2, 64, 128.0)
    x = torch.randn(5, 3, 64)
    assert net(x).shape == (5, 2)
    fine = EEGM2Net(n_outputs=4, n_chans=3, n_times=64, head="reconstruction")
    assert fine(x).shape == (5, 4)
    with pytest.raises(ValueError, match="head must be"):
        EEGM2Net(n_outputs=2, n_chans=3, n_times=64, head="linear")


def test_eegm2net_scales_windows_as_the_estimators_do():
    net = EEGM2Net(n_outputs=2, n_chans=3, n_times=64).eval()
    x = torch.randn(4, 3, 64) * 1e-5
    scaled, _ = scale_windows(x.numpy(), "window", 1.0)
    with torch.no_grad():
        np.testing.assert_allclose(
            net(x).numpy(), net.network(torch.from_numpy(scaled)).numpy(), rtol=1e-4, atol=1e-5
        )


def test_the_estimators_take_braindecode_windows(eegmat_windows):
    sfreq, names = braindecode_info(eegmat_windows)
    assert sfreq == 128.0 and len(names) == 19 and names[6] == "T3"
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(eegmat_windows)
    assert pretrainer.ch_names_ == names and pretrainer.sfreq_ == 128.0
    assert pretrainer.n_windows_ == len(eegmat_windows)
    features = pretrainer.transform(eegmat_windows)
    assert features.shape == (len(eegmat_windows), 9 * TINY["widths"][-1])
    y = braindecode_targets(eegmat_windows)
    clf = EEGM2Classifier(pretrained=pretrainer, mode="light", max_epochs=2, random_state=0)
    clf.fit(eegmat_windows)  # the targets come from the dataset
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    assert clf.predict(eegmat_windows).shape == y.shape


def test_one_fit_on_braindecode_datasets_of_two_montages(eegmat_windows, eegbci_windows):
    pretrainer = EEGM2Pretrainer(
        **TINY, max_epochs=1, channels="interpolate", resample=True, random_state=0
    )
    pretrainer.fit([eegbci_windows, eegmat_windows])  # EEGBCI's 7 channels are the target
    _, names = braindecode_info(eegbci_windows)
    assert pretrainer.ch_names_ == names
    assert pretrainer.n_windows_ == len(eegbci_windows) + len(eegmat_windows)
    (record,) = pretrainer.adaptation_
    assert record.interpolated == ("FC3", "FC4", "CP3", "CP4")  # not in EEGMAT's 10-20 set


def test_eegm2net_trains_in_eegclassifier_on_real_eeg(eegbci_windows):
    clf = EEGClassifier(
        EEGM2Net,
        module__preset="cpu",
        max_epochs=2,
        batch_size=8,
        train_split=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        device="cpu",
        verbose=0,
    )
    clf.fit(eegbci_windows, y=None)
    module = clf.module_
    assert (module.n_chans, module.n_outputs, module.n_times) == (7, 2, 256)
    assert len(clf.history) == 2 and np.isfinite(clf.history[-1, "train_loss"])
    assert clf.predict(eegbci_windows).shape == (len(eegbci_windows),)


def test_eegm2net_starts_from_a_pretrained_network(eegbci_windows, tmp_path):
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(eegbci_windows)
    folder = pretrainer.save_pretrained(tmp_path / "pretrained")
    _, names = braindecode_info(eegbci_windows)
    chs_info = [{"ch_name": name} for name in names]
    for source in (pretrainer, str(folder)):
        net = EEGM2Net(n_outputs=2, chs_info=chs_info, n_times=256, pretrained=source)
        for name, value in pretrainer.net_.module_.state_dict().items():
            torch.testing.assert_close(net.network.backbone.state_dict()[name], value.cpu())
        assert net.scaling == pretrainer.scaling_
    with pytest.raises(ValueError, match="pick and reorder them"):
        EEGM2Net(n_outputs=2, chs_info=chs_info[::-1], n_times=256, pretrained=pretrainer)
    clf = EEGClassifier(
        EEGM2Net,
        module__pretrained=pretrainer,
        max_epochs=1,
        batch_size=8,
        train_split=None,
        device="cpu",
        verbose=0,
    )
    clf.fit(eegbci_windows, y=None)
    assert clf.module_.n_chans == pretrainer.n_chans_
