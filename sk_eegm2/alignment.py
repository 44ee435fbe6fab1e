"""Subject alignment: each subject's windows re-centred with statistics of its own windows.

EEG differs between people (head shape, impedances, electrode positions) more than between
the conditions a classifier must tell apart within one person. :class:`SubjectAlignment`
removes the part of that difference which a subject's unlabelled windows reveal, before any
model sees them: Euclidean alignment (He & Wu, 2019) whitens each subject's windows by the
inverse square root of the subject's mean spatial covariance; standardisation removes each
subject's channel means and scales.

It is *transductive*: the statistics of a test subject come from that subject's own
unlabelled windows, all of them, at ``transform``. Nothing learnt from the training subjects
is applied to new subjects, and no labels are used, but a model evaluated this way has seen
the test subjects' windows (not their labels) before predicting them: keep such scores apart
from those of models that see one window at a time.

The subject of each window reaches :meth:`~sk_eegm2.SubjectAlignment.transform` as ``groups``, also
inside :class:`~sklearn.pipeline.Pipeline`, :func:`~sklearn.model_selection.cross_validate`
and :class:`~sklearn.model_selection.GridSearchCV` through scikit-learn's metadata routing
(``sklearn.set_config(enable_metadata_routing=True)``). A pipeline's own ``score`` routes
them to the alignment, but scikit-learn's named scorers (``scoring="balanced_accuracy"``) call
``predict`` without metadata (scikit-learn issue 27977); :class:`SubjectScorer` scores with
any metric and passes them on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.validation import check_is_fitted

from .validation import check_eeg

#: Eigenvalues of a subject's mean covariance below this fraction of the largest count as
#: zero: the rank that a common-average reference or float32 rounding removes. Their
#: directions are dropped rather than amplified a million-fold into noise.
RANK_TOLERANCE = 1e-6

_HOW_TO_PASS_GROUPS = (
    "Pass the subject of each window: transform(X, groups=subjects). Inside a Pipeline, "
    "cross_validate or GridSearchCV, enable metadata routing "
    "(sklearn.set_config(enable_metadata_routing=True)) and pass params={'groups': subjects} "
    "(GridSearchCV.fit(X, y, groups=subjects)). Score with the estimator's own score "
    "(scoring=None) or with sk_eegm2.SubjectScorer: scikit-learn's named scorers (e.g. "
    "scoring='balanced_accuracy') do not pass groups on to predict."
)


class SubjectAlignment(TransformerMixin, BaseEstimator):
    """Align each subject's EEG windows with statistics of that subject's own windows.

    Transductive: ``transform`` computes each subject's statistics from all the windows of
    that subject it is given, without labels, and ``fit`` stores none of them, so new
    subjects are aligned with their own unlabelled windows. A subject's output depends on
    that subject's windows only (not on other subjects', nor on those seen in ``fit``).

    Parameters
    ----------
    method : {"euclidean", "standardize"}, default="euclidean"
        "euclidean": Euclidean alignment (He & Wu, 2019). Each window ``X_i`` of subject
        ``s`` becomes ``R_s^(-1/2) X_i``, with ``R_s`` the mean over the subject's windows of
        ``X_i X_i^T / n_times``; the aligned windows' mean covariance is then the identity
        (the pseudo-inverse square root where ``R_s`` is rank-deficient, e.g. after a
        common-average reference). "standardize": each channel of each subject minus its
        mean and divided by its standard deviation, both over all the subject's windows and
        time points.

    Attributes
    ----------
    n_chans_ : int
        Channels of the windows seen in ``fit``; ``transform`` wants the same number.
    n_features_in_ : int
        ``n_chans * n_times`` of the windows seen in ``fit``.

    Notes
    -----
    ``groups`` is requested by default at ``fit`` and ``transform`` (``fit_transform`` uses
    it for both), as a group splitter requests it at ``split``: with metadata routing
    enabled, ``cross_validate(pipeline, X, y, params={"groups": subjects})`` gives it to the
    alignment step without further setting. ``set_transform_request(groups=True)`` states the
    same explicitly.

    References
    ----------
    He, H., & Wu, D. (2019). Transfer learning for brain-computer interfaces: a Euclidean
    space data alignment approach. IEEE Transactions on Biomedical Engineering, 67(2),
    399-410.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_eegm2 import SubjectAlignment
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 4, 128)).astype(np.float32)
    >>> subjects = np.repeat([0, 1], 10)
    >>> aligned = SubjectAlignment().fit_transform(X, groups=subjects)
    >>> aligned.shape
    (20, 4, 128)
    """

    __metadata_request__fit: ClassVar[dict[str, bool]] = {"groups": True}
    __metadata_request__transform: ClassVar[dict[str, bool]] = {"groups": True}

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "method": [StrOptions({"euclidean", "standardize"})]
    }

    def __init__(self, method: str = "euclidean") -> None:
        self.method = method

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X: Any, y: Any = None, groups: Any = None) -> SubjectAlignment:
        """Check the parameters and record the channel count; no subject statistics are kept.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs
        y : None
            Ignored.
        groups : array-like of shape (n_samples,), optional
            Subject of each window; checked for length only (statistics are computed at
            ``transform``).

        Returns
        -------
        self
        """
        self._validate_params()
        data = check_eeg(X).X
        if groups is not None:
            _check_groups(groups, len(data))
        self.n_chans_ = data.shape[1]
        self.n_features_in_ = data.shape[1] * data.shape[2]
        return self

    def transform(self, X: Any, groups: Any = None) -> np.ndarray:
        """Align each subject's windows with that subject's own statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs
            Windows of one or several subjects (MNE Epochs are read in microvolts).
        groups : array-like of shape (n_samples,)
            Subject of each window.

        Returns
        -------
        ndarray of float32, shape (n_samples, n_chans, n_times)

        Raises
        ------
        ValueError
            If ``groups`` is missing or has another length than ``X``, or if ``X`` has other
            channels than in ``fit``.
        """
        check_is_fitted(self)
        data = check_eeg(X).X
        if data.shape[1] != self.n_chans_:
            raise ValueError(
                f"X has {data.shape[1]} channels, but SubjectAlignment was fitted on "
                f"{self.n_chans_}."
            )
        if groups is None:
            raise ValueError(
                "SubjectAlignment.transform needs groups (the subject of each window) to "
                f"align each subject with its own windows. {_HOW_TO_PASS_GROUPS}"
            )
        groups = _check_groups(groups, len(data))
        align = _whiten if self.method == "euclidean" else _standardize
        aligned = np.empty_like(data)
        for subject in np.unique(groups):
            rows = groups == subject
            aligned[rows] = align(data[rows])
        return aligned

    def fit_transform(self, X: Any, y: Any = None, groups: Any = None) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform` with the same ``groups``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs
        y : None
            Ignored.
        groups : array-like of shape (n_samples,)
            Subject of each window.

        Returns
        -------
        ndarray of float32, shape (n_samples, n_chans, n_times)
        """
        eeg = check_eeg(X)  # converted once for both
        return self.fit(eeg, y, groups).transform(eeg, groups)


