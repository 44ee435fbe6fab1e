"""Estimator parameters declared once each: default, constraints and documentation together.

An estimator class decorated with :func:`estimator_parameters` declares each parameter as
a class attribute, ``name: type = parameter(default, constraints, type_doc, description,
role=...)``. The decorator makes of them what scikit-learn reads: an ``__init__`` that only
stores them (keyword-only, as a :func:`dataclasses.dataclass` writes it),
``_parameter_constraints`` (checked by ``_validate_params`` at the start of ``fit``) and the
"Parameters" section of the docstring, at its ``%(parameters)s`` line. Adding a parameter is
therefore one declaration; subclasses inherit the base class's and may declare one again to
change its default or its description.

Each declaration also says what the parameter is for, its role (one of :data:`ROLES`), and
whether it is saved by ``save_pretrained`` and fingerprinted (part of what a checkpoint must
match to be resumed). :func:`declared` selects parameters by these: the architecture, the
compute settings, the training plan and the saved and fingerprinted sets all derive from the
declarations. Fitted attributes are declared likewise, with :func:`fitted`, in the class's
``_fitted_attributes``: their documentation (``%(fitted)s``) and the table of saved ones
(``_saved_attributes``) derive from it.
"""

from __future__ import annotations

import dataclasses
import re
from numbers import Integral, Real
from typing import Any, TypeVar

from sklearn.utils._param_validation import Interval, Options
from typing_extensions import dataclass_transform

from .nn.heads import FEATURE_SETS, parse_features


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


class FeatureSpec(Options):
    """Encoder features that :func:`~sk_eegm2.nn.parse_features` accepts.

    Parameters
    ----------
    kind : {str, tuple}
        ``str``: a specification such as ``"light+logvar"`` (a parameter); ``tuple``: its
        parts, parsed (a fitted attribute).
    """

    def __init__(self, kind: type = str) -> None:
        super().__init__(kind, set())

    def is_satisfied_by(self, val: Any) -> bool:
        if not isinstance(val, self.type):
            return False
        try:
            parse_features(val)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        joined = "joined by '+'" if self.type is str else "as a tuple"
        return f"one or more of {FEATURE_SETS}, each once, {joined}"


POSITIVE_INT = Interval(Integral, 1, None, closed="left")
POSITIVE = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
#: The most threads that ``threads`` may ask for: more than the logical cores of any current
#: machine (the largest have a few hundred). A larger number is a mistake (a typo, an edited
#: config.json), and starting that many threads would exhaust the process's limits.
MAX_THREADS = 1024
THREAD_COUNT = Interval(Integral, 1, MAX_THREADS, closed="both")


#: What a parameter is for: the network's shape (the preset and the fields of
#: :class:`~sk_eegm2.nn.EEGM2Config`); how the network runs, not what it computes
#: (:class:`~sk_eegm2.nn.compute.Compute`); how input is read, scaled and held out; how
#: training runs (loss, optimiser, epochs, stopping, checkpoints, device); what the estimator
#: is made of beyond the network and what it returns (heads, features, starting weights).
ROLES = ("architecture", "compute", "data", "training", "model")


def parameter(
    default: Any,
    constraints: list[Any],
    type_doc: str,
    description: str,
    *,
    role: str,
    saved: bool = True,
    fingerprinted: bool = True,
) -> Any:
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
    role : str
        What the parameter is for, one of :data:`ROLES`.
    saved : bool
        Whether ``save_pretrained`` writes it (not: where to write, where the weights came
        from, the device, which are chosen anew where the model is loaded).
    fingerprinted : bool
        Whether a checkpoint written under another value is refused on resuming: True for
        every parameter that changes the numbers of a run, rounding included (threads,
        compilation, chunk length, kernels), False for those that change none (where to
        write, verbosity, data loading), for the device and the processes a run may move
        to, and for the sources of initial weights, which are fingerprinted themselves.

    Returns
    -------
    dataclasses.Field
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}.")
    return dataclasses.field(
        default=default,
        metadata={
            "constraints": constraints,
            "type_doc": type_doc,
            "description": description,
            "role": role,
            "saved": saved,
            "fingerprinted": fingerprinted,
        },
    )


