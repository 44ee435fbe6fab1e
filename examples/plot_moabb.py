"""
Evaluating EEGM2 with MOABB, beside classical pipelines
=======================================================

`MOABB <https://moabb.neurotechx.com>`_ (Mother of All BCI Benchmarks) evaluates
scikit-learn pipelines on EEG datasets in a fixed way. EEGM2 pipelines are scikit-learn
pipelines, so MOABB runs them as they are. Here, EEGMAT, read from the local copy as a MOABB
dataset (:class:`sk_eegm2.datasets.moabb.EEGMAT`), is evaluated across subjects with
:class:`~moabb.evaluations.CrossSubjectEvaluation`: two EEGM2 pipelines beside MOABB's usual
classical ones (Riemannian tangent space, CSP, log-variance).

Needs MOABB: ``pip install "sk_eegm2[moabb]"``.
"""

# %%
# The dataset and the paradigm
# ----------------------------
# :class:`~sk_eegm2.datasets.moabb.EEGMAT` marks each recording with back-to-back 2 s
# windows named ``"rest"`` and ``"subtraction"`` (mental arithmetic), the trials a paradigm
# cuts. MOABB files mental arithmetic under its imagery paradigm, so
# :class:`~moabb.paradigms.MotorImagery` reads it, with a pass band as wide as the
# recordings' (0.5-45 Hz) rather than its default 8-32 Hz. It returns arrays in microvolts,
# string labels and a metadata table with the subject, session and run of each window. Six
# subjects keep this example short.
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mne
from mne.decoding import CSP
from moabb.analysis.plotting import score_plot
from moabb.evaluations import CrossSubjectEvaluation
from moabb.paradigms import MotorImagery
from moabb.pipelines.features import LogVariance
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.datasets.moabb import EEGMAT

# The recordings: the folder in $SK_EEGM2_EEGMAT_PATH, else shared/data/eegmat beside the
# repository, else None (the dataset then downloads the subjects it needs from PhysioNet).
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery and interactive sessions: the working directory
    HERE = Path.cwd()
LOCAL = [p / "shared" / "data" / "eegmat" for p in HERE.parents]
EEGMAT_PATH = os.environ.get("SK_EEGM2_EEGMAT_PATH") or next((p for p in LOCAL if p.is_dir()), None)

mne.set_log_level("warning")  # MNE logs every file it reads and every CSP fit otherwise

dataset = EEGMAT(EEGMAT_PATH, subjects=range(6), window_seconds=2.0)
paradigm = MotorImagery(events=["rest", "subtraction"], n_classes=2, fmin=0.5, fmax=45.0)

X, labels, metadata = paradigm.get_data(dataset, subjects=[0])
print(X.shape)  # windows, channels, samples
print(metadata.assign(label=labels).groupby(["subject", "session", "run", "label"]).size())

# %%
# The pipelines
# -------------
# - **EEGM2 (Linear)**: the pretrained encoder's features into a logistic regression. The
#   features are statistics of different kinds (minimum, maximum, mean, standard deviation
#   and quantiles of each feature channel), on different scales: a
#   :class:`~sklearn.preprocessing.StandardScaler` in front of the linear model puts them
#   on one scale, which the logistic regression's penalty assumes.
# - **EEGM2 (Fine)**: an unfitted pretrainer handed to
#   :class:`~sk_eegm2.EEGM2Classifier` is pretrained on each fold's training windows (no
#   labels), then the whole network is fine-tuned with a classification head.
# - MOABB's classical pipelines: covariances in the Riemannian tangent space into a
#   logistic regression, common spatial patterns (CSP) into a linear discriminant, and the
#   log-variance of each channel into a linear discriminant.
#
# The EEGM2 networks are small and trained for a few epochs, so that the example runs in a
# minute or two on a CPU; their scores illustrate the workflow, not what EEGM2 can do (see
# :doc:`/results`).
SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64, random_state=0)

pipelines = {
    "EEGM2 (Linear)": make_pipeline(
        EEGM2Pretrainer(**SMALL, max_epochs=5), StandardScaler(), LogisticRegression(max_iter=1000)
    ),
    "EEGM2 (Fine)": EEGM2Classifier(
        pretrained=EEGM2Pretrainer(**SMALL, max_epochs=5),
        mode="fine",
        max_epochs=3,
        class_weight="balanced",
        random_state=0,
    ),
    "TS+LR": make_pipeline(
        Covariances("oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000)
    ),
    "CSP+LDA": make_pipeline(CSP(n_components=8), LinearDiscriminantAnalysis()),
    "LogVar+LDA": make_pipeline(LogVariance(), LinearDiscriminantAnalysis()),
}

# %%
# Cross-subject evaluation
# ------------------------
# :class:`~moabb.evaluations.CrossSubjectEvaluation` trains on some subjects and tests on
# the others; ``n_splits=3`` makes three folds of two test subjects (by default, one fold
# per subject). The paradigm's score for two classes is the ROC AUC, which the imbalance
# of the classes (rest lasts three times longer) does not bias. MOABB stores its results
# in an HDF5 file: a temporary folder here, and ``overwrite=True`` recomputes them.
evaluation = CrossSubjectEvaluation(
    paradigm=paradigm,
    datasets=[dataset],
    n_splits=3,
    overwrite=True,
    hdf5_path=tempfile.mkdtemp(),
)
results = evaluation.process(pipelines)
print(results.groupby("pipeline")["score"].agg(["mean", "std", "count"]).round(3))

# %%
# One point per fold and pipeline (MOABB's :func:`~moabb.analysis.plotting.score_plot`).
score_plot(results)
plt.show()
