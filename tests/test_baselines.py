"""Tests of ``sk_eegm2.baselines``: the Riemannian pipeline and what happens without pyRiemann."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone

from sk_eegm2.baselines import tangent_space_pipeline


def test_tangent_space_pipeline_classifies_covariance_differences() -> None:
    pytest.importorskip("pyriemann")
    rng = np.random.default_rng(0)
    # Class 1 has twice the variance on channel 0: a difference only covariances see.
    X = rng.standard_normal((40, 3, 64))
    y = np.repeat([0, 1], 20)
    X[y == 1, 0] *= 2.0
    pipe = tangent_space_pipeline(class_weight="balanced")
    assert pipe[-1].class_weight == "balanced"
    assert clone(pipe).fit(X[::2], y[::2]).score(X[1::2], y[1::2]) > 0.9


def test_tangent_space_pipeline_without_pyriemann_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes ``import pyriemann...`` raise ImportError, as when the
    # package is not installed, whether or not it is.
    for name in ("pyriemann", "pyriemann.estimation", "pyriemann.tangentspace"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "sk_eegm2\[baselines\]"'):
        tangent_space_pipeline()
