"""
Saving and loading fitted models
================================

Two ways to keep a fitted model:

- **joblib or pickle** store any scikit-learn object, a whole pipeline included. Loading
  such a file can execute arbitrary code: load only files from sources you trust.
- **save_pretrained / from_pretrained** store one EEGM2 estimator as a folder with
  ``config.json`` (its parameters and what ``fit`` learned about the data) and
  ``model.safetensors`` (the weights). Loading reads JSON and tensors only and never
  executes code from the files, so such folders can be shared.

Both round trips below are checked to give the same predictions.
"""

# %%
# A fitted pipeline
# -----------------
# Two subjects to fit, one to predict; a small network and two epochs, as only the round
# trip matters here.
import json
import os
import shutil
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

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

X, y, groups = load_eegmat(subjects=range(3), path=EEGMAT_PATH, return_epochs=False, verbose=False)
train, test = groups < 2, groups == 2

SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)
pipe = Pipeline(
    [
        ("eegm2", EEGM2Pretrainer(**SMALL, max_epochs=2, random_state=0)),
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(max_iter=1000)),
    ]
).fit(X[train], y[train])
proba = pipe.predict_proba(X[test])

folder = Path(tempfile.mkdtemp())

# %%
# joblib
# ------
# ``joblib.dump`` pickles the pipeline, the skorch net and its PyTorch weights included.
# A model fitted on a GPU loads on a machine without one (the network is mapped to the
# CPU). Pickles are tied to the library versions that wrote them: reload them with the same
# versions of sk_eegm2, scikit-learn, skorch and PyTorch. They also hold the whole training
# state: the optimiser's moments, a copy of the best weights kept by early stopping and the
# windows held out for it, that is, samples of the training EEG. Mind this before sharing
# one.
joblib.dump(pipe, folder / "pipeline.joblib")
reloaded = joblib.load(folder / "pipeline.joblib")  # trusted source: we just wrote it
print(f"{(folder / 'pipeline.joblib').stat().st_size / 1e6:.1f} MB")
print("same probabilities:", np.array_equal(reloaded.predict_proba(X[test]), proba))

# %%
# save_pretrained and from_pretrained
# -----------------------------------
# ``save_pretrained`` writes one EEGM2 estimator, not a pipeline: the scaler and the
# logistic regression above are not part of it.
pretrainer = pipe.named_steps["eegm2"]
pretrainer_dir = pretrainer.save_pretrained(folder / "eegm2-pretrainer")
for path in sorted(pretrainer_dir.iterdir()):
    print(f"{path.name:18s} {path.stat().st_size / 1e3:8.1f} kB")

# %%
# ``config.json`` holds the constructor parameters (``get_params``) and the fitted
# attributes that describe the data: channels, window length, sampling rate (None for
# arrays), channel names and the amplitude scale.
config = json.loads((pretrainer_dir / "config.json").read_text())
print({key: config[key] for key in ("class", "sk_eegm2_version", "fitted")})
print({key: config["params"][key] for key in ("widths", "expand", "headdim", "scaling")})

# %%
# ``from_pretrained`` rebuilds the network from the configuration and loads the weights;
# ``device`` chooses where the network goes (``"auto"``: CUDA when available).
loaded_pretrainer = EEGM2Pretrainer.from_pretrained(pretrainer_dir, device="cpu")
print(
    "same features:",
    np.array_equal(loaded_pretrainer.transform(X[test]), pretrainer.transform(X[test])),
)

# %%
# A saved folder is also a valid ``pretrained`` argument: the classifier then starts from
# the saved weights. The fitted classifier saves and loads the same way; its folder holds
# the whole network, the head and the classes.
classifier = EEGM2Classifier(pretrained=str(pretrainer_dir), max_epochs=2, random_state=0)
classifier.fit(X[train], y[train])
classifier_dir = classifier.save_pretrained(folder / "eegm2-classifier")
loaded_classifier = EEGM2Classifier.from_pretrained(classifier_dir)

same = np.array_equal(loaded_classifier.predict(X[test]), classifier.predict(X[test]))
print("same predictions:", same)
difference = np.abs(loaded_classifier.predict_proba(X[test]) - classifier.predict_proba(X[test]))
print(f"largest difference in probability: {difference.max():.2g}")

# %%
# The ``pretrained`` argument is not saved (the classifier's folder holds all the weights
# it needs), so the loaded classifier has ``pretrained=None``; every other parameter is
# restored, ``device`` aside, which ``from_pretrained`` sets.
print(loaded_classifier.pretrained, loaded_classifier.mode, loaded_classifier.classes_)

shutil.rmtree(folder)  # clean up the temporary folder