def _check_groups(groups: Any, n_samples: int) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_samples:
        raise ValueError(
            f"groups must give the subject of each of the {n_samples} windows; got shape "
            f"{groups.shape}."
        )
    return groups


def _whiten(windows: np.ndarray) -> np.ndarray:
    """One subject's windows times the inverse square root of their mean covariance."""
    data = windows.astype(np.float64)
    mean_cov = np.einsum("nct,ndt->cd", data, data) / (len(data) * data.shape[-1])
    eigenvalues, eigenvectors = np.linalg.eigh(mean_cov)
    kept = eigenvalues > RANK_TOLERANCE * eigenvalues.max()
    inverse_root = np.zeros_like(eigenvalues)
    inverse_root[kept] = eigenvalues[kept] ** -0.5
    whitener = (eigenvectors * inverse_root) @ eigenvectors.T
    return np.einsum("cd,ndt->nct", whitener, data).astype(np.float32)


def _standardize(windows: np.ndarray) -> np.ndarray:
    """One subject's windows with each channel's mean and scale over them removed."""
    data = windows.astype(np.float64)
    mean = data.mean(axis=(0, 2), keepdims=True)
    scale = data.std(axis=(0, 2), keepdims=True)
    return ((data - mean) / np.where(scale > 0, scale, 1.0)).astype(np.float32)


class SubjectScorer:
    """A scorer that passes each window's subject on to ``predict``.

    scikit-learn's scorers call ``estimator.predict(X)`` without metadata, so a pipeline
    that starts with :class:`SubjectAlignment` cannot be scored by them. This scorer
    requests ``groups`` (as a scorer's ``score`` metadata) and calls
    ``estimator.predict(X, groups=groups)``; with metadata routing enabled a Pipeline routes
    them on to the alignment's ``transform``.

    Parameters
    ----------
    score_func : callable, default=balanced_accuracy_score
        ``score_func(y_true, y_pred) -> float``, higher is better.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import GroupKFold, cross_validate
    >>> from sk_eegm2 import SubjectScorer
    >>> with sklearn.config_context(enable_metadata_routing=True):  # doctest: +SKIP
    ...     cross_validate(pipeline, X, y, cv=GroupKFold(4), scoring=SubjectScorer(),
    ...                    params={"groups": subjects})
    """

    def __init__(self, score_func: Callable[[Any, Any], float] = balanced_accuracy_score):
        self.score_func = score_func

    def __call__(self, estimator: Any, X: Any, y_true: Any, groups: Any = None) -> float:
        """Score ``estimator`` on ``X``, passing ``groups`` to its ``predict``."""
        if groups is None:
            raise ValueError(f"SubjectScorer needs groups. {_HOW_TO_PASS_GROUPS}")
        return float(self.score_func(y_true, estimator.predict(X, groups=groups)))

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's request: ``groups`` at ``score``."""
        request = MetadataRequest(owner=self)
        request.score.add_request(param="groups", alias=True)
        return request

    def __repr__(self) -> str:
        return f"SubjectScorer({getattr(self.score_func, '__name__', self.score_func)})"
