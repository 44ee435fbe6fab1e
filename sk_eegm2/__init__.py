"""sk_eegm2: EEGM2, self-supervised Mamba-2 for long EEG sequences, in scikit-learn."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = ["EEGM2Classifier", "EEGM2Pretrainer", "__version__"]

if TYPE_CHECKING:
    from .classifier import EEGM2Classifier
    from .pretrainer import EEGM2Pretrainer

# The estimators import PyTorch, which takes seconds: they are imported on first use, so that
# `python -m sk_eegm2 --help` answers at once.
_ESTIMATOR_MODULES = {"EEGM2Classifier": "classifier", "EEGM2Pretrainer": "pretrainer"}


def __getattr__(name: str) -> Any:
    if name not in _ESTIMATOR_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_ESTIMATOR_MODULES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ESTIMATOR_MODULES})
