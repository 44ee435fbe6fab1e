"""sk_eegm2: EEGM2, self-supervised Mamba-2 for long EEG sequences, in scikit-learn."""

from ._version import __version__
from .alignment import SubjectAlignment, SubjectScorer
from .classifier import EEGM2Classifier
from .pretrainer import EEGM2Pretrainer

__all__ = [
    "EEGM2Classifier",
    "EEGM2Pretrainer",
    "SubjectAlignment",
    "SubjectScorer",
    "__version__",
]
