"""Public EEG datasets as windows or trials ready for scikit-learn, and window cutting.

Loaders return ``(X, y, groups)``: ``X`` as :class:`mne.Epochs` (or a NumPy array in
microvolts), integer labels ``y`` and the subject of each sample in ``groups``, for
group-aware cross-validation such as :class:`sklearn.model_selection.GroupKFold`.

:mod:`sk_eegm2.datasets.moabb` (imported on its own, as it needs MOABB) offers EEGMAT as a
MOABB dataset, for MOABB's paradigms and evaluations.
"""

from __future__ import annotations

from .eegbci import load_eegbci
from .eegmat import load_eegmat
from .windows import make_windows

__all__ = ["load_eegbci", "load_eegmat", "make_windows"]
