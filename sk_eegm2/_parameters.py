"""Estimator parameters declared once each: default, constraints and documentation together.

An estimator class decorated with :func:`estimator_parameters` declares each parameter as
a class attribute, ``name: type = parameter(default, constraints, type_doc, description)``.
The decorator makes of them what scikit-learn reads: an ``__init__`` that only stores them
(keyword-only, as a :func:`dataclasses.dataclass` writes it), ``_parameter_constraints``
(checked by ``_validate_params`` at the start of ``fit``) and the "Parameters" section of
the docstring, at its ``%(parameters)s`` line. Saving and loading follow ``get_params``.
Adding a parameter is therefore one declaration; subclasses inherit the base class's and
may declare one again to change its default or its description.
"""

from __future__ import annotations

import dataclasses
import re
from numbers import Integral, Real
from typing import Any, TypeVar

from sklearn.utils._param_validation import Interval, Options
from typing_extensions import dataclass_transform


class Widths(Options):
    """A non-empty tuple of positive integers (sklearn's constraints have none for it).

    An :class:`~sklearn.utils._param_validation.Options` only to pass sklearn's check of
    constraint types; it is satisfied by any such tuple, not by a list of options.
    """

    def __init__(self) -> None:
        super().__init__(tuple, set())

    def is_satisfied_by(self, val: Any) -> bool:
        return (
            isinstance(val, tuple)
            and len(val) > 0
            and all(isinstance(w, Integral) and not isinstance(w, bool) and int(w) > 0 for w in val)
        )

    def __str__(self) -> str:
        return "a non-empty tuple of positive int"


POSITIVE_INT = Interval(Integral, 1, None, closed="left")
POSITIVE = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE = Interval(Real, 0, None, closed="left")


def parameter(default: Any, constraints: list[Any], type_doc: str, description: str) -> Any:
    """Declare an estimator parameter.

    Parameters
    ----------
    default : object
        The default value (immutable, as scikit-learn requires).
    constraints : list
        scikit-learn parameter constraints (types, ``Interval``, ``StrOptions``, None, ...).
    type_doc : str
        Its type in the documentation, e.g. ``"int"`` or ``'{"fine", "light"}'``.
    description : str
        Its documentation, without indentation; lines are joined as written.

    Returns
    -------
    dataclasses.Field
    """
    return dataclasses.field(
        default=default,
        metadata={"constraints": constraints, "type_doc": type_doc, "description": description},
    )


Estimator = TypeVar("Estimator", bound=type)
_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s$", re.MULTILINE)


@dataclass_transform(kw_only_default=True, field_specifiers=(parameter,))
def estimator_parameters(cls: Estimator) -> Estimator:
    """Make ``cls``'s parameter declarations its ``__init__``, constraints and documentation."""
    dataclasses.dataclass(kw_only=True, eq=False, repr=False)(cls)  # sets __init__ in place
    declared = dataclasses.fields(cls)
    cls._parameter_constraints = {f.name: f.metadata["constraints"] for f in declared}  # type: ignore[attr-defined]
    entries = [_entry(f) for f in declared]
    fill_doc(cls, parameters="\n".join(entries))
    return cls


def _entry(declared: dataclasses.Field) -> str:
    """The numpydoc entry of a parameter."""
    description = declared.metadata["description"].split("\n")
    head = f"{declared.name} : {declared.metadata['type_doc']}, default={declared.default!r}"
    return "\n".join([head, *(f"    {line}" if line else line for line in description)])


def fill_doc(obj: Any, **entries: str) -> None:
    """Put ``entries`` and :data:`DOCS` into ``obj``'s docstring at its ``%(name)s`` lines.

    Each placeholder stands alone on its line; the entry takes its indentation.
    """
    known = {**DOCS, **entries}

    def entry(match: re.Match[str]) -> str:
        indent = match["indent"]
        lines = known[match["name"]].split("\n")
        return "\n".join(indent + line if line else line for line in lines)

    obj.__doc__ = _PLACEHOLDER.sub(entry, obj.__doc__ or "")


#: Documentation both estimators share, beyond their parameters.
DOCS: dict[str, str] = {
    "fitted": """\
config_ : EEGM2Config
    The architecture of the network (see :class:`~sk_eegm2.nn.EEGM2Config`).
scaling_ : {"window", "global", None}
    The amplitude scaling applied before the network.
scale_ : float
    The divisor of "global" scaling (1 otherwise).
amplitude_ : float
    95th percentile of ``|x|`` over the training windows (a sample of them, for datasets);
    input orders of magnitude away from it at prediction warns
    (:class:`~sk_eegm2.validation.AmplitudeWarning`).
n_chans_, n_times_ : int
    Channels and window length seen in ``fit``.
sfreq_ : float or None
    Sampling rate of MNE input and recordings (or of a dataset with an ``sfreq``
    attribute), or the ``sfreq`` declared for arrays, else None.
ch_names_ : list of str or None
    Channel names of MNE input and recordings (or of a dataset with ``ch_names``), else
    None. Later input must have the same names in the same order.
n_features_in_ : int
    ``n_chans_ * n_times_``.
history_ : skorch.History
    Per-epoch losses (``valid_loss`` only with a validation split).
device_ : str
    The device used.""",
    "interruption": """\
Ctrl-C (KeyboardInterrupt) during training stops it: the estimator keeps the network of the
last complete epoch, fitted and consistent, and the KeyboardInterrupt is raised again, so
that a cross-validation or a search stops too instead of scoring a truncated model. A
non-finite loss ends the same way with :class:`~sk_eegm2.callbacks.NonFiniteLossError`. Any
other error in ``fit`` leaves the estimator as it was before.""",
}