def declared(
    cls: type,
    role: str | None = None,
    *,
    saved: bool | None = None,
    fingerprinted: bool | None = None,
) -> tuple[str, ...]:
    """Names of the parameters of ``cls`` with ``role`` and the flags given, in declaration order.

    Parameters
    ----------
    cls : type
        A class decorated with :func:`estimator_parameters`.
    role : str or None
        One of :data:`ROLES`; None: any.
    saved, fingerprinted : bool or None
        The flags of :func:`parameter` to select; None: either.

    Returns
    -------
    tuple of str
    """
    wanted = {"role": role, "saved": saved, "fingerprinted": fingerprinted}
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if all(value is None or f.metadata[key] == value for key, value in wanted.items())
    )


@dataclasses.dataclass(frozen=True)
class FittedAttribute:
    """A fitted attribute's documentation and, if it is saved, the checks of a loaded value.

    Parameters
    ----------
    type_doc : str
        Its type in the documentation.
    description : str
        Its documentation, without indentation.
    constraints : list or None
        scikit-learn constraints that a value read by ``from_pretrained`` must satisfy; None:
        not saved (derived from others, or telling of the run only).
    """

    type_doc: str
    description: str
    constraints: list[Any] | None = None


fitted = FittedAttribute


Estimator = TypeVar("Estimator", bound=type)
_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s$", re.MULTILINE)


@dataclass_transform(kw_only_default=True, field_specifiers=(parameter,))
def estimator_parameters(cls: Estimator) -> Estimator:
    """Make ``cls``'s parameter declarations its ``__init__``, constraints and documentation."""
    if cls.__dict__.get("__init__") is _undecorated_init:
        del cls.__init__  # type: ignore[misc]  # the dataclass writes the real one
    dataclasses.dataclass(kw_only=True, eq=False, repr=False)(cls)  # sets __init__ in place
    parameters = dataclasses.fields(cls)
    cls._parameter_constraints = {f.name: f.metadata["constraints"] for f in parameters}  # type: ignore[attr-defined]
    attributes: dict[str, FittedAttribute] = getattr(cls, "_fitted_attributes", {})
    cls._saved_attributes = {  # type: ignore[attr-defined]
        name: a.constraints for name, a in attributes.items() if a.constraints is not None
    }
    fill_doc(
        cls,
        parameters="\n".join(
            _entry(
                f"{f.name} : {f.metadata['type_doc']}, default={f.default!r}",
                f.metadata["description"],
            )
            for f in parameters
        ),
        fitted="\n".join(
            _entry(f"{name} : {a.type_doc}", a.description) for name, a in attributes.items()
        ),
    )
    return cls


def refuse_undecorated(cls: type) -> None:
    """Make ``cls`` refuse to be instantiated if it declares parameters undecorated.

    For the ``__init_subclass__`` of a base class: a subclass's parameter declarations are
    only read by :func:`estimator_parameters`, so without it they would be silently ignored
    (an ``__init__`` that does not take them, ``get_params`` without them). The decorator
    runs after ``__init_subclass__`` and removes the refusal; it raises where it was not
    applied, at the first instantiation.
    """
    if any(isinstance(value, dataclasses.Field) for value in vars(cls).values()):
        cls.__init__ = _undecorated_init  # type: ignore[misc]


def _undecorated_init(self: Any, *args: Any, **kwargs: Any) -> None:
    offender = next(
        c for c in type(self).__mro__ if c.__dict__.get("__init__") is _undecorated_init
    )
    declared = [n for n, v in vars(offender).items() if isinstance(v, dataclasses.Field)]
    raise TypeError(
        f"{offender.__name__} declares the parameters {declared} with parameter() but is not "
        f"decorated: put @estimator_parameters on the line above 'class {offender.__name__}'."
    )


def _entry(head: str, description: str) -> str:
    """A numpydoc entry: its head line, then the description indented."""
    lines = description.split("\n")
    return "\n".join([head, *(f"    {line}" if line else line for line in lines)])


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
    "interruption": """\
Ctrl-C (KeyboardInterrupt) during training stops it and is raised again, with a message that
says what the estimator kept, so that a cross-validation or a search stops too instead of
scoring a truncated model. If at least one epoch was complete, the estimator keeps the
history of the complete epochs and the network of the last one (with a validation split,
of the best one), fitted and consistent; otherwise it is left as it was before ``fit``:
unfitted after a first fit, with its previous model after a refit. A non-finite loss ends
the same way, with :class:`~sk_eegm2.callbacks.NonFiniteLossError`, except that the network
kept is that of the last complete epoch in any case. Any other error in ``fit`` leaves the
estimator as it was before.""",
}
