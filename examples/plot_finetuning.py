"""
Fine-tuning, Light and Scratch: EEGM2Classifier
===============================================

After self-supervised pretraining, EEGM2 is used for classification in one of three ways:

- **Fine**: the whole pretrained autoencoder, followed by a small head on its output, all
  trained on the labels;
- **Light**: the pretrained encoder frozen, an MLP trained on its summary statistics;
- **Scratch**: the Fine network trained from random weights, the control that tells what
  pretraining brought.

:class:`~sk_eegm2.EEGM2Classifier` implements all three. This example pretrains once on
six subjects, trains the three classifiers, scores them on two held-out subjects and plots
their learning curves from ``history_``.
"""

# %%
# Data: training and test subjects
# ---------------------------------
# ``return_epochs=False`` gives NumPy arrays in microvolts, shape
# ``(n_windows, 19, 256)`` for 2 s windows at 128 Hz. Subjects 0-5 train, 6 and 7 test.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.datasets import load_eegmat

# The recordings: the folder in $SK_EEGM2_EEGMAT_PATH, else shared/data/eegmat beside the
# repository, else None (load_eegmat then downloads the subjects it needs from PhysioNet).
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery and interactive sessions: the working directory
    HERE = Path.cwd()
LOCAL = [p / "shared" / "data" / "eegmat" for p in HERE.parents]
EEGMAT_PATH = os.environ.get("SK_EEGM2_EEGMAT_PATH") or next((p for p in LOCAL if p.is_dir()), None)

X, y, groups = load_eegmat(subjects=range(8), path=EEGMAT_PATH, return_epochs=False, verbose=False)
train, test = groups < 6, groups >= 6
print(X.shape, X.dtype, f"train {train.sum()} windows, test {test.sum()} windows")

# %%
# Pretraining
# -----------
# :class:`~sk_eegm2.EEGM2Pretrainer` learns to reconstruct the training windows; no label
# is used. Passing ``groups`` makes the early-stopping split hold out whole subjects
# (``validation_fraction=0.1`` of them, here one), so the validation loss measures
# reconstruction of unseen people. A small network keeps the example fast on a CPU.
SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)

pretrainer = EEGM2Pretrainer(**SMALL, max_epochs=10, lr=2e-3, random_state=0)
pretrainer.fit(X[train], groups=groups[train])

# %%
# Balanced training windows
# -------------------------
# Rest lasts about three times longer than the task. With few epochs, classifiers trained
# on that ratio tend to answer "rest" for every window, which says nothing. Here each
# training subject keeps all its task windows and as many rest windows, drawn at random;
# the pretrainer above used every window, as it needs no labels.
rng = np.random.default_rng(0)
keep = []
for subject in np.unique(groups[train]):
    task = np.flatnonzero((groups == subject) & (y == 1))
    rest = np.flatnonzero((groups == subject) & (y == 0))
    keep += [task, rng.choice(rest, size=len(task), replace=False)]
balanced = np.sort(np.concatenate(keep))
print(f"{len(balanced)} balanced training windows, {np.mean(y[balanced]):.0%} task")

# %%
# The three downstream modes
# --------------------------
# ``pretrained=pretrainer`` copies the fitted network: fine-tuning changes the copy, never
# the pretrainer. The architecture comes from the pretrained network, so only the
# training settings are given. ``EEGM2Classifier`` uses Adam and cross-entropy, with early
# stopping on held-out subjects, as the pretrainer does.
#
# - ``mode="fine"`` flattens the reconstruction ``(C, T)`` into
#   ``Linear(C * T, hidden) -> ReLU -> Linear(hidden, n_classes)``; the head depends on the
#   window length, so ``predict`` needs windows as long as those seen in ``fit``.
# - ``mode="light"`` freezes the encoder, standardises its ``9 * widths[-1]`` statistics
#   and trains an MLP (``-> 128 -> 32 -> n_classes``, dropout 0.5) on them; the encoder
#   runs once per window, so each epoch is cheap and any window length is accepted.
# - ``pretrained=None`` builds a fresh network from the architecture arguments: Scratch.
settings = dict(batch_size=64, patience=5, random_state=0)
models = {
    "Fine": EEGM2Classifier(pretrained=pretrainer, mode="fine", max_epochs=8, lr=5e-4, **settings),
    "Light": EEGM2Classifier(
        pretrained=pretrainer, mode="light", max_epochs=40, lr=1e-3, **settings
    ),
    "Scratch": EEGM2Classifier(**SMALL, mode="fine", max_epochs=8, lr=5e-4, **settings),
}
scores = {}
for name, model in models.items():
    model.fit(X[balanced], y[balanced], groups=groups[balanced])
    proba = model.predict_proba(X[test])[:, 1]
    scores[name] = {
        "balanced accuracy": balanced_accuracy_score(y[test], model.predict(X[test])),
        "ROC AUC": roc_auc_score(y[test], proba),
        "epochs run": len(model.history_),
    }
print(pd.DataFrame.from_dict(scores, orient="index").round(3))

# %%
# Two test subjects and a few epochs make these scores noisy; the point is the workflow.
# ``classes_`` holds the labels in the order of ``predict_proba``'s columns; labels of any
# type (strings, non-contiguous integers) work.
print(models["Fine"].classes_, models["Fine"].predict_proba(X[test][:3]).round(3))

# %%
# Learning curves
# ---------------
# Every estimator keeps skorch's :class:`~skorch.history.History` in ``history_``:
# ``history_[:, "train_loss"]`` is the list of training losses, one per epoch, and
# ``valid_loss`` the loss on the held-out subjects. Training stops when the validation
# loss has not improved for ``patience`` epochs, and the weights of the best epoch (marked)
# are restored. The pretraining loss is the spatiotemporal loss (L1 plus spectral error);
# the classifiers' is the cross-entropy.
curves = {"Pretraining": pretrainer, **models}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), layout="constrained")
for ax, (name, estimator) in zip(axes, curves.items(), strict=True):
    history = estimator.history_
    epochs = history[:, "epoch"]
    ax.plot(epochs, history[:, "train_loss"], "o-", label="train")
    ax.plot(epochs, history[:, "valid_loss"], "o-", label="valid (held-out subject)")
    best = int(np.argmin(history[:, "valid_loss"]))
    ax.plot(epochs[best], history[best, "valid_loss"], "k*", ms=12, label="kept")
    ax.set(title=name, xlabel="epoch")
axes[0].set_ylabel("loss")
axes[0].legend(fontsize="small")
plt.show()

# %%
# The pretraining loss falls on the held-out subject as on the training subjects: the
# reconstruction generalises across people. The classifiers' training loss falls while the
# held-out subject's often rises after the first epochs; this gap between subjects, not
# the fit to the training windows, limits cross-subject decoding, which is why early
# stopping on held-out *subjects* (``groups``) matters, and why six subjects say little
# about the method. See :doc:`/results` for all 36 subjects.
