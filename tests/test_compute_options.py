"""The estimators' compute options: the same results (within rounding), kept by clone and save."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.nn import MambaBlock

TINY = {"widths": (8, 16), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
X = np.random.default_rng(0).standard_normal((16, 3, 32)).astype(np.float32)
Y = np.arange(16) % 2
OPTIONS = {
    "precision": "bfloat16",
    "threads": 1,
    "checkpointing": True,
}


def fitted(**options):
    return EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0, **options).fit(X)


@pytest.fixture(scope="module")
def plain():
    """The run with the default options, which the others are compared with."""
    return fitted()


def test_threads_change_nothing(plain):
    tuned = fitted(threads=2)
    # other threads may sum in another order: equal up to float32 rounding
    np.testing.assert_allclose(plain.transform(X), tuned.transform(X), rtol=1e-5, atol=1e-6)
    assert torch.get_num_threads() == 1  # restored after fit and transform (conftest sets 1)


def test_recomputation_reaches_the_blocks_and_gives_the_same_training(plain):
    recomputed = fitted(checkpointing=True)
    blocks = [m for m in recomputed.net_.module_.modules() if isinstance(m, MambaBlock)]
    assert blocks and all(block.checkpointing for block in blocks)
    np.testing.assert_allclose(plain.transform(X), recomputed.transform(X), rtol=1e-4, atol=1e-5)


def test_bfloat16_trains_and_infers_close_to_float32(plain):
    bf16 = fitted(precision="bfloat16")
    assert np.isfinite(bf16.history_[:, "train_loss"]).all()
    # bfloat16 keeps 8 bits of mantissa: features agree to a few per cent after training
    a, b = plain.transform(X), bf16.transform(X)
    assert np.abs(a - b).max() / np.abs(a).max() < 0.1
    assert b.dtype == np.float32
    reconstruction = copy.deepcopy(plain).set_params(precision="bfloat16").reconstruct(X)
    np.testing.assert_allclose(reconstruction, plain.reconstruct(X), rtol=0.1, atol=0.1)


def test_a_classifier_trains_in_bfloat16():
    clf = EEGM2Classifier(**TINY, max_epochs=1, precision="bfloat16", random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and np.allclose(proba.sum(1), 1)


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_clone_and_save_keep_the_compute_options(estimator, tmp_path):
    model = estimator(**TINY, max_epochs=1, random_state=0, **OPTIONS)
    assert clone(model).get_params()["precision"] == "bfloat16"
    model.fit(X, Y)
    loaded = estimator.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert {k: loaded.get_params()[k] for k in OPTIONS} == OPTIONS


def test_unknown_precision_is_refused_at_fit():
    with pytest.raises(ValueError, match="'precision' parameter"):
        EEGM2Pretrainer(**TINY, precision="float8").fit(X)
