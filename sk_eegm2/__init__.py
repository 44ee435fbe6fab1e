"""sk_eegm2: EEGM2, self-supervised Mamba-2 for long EEG sequences, in scikit-learn."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "EEGM2Classifier",
    "EEGM2Pretrainer",
    "SubjectAlignment",
    "SubjectScorer",
    "__version__",
]

if TYPE_CHECKING:
    from .alignment import SubjectAlignment, SubjectScorer
    from .classifier import EEGM2Classifier
    from .pretrainer import EEGM2Pretrainer

# The estimators import PyTorch, which takes seconds: they are imported on first use, so that
# `python -m sk_eegm2 --help` answers at once.
_MODULES = {
    "EEGM2Classifier": "classifier",
    "EEGM2Pretrainer": "pretrainer",
    "SubjectAlignment": "alignment",
    "SubjectScorer": "alignment",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
