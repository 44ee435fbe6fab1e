"""
Hyper-parameter search across subjects
======================================

Two ways to tune EEGM2 with :class:`~sklearn.model_selection.GridSearchCV`, both splitting
by subject:

1. a search over a whole pipeline, where every candidate pretrains its own network inside
   each training fold;
2. a search over the classifier only, reusing one pretrained network through
   :class:`~sklearn.frozen.FrozenEstimator`.
"""

# %%
# Data
# ----
# Subjects 0-5 are searched over; subjects 6-9 serve only to pretrain the network that the
# second search reuses, so that no window it pretrained on reaches a test fold.
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import set_config
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
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

X_all, y_all, groups_all = load_eegmat(
    subjects=range(10), path=EEGMAT_PATH, return_epochs=False, verbose=False
)
search_set = groups_all < 6
X, y, groups = X_all[search_set], y_all[search_set], groups_all[search_set]
X_pretrain, groups_pretrain = X_all[~search_set], groups_all[~search_set]
print(f"search: {len(X)} windows of subjects {np.unique(groups)}")
print(f"pretraining: {len(X_pretrain)} windows of subjects {np.unique(groups_pretrain)}")

SMALL = dict(widths=(16, 32, 64), expand=2, headdim=16, chunk_size=64)
cv = GroupKFold(n_splits=3)

# %%
# Routing ``groups`` to the pretrainer
# ------------------------------------
# ``GridSearchCV.fit(X, y, groups=groups)`` hands ``groups`` to the splitter. With
# scikit-learn's metadata routing enabled, it can also reach the estimators that ask for it:
# ``set_fit_request(groups=True)`` makes the pretrainer hold out whole subjects, rather
# than random windows, for its early-stopping validation. Routing is a global setting; we
# switch it off again at the end.
set_config(enable_metadata_routing=True)

# %%
# 1. Searching over the pipeline
# ------------------------------
# Parameters of a step are addressed as ``<step>__<parameter>``. Here the search compares the
# two feature layers of the pretrainer (the last pooled encoder output, the paper's
# "Light" features, or the bottleneck output) and the regularisation of the logistic
# regression.
#
# Every fit of the pipeline pretrains a network. ``memory`` caches the fitted pretrainer
# (keyed by its parameters and its training data), so candidates that differ only in
# ``clf__C`` reuse the network pretrained on the same fold instead of training it again.
pretrainer = EEGM2Pretrainer(**SMALL, max_epochs=3, lr=2e-3, random_state=0)
cache = tempfile.TemporaryDirectory()
pipe = Pipeline(
    [
        ("eegm2", pretrainer.set_fit_request(groups=True)),
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(max_iter=1000)),
    ],
    memory=cache.name,
)
grid = {"eegm2__features": ["light", "bottleneck"], "clf__C": [0.01, 1.0]}
search = GridSearchCV(pipe, grid, cv=cv, scoring="roc_auc")
search.fit(X, y, groups=groups)
cache.cleanup()

columns = ["params", "mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"]
print(pd.DataFrame(search.cv_results_)[columns].round(3).to_string())
print("best:", search.best_params_)

# %%
# The short fit times of some candidates are the cache at work: their pretrainer was
# loaded, not trained. ``best_estimator_`` is the pipeline refitted on all six subjects
# with the best parameters; it predicts as any fitted pipeline does.
print(search.best_estimator_.predict(X[:5]))

# %%
# 2. Reusing one pretrained network
# ---------------------------------
# Pretraining is the expensive part. To tune only what comes after it, pretrain once (here
# on the other four subjects) and pass the fitted pretrainer to
# :class:`~sk_eegm2.EEGM2Classifier` wrapped in :class:`~sklearn.frozen.FrozenEstimator`.
#
# Why the wrapper: GridSearchCV clones its estimator for every candidate and fold, and
# cloning resets estimators to their unfitted state; given an unfitted pretrainer,
# ``EEGM2Classifier.fit`` pretrains it on the fold's training windows (which is right for
# an honest estimate of the whole method, and costly). A ``FrozenEstimator`` is not
# cloned, so every fold starts from the same pretrained weights. A folder written by
# ``save_pretrained`` works as well (``pretrained="path/to/folder"``).
frozen = FrozenEstimator(
    EEGM2Pretrainer(**SMALL, max_epochs=5, lr=2e-3, random_state=0).fit(
        X_pretrain, groups=groups_pretrain
    )
)

# %%
# ``mode="light"`` trains an MLP on the frozen encoder's features, a quick fit; the search
# tunes its learning rate. With routing enabled, every estimator whose ``fit`` takes
# ``groups`` must say whether it wants them.
classifier = EEGM2Classifier(pretrained=frozen, mode="light", max_epochs=20, random_state=0)
classifier.set_fit_request(groups=True)
search = GridSearchCV(classifier, {"lr": [1e-4, 1e-3, 1e-2]}, cv=cv, scoring="roc_auc")
search.fit(X, y, groups=groups)

results = pd.DataFrame(search.cv_results_).set_index("param_lr")
print(results[columns[1:]].round(3))

# %%
# The refitted best classifier still points at the very same pretrainer:
print(search.best_estimator_.pretrained.estimator is frozen.estimator)

# %%
# Leave the global configuration as we found it.
set_config(enable_metadata_routing=False)
