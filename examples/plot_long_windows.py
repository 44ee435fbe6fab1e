"""
Long windows: reconstruction, spectra and linear scaling
========================================================

EEGM2 was designed for long EEG sequences: its Mamba-2 layers cost time and memory linear
in the sequence length, where self-attention grows quadratically. This example pretrains on
60 s windows (7,680 samples at 128 Hz), compares a held-out subject's signal with its
reconstruction in time and in frequency, and measures the time per window as the windows
grow.
"""

# %%
# One-minute windows
# ------------------
# ``window_seconds=60`` with ``stride_seconds=30`` cuts overlapping one-minute windows from
# each recording: five from a 182 s rest recording, one from a 62 s task recording.
# Subjects 0-3 pretrain, subject 4 is held out.
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.signal import welch

from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2.datasets import load_eegmat

# The recordings: the folder in $SK_EEGM2_EEGMAT_PATH, else shared/data/eegmat beside the
# repository, else None (load_eegmat then downloads the subjects it needs from PhysioNet).
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery and interactive sessions: the working directory
    HERE = Path.cwd()
LOCAL = [p / "shared" / "data" / "eegmat" for p in HERE.parents]
EEGMAT_PATH = os.environ.get("SK_EEGM2_EEGMAT_PATH") or next((p for p in LOCAL if p.is_dir()), None)

epochs, y, groups = load_eegmat(
    subjects=range(5), path=EEGMAT_PATH, window_seconds=60, stride_seconds=30, verbose=False
)
sfreq = epochs.info["sfreq"]
X = epochs.get_data(units="uV").astype(np.float32)  # what the estimators read from Epochs
train, held_out = groups < 4, groups == 4
print(f"{X.shape[0]} windows of {X.shape[1]} channels x {X.shape[2]} samples ({sfreq:g} Hz)")

# %%
# Pretraining
# -----------
# Nothing changes for long windows but the batch size: a batch holds ``batch_size``
# windows, so fewer long windows fit in memory, and there are fewer of them. With
# ``groups``, one of the four training subjects is held out for early stopping.
SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)
pretrainer = EEGM2Pretrainer(**SMALL, batch_size=4, max_epochs=20, lr=2e-3, random_state=0)
pretrainer.fit(X[train], groups=groups[train])
valid_loss = pretrainer.history_[:, "valid_loss"]
print(f"{len(valid_loss)} epochs, validation loss {valid_loss[0]:.1f} -> {min(valid_loss):.1f}")

# %%
# ``score`` is the negative loss (higher is better), here on the training subjects and on
# the held-out subject. The network is unchanged by the window length, so the same
# pretrainer also reconstructs and summarises windows of other lengths (at least
# ``2 ** len(widths)`` samples).
print(f"score on the training subjects: {pretrainer.score(X[train]):.1f}")
print(f"score on the held-out subject: {pretrainer.score(X[held_out]):.1f}")
minute, ten_seconds = X[held_out][:1], X[held_out][:1, :, : int(10 * sfreq)]
print("features:", pretrainer.transform(minute).shape, pretrainer.transform(ten_seconds).shape)

# %%
# Reconstruction in time and frequency
# ------------------------------------
# ``reconstruct`` returns the network's output in the units of its input (microvolts here):
# the pretrainer's per-window scaling is undone. Below, occipital channel O1 of the
# held-out subject at rest: four seconds of signal, then the power spectra of the whole
# minute (Welch's method). The spectral term of the loss compares the two spectra
# directly, phase included.
window = X[held_out][0]
reconstruction = pretrainer.reconstruct(window[np.newaxis])[0]
channel = epochs.ch_names.index("O1")
time_axis = np.arange(window.shape[-1]) / sfreq
excerpt = time_axis < 4

freqs, psd = welch(window[channel], fs=sfreq, nperseg=int(4 * sfreq))
_, psd_hat = welch(reconstruction[channel], fs=sfreq, nperseg=int(4 * sfreq))

fig, (ax_time, ax_freq) = plt.subplots(1, 2, figsize=(12, 3.5), layout="constrained")
ax_time.plot(time_axis[excerpt], window[channel, excerpt], label="EEG", lw=1)
ax_time.plot(time_axis[excerpt], reconstruction[channel, excerpt], label="reconstruction", lw=1)
ax_time.set(xlabel="time (s)", ylabel="µV", title="O1, held-out subject, first 4 s")
ax_time.legend()
ax_freq.semilogy(freqs, psd, label="EEG")
ax_freq.semilogy(freqs, psd_hat, label="reconstruction")
ax_freq.set(xlabel="frequency (Hz)", ylabel="µV²/Hz", title="O1, power spectrum of 60 s")
ax_freq.legend()
plt.show()

# %%
# EEG power falls steeply with frequency, and a short training run fits the strong slow
# rhythms, such as the alpha peak near 10 Hz, before the weak fast ones; compare the two
# spectra above 20 Hz. The correlation between signal and reconstruction, per channel:
corr = [np.corrcoef(window[c], reconstruction[c])[0, 1] for c in range(len(window))]
print(", ".join(f"{name} {r:.2f}" for name, r in zip(epochs.ch_names, corr, strict=True)))

# %%
# Time per window against its length
# ----------------------------------
# The paper measures efficiency on random N(0, 1) input, since the cost does not depend on
# the values. We time the full network (``reconstruct``: encoder and decoder, no gradient)
# on a batch of four windows from 2 s to 100 s, best of three runs each. With Mamba-2's
# chunked scan (``chunk_size`` samples per chunk), the time grows linearly with the
# length: the time per second of EEG stays about constant.
rng = np.random.default_rng(0)
seconds = np.array([2, 10, 30, 60, 100])
timings = []
for length in seconds:
    batch = rng.standard_normal((4, X.shape[1], int(length * sfreq))).astype(np.float32)
    pretrainer.reconstruct(batch)  # warm-up
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        pretrainer.reconstruct(batch)
        runs.append(time.perf_counter() - start)
    timings.append(min(runs) / len(batch))
timings = np.array(timings)
print(f"{torch.get_num_threads()} CPU thread(s)")
for length, t in zip(seconds, timings, strict=True):
    print(f"{length:4d} s: {1000 * t:7.1f} ms per window, {1000 * t / length:5.2f} ms per second")

slope, intercept = np.polyfit(seconds, timings, 1)
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.plot(seconds, 1000 * timings, "o", label="measured")
ax.plot(seconds, 1000 * (slope * seconds + intercept), "--", label="linear fit")
ax.set(xlabel="window length (s at 128 Hz)", ylabel="ms per window", title="EEGM2 on CPU")
ax.legend()
plt.show()

# %%
# Absolute times depend on the machine and on the network size (the paper's network is
# about 37 times larger than this one); the linear growth does not.
