"""
What the network learned: reconstructions, training curves, features
====================================================================

EEGM2 is pretrained to reconstruct its input. Three pictures from
:mod:`sk_eegm2.plotting` show what a short pretraining achieved on real EEG: how the loss
fell, how the reconstruction of windows from a subject the network never saw compares with
the input over time and in its power spectrum, and how the encoder's features of that
subject's windows spread by class.
"""

# %%
# Pretrain on three subjects
# --------------------------
# Three EEGMAT subjects to pretrain on, a fourth to look at; 2 s windows at 128 Hz, as
# :class:`mne.Epochs`. Pretraining uses no labels.
import os
from pathlib import Path

import matplotlib.pyplot as plt

from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.plotting import plot_features, plot_history, plot_reconstruction

# The recordings: the folder in $SK_EEGM2_EEGMAT_PATH, else shared/data/eegmat beside the
# repository, else None (load_eegmat then downloads the subjects it needs from PhysioNet).
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery and interactive sessions: the working directory
    HERE = Path.cwd()
LOCAL = [p / "shared" / "data" / "eegmat" for p in HERE.parents]
EEGMAT_PATH = os.environ.get("SK_EEGM2_EEGMAT_PATH") or next((p for p in LOCAL if p.is_dir()), None)

epochs, y, groups = load_eegmat(subjects=range(4), path=EEGMAT_PATH, verbose=False)
train, unseen = epochs[groups < 3], epochs[groups == 3]
y_unseen = y[groups == 3]

# A small network and 20 short epochs, so that the example runs in about half a minute on
# one CPU core.
SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)
pretrainer = EEGM2Pretrainer(**SMALL, max_epochs=20, random_state=0).fit(train)

# %%
# Training history
# ----------------
# ``history_`` holds the loss per epoch on the training windows and on the windows held out
# for validation (``validation_fraction=0.1`` by default). The pretrainer keeps the weights
# of the epoch with the lowest validation loss, marked by the star.
plot_history(pretrainer.history_)
plt.show()

# %%
# Reconstruction of unseen EEG
# ----------------------------
# ``reconstruct`` returns the network's output in the units of its input: microvolts for
# Epochs. Left, one window of four channels over time; right, the power spectra of input
# and reconstruction, averaged over all windows of the unseen subject. Look for where the
# reconstruction falls short: after a short pretraining of a small network, usually in the
# fast, low-power activity above the alpha band (8-13 Hz). The spectral term of the loss
# (weighted by ``beta``) is what pulls the reconstruction's spectrum towards the input's.
reconstruction = pretrainer.reconstruct(unseen)
plot_reconstruction(
    unseen.get_data(units="uV"),
    reconstruction,
    sfreq=unseen.info["sfreq"],
    ch_names=unseen.ch_names,
    window=10,
    picks=["Fz", "Cz", "Pz", "O1"],
)
plt.show()

# %%
# Features by class
# -----------------
# ``transform`` summarises each window by nine statistics over time of each of the
# encoder's ``widths[-1]`` feature channels (here 9 x 64 = 576 features). Projected on two
# principal components (after standardising each feature), the windows of the unseen
# subject, coloured by rest and mental arithmetic: a separation here is what a linear
# classifier on top can use; none of it came from labels.
features = pretrainer.transform(unseen)
plot_features(features, y_unseen, class_names={0: "rest", 1: "mental arithmetic"})
plt.show()
