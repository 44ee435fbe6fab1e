"""
EEGM2 in a braindecode pipeline
===============================

braindecode keeps EEG deep-learning pipelines as windowed datasets and trains its models
with ``braindecode.EEGClassifier``. This example pretrains EEGM2 on EEGMAT (rest vs
mental arithmetic, 19 channels, 128 Hz) with :class:`~sk_eegm2.EEGM2Pretrainer`, then uses
it on motor imagery trials of EEGBCI (64 channels, 160 Hz) kept as a braindecode dataset:

- the sk_eegm2 estimators take the braindecode dataset as it is (channel names, rate and
  targets read from it);
- ``sk_eegm2.braindecode.EEGM2Net``, EEGM2 under braindecode's model conventions,
  starts from the pretrained network and is fine-tuned by ``EEGClassifier``.

braindecode pins torch and torchaudio, so this example runs in an environment of its own:
``make test-braindecode`` runs it there, on the local recordings (not in the documentation
build). One EEGBCI subject and two short trainings: the scores are illustrations, not
results.
"""

# %%
# Pretraining on EEGMAT
# ---------------------
import os
from pathlib import Path

import mne
import numpy as np
import torch
from braindecode import EEGClassifier
from braindecode.datasets import BaseConcatDataset, RawDataset
from braindecode.preprocessing import (
    Preprocessor,
    create_windows_from_events,
    preprocess,
)

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.braindecode import EEGM2Net
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.montage import CHANNEL_ALIASES
from sk_eegm2.validation import braindecode_targets

# The recordings: the folders named by the environment, else shared/data beside the
# repository (load_eegmat downloads missing EEGMAT subjects; EEGBCI must be local here).
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery and interactive sessions: the working directory
    HERE = Path.cwd()
SHARED = next((p / "shared" / "data" for p in HERE.parents if (p / "shared").is_dir()), None)
EEGMAT_PATH = os.environ.get("SK_EEGM2_EEGMAT_PATH") or (SHARED and SHARED / "eegmat")
EEGBCI_PATH = Path(os.environ.get("SK_EEGM2_EEGBCI_PATH") or SHARED / "MNE-eegbci-data")

eegmat, _, _ = load_eegmat(subjects=range(3), path=EEGMAT_PATH, window_seconds=2.0)
SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)
pretrainer = EEGM2Pretrainer(**SMALL, max_epochs=2, random_state=0).fit(eegmat)
print(f"pretrained on {pretrainer.n_windows_} EEGMAT windows, {pretrainer.sfreq_:g} Hz")

# %%
# EEGBCI as a braindecode dataset, in the pretrained montage and rate
# -------------------------------------------------------------------
# braindecode's preprocessing brings the recordings to the network's 19 channels (under
# their old 10-20 names, T3 for T7, ...) and to 128 Hz; each run is one recording, cut
# into 2-s windows from each cue (T1: left fist, T2: right fist, imagined).
runs = [4, 8, 12]
files = mne.datasets.eegbci.load_data(1, runs, path=EEGBCI_PATH.parent, update_path=False)
recordings = []
for run, fname in zip(runs, files, strict=True):
    raw = mne.io.read_raw_edf(fname, preload=True, verbose=False)
    mne.datasets.eegbci.standardize(raw)
    recordings.append(RawDataset(raw, {"subject": 1, "run": run}))
old_names = {new: old for old, new in CHANNEL_ALIASES.items()}


def to_microvolts(data):
    """MNE holds volts; EEGMAT's Epochs were read in microvolts."""
    return data * 1e6


preprocess(
    BaseConcatDataset(recordings),
    [
        Preprocessor("rename_channels", mapping=old_names),
        Preprocessor("pick", picks=pretrainer.ch_names_),
        Preprocessor("reorder_channels", ch_names=pretrainer.ch_names_),
        Preprocessor("resample", sfreq=pretrainer.sfreq_),
        Preprocessor(to_microvolts),
    ],
)
windows = create_windows_from_events(
    BaseConcatDataset(recordings),
    window_size_samples=256,
    window_stride_samples=256,
    mapping={"T1": 0, "T2": 1},
)
split = windows.split("run")
train_set = BaseConcatDataset([split["4"], split["8"]])
test_set = split["12"]
y_test = braindecode_targets(test_set)
print(f"{len(train_set)} training and {len(test_set)} test trials")

# %%
# The sk_eegm2 estimators take the dataset as it is
# -------------------------------------------------
# A light-mode classifier on the frozen pretrained encoder; the targets come from the
# dataset.
light = EEGM2Classifier(pretrained=pretrainer, mode="light", max_epochs=20, random_state=0)
light.fit(train_set)
print(f"EEGM2Classifier (light), accuracy on run 12: {light.score(test_set, y_test):.2f}")

# %%
# EEGM2Net in braindecode's EEGClassifier
# ---------------------------------------
# ``EEGClassifier`` fills in ``n_chans``, ``n_outputs``, ``n_times``, ``sfreq`` and
# ``chs_info`` from the dataset; ``pretrained`` starts the network from the pretrained
# one (its channels must be the dataset's, which the preprocessing above ensured).
torch.manual_seed(0)
net = EEGClassifier(
    EEGM2Net,
    module__pretrained=pretrainer,
    module__head="pooled",
    optimizer=torch.optim.AdamW,
    lr=1e-3,
    max_epochs=5,
    batch_size=16,
    train_split=None,
    device="cpu",
)
net.fit(train_set, y=None)
accuracy = np.mean(net.predict(test_set) == y_test)
print(f"EEGM2Net in EEGClassifier, accuracy on run 12: {accuracy:.2f}")
