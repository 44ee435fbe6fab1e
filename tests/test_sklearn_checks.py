"""scikit-learn's own estimator checks, on tiny configurations."""

from __future__ import annotations

import functools

import pytest
from sklearn.utils.estimator_checks import _get_check_estimator_ids, estimator_checks_generator

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer

# One pooling level, so the 2D toy data of the checks (as few as 2 features = time points)
# is long enough; a high learning rate so the classifier learns the checks' blobs quickly.
# A batch holds all of a check's samples: float32 kernels may round differently for other
# batch compositions (test_estimators.py bounds that effect), beyond the checks' rtol=1e-7.
TINY = {
    "widths": (4,),
    "d_state": 4,
    "expand": 2,
    "headdim": 4,
    "chunk_size": 8,
    "batch_size": 64,
    "device": "cpu",
    "random_state": 0,
}
OBJECT_ARRAYS = (
    "object arrays are refused on purpose (ragged or mixed windows would otherwise fail deep "
    "inside PyTorch); convert with X.astype(np.float32)"
)
VARIABLE_LENGTH = (
    "transform takes windows of any length >= 2**len(widths) by design (fit on short "
    "windows, embed long recordings), so a different n_features is not an error"
)
EXPECTED_FAILURES = {
    "EEGM2Pretrainer": {
        "check_dtype_object": OBJECT_ARRAYS,
        "check_n_features_in_after_fitting": VARIABLE_LENGTH,
        "check_transformer_general": VARIABLE_LENGTH,
    },
    "EEGM2Classifier": {"check_dtype_object": OBJECT_ARRAYS},
}


#: The check that a classifier passes only once it has learned the checks' data (accuracy
#: over 0.83): it runs with a classifier trained for 30 epochs, twice for each of its three
#: variants, most of this file's time, so it is left out of the quick loop
#: (``pytest -m "not slow"``). The other checks need no learning: one epoch.
LEARNING_CHECKS = frozenset({"check_classifiers_train"})
LEARNER = EEGM2Classifier(**TINY, max_epochs=30, lr=1e-2)


def check_cases(estimators):
    """``parametrize_with_checks``'s cases; the learning checks with :data:`LEARNER`."""
    for estimator in estimators:
        expected = EXPECTED_FAILURES[type(estimator).__name__]
        for case in estimator_checks_generator(
            estimator, expected_failed_checks=expected, mark="xfail"
        ):
            marked = hasattr(case, "marks")  # a pytest.param: an expected failure
            values, marks = (case.values, list(case.marks)) if marked else (case, [])
            check = values[1]
            name = (check.func if isinstance(check, functools.partial) else check).__name__
            if name in LEARNING_CHECKS:
                values, marks = (LEARNER, check), [*marks, pytest.mark.slow]
            yield pytest.param(*values, marks=marks)


@pytest.mark.parametrize(
    ("estimator", "check"),
    list(
        check_cases(
            [EEGM2Pretrainer(**TINY, max_epochs=1), EEGM2Classifier(**TINY, max_epochs=1, lr=1e-2)]
        )
    ),
    ids=_get_check_estimator_ids,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
