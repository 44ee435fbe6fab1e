"""Saving and loading fitted estimators: ``config.json`` and ``model.safetensors`` in a folder.

What is saved is the estimator's parameters declared ``saved`` (see
:func:`~sk_eegm2._parameters.parameter`) and its ``_saved_attributes``: the table, per
estimator class, of the fitted attributes declared with constraints. JSON values are written
to ``config.json``; networks (skorch nets, modules) to ``model.safetensors``, each under its
attribute's name. Loading checks every key, type and value of ``config.json``, and the
shapes of the networks it describes against the weights, before it allocates anything, and
never executes code from the files. Pickling moves the networks of that table to the CPU.
"""

from __future__ import annotations

import copy
import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sklearn.utils._param_validation import (
    InvalidParameterError,
    validate_parameter_constraints,
)
from skorch import NeuralNet

from ._files import read_json, regular_file
from ._nets import resolve_device, restore_net
from ._parameters import declared
from ._version import __version__
from .nn import EEGM2Config
from .nn.authors import check_weight_tensor

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: The model card (see :mod:`sk_eegm2.hub`): written, never read back.
CARD_FILE = "README.md"
#: Parameters of earlier versions that no longer exist, ignored when a folder saved by
#: those versions is loaded (each changed how the model ran, never what it computes).
#: ``keep_freed_memory``: it changed glibc's malloc settings for the whole process, for good,
#: for a small speed-up (see the measurement log, docs/performance.rst).
RETIRED_PARAMETERS = frozenset({"keep_freed_memory"})
#: The largest and deepest config.json that loading reads. What save writes is parameters
#: and fitted attributes (channel names, classes): kilobytes, nested a few levels deep.
MAX_CONFIG_BYTES = 16 * 2**20
MAX_CONFIG_DEPTH = 32
_RENAME_EXCHANGE = 2  # renameat2 flag: swap two paths atomically (Linux >= 3.15)


# ------------------------------------------------------------------------------- saving
def save(estimator: Any, directory: str | os.PathLike[str], card: str) -> Path:
    """Write a fitted ``estimator`` and its model ``card`` into ``directory``, which always
    holds a whole model.

    The files are written into a temporary sibling folder, then the two folders swap
    places in one atomic rename: a process killed at any point leaves ``directory`` with
    the old model or the new one, whole (and, at worst, a ``.{name}.saving-*`` folder
    beside it). A symlink ``directory`` is followed: the folder it points to gets the
    model. Of saves racing to one folder, the last one wins.
    """
    # A symlink is followed: the model goes where it points, and the link stays a link.
    target = Path(os.path.realpath(directory))
    _check_replaceable(target)
    params = {name: getattr(estimator, name) for name in declared(type(estimator), saved=True)}
    config: dict[str, Any] = {
        "class": type(estimator).__name__,
        "sk_eegm2_version": __version__,
        "params": {name: _encode(value) for name, value in params.items()},
        "fitted": {},
    }
    tensors: dict[str, torch.Tensor] = {}
    for name in estimator._saved_attributes:
        value = getattr(estimator, name)
        if isinstance(value, NeuralNet):
            value = value.module_
        if isinstance(value, torch.nn.Module):
            state = value.state_dict()
            tensors |= {f"{name}.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
        else:
            config["fitted"][name] = _encode(value)
    text = json.dumps(config, indent=2)  # before writing anything: fails on odd values
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.saving-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private; a model folder is not
    try:
        save_file(tensors, str(staging / WEIGHTS_FILE))
        (staging / CONFIG_FILE).write_text(text)
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        for path in (staging / WEIGHTS_FILE, staging / CONFIG_FILE, staging / CARD_FILE):
            _fsync(path)
        _fsync(staging)
        _put_in_place(staging, target)
        _fsync(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(directory)


def _check_replaceable(target: Path) -> None:
    """Refuse to replace ``target`` unless it is absent or a folder of a saved model only."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(f"{target} is a file; save_pretrained writes a folder.")
    saved = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
    others = sorted(p.name for p in target.iterdir() if p.name not in saved)
    if others:
        raise ValueError(
            f"{target} holds other files than a saved model ({', '.join(others[:5])}); "
            "save_pretrained replaces the whole folder: choose a new or empty one."
        )


def _put_in_place(staging: Path, target: Path) -> None:
    """Move the folder ``staging`` to ``target``: a rename if it is new, else an exchange.

    Another save may create ``target`` between the check and the rename (two processes
    saving to one new folder): the rename then fails, and ``target``, now a saved model,
    is exchanged like an old one. Of racing saves the last one wins, and each model stays
    whole; ``staging`` holds the replaced model afterwards.
    """
    if not target.exists():
        try:
            os.rename(staging, target)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    _check_replaceable(target)
    _exchange(staging, target)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (folders: POSIX only)."""
    if path.is_dir() and os.name != "posix":
        return
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically where the system can (Linux), else by two renames."""
    if sys.platform.startswith("linux"):
        renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc 2.28
        if renameat2 is not None:
            at_cwd = -100
            if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
                return
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # else: cannot swap
                raise OSError(code, os.strerror(code), str(b))
    # Elsewhere a kill between the two renames leaves the old model in the ".old" folder.
    old = a.with_name(a.name + ".old")
    os.rename(b, old)
    os.rename(a, b)
    os.rename(old, a)


def _encode(value: Any) -> Any:
    """A value as JSON, tagged where JSON alone would lose its type."""
    if isinstance(value, EEGM2Config):
        return {"EEGM2Config": {k: _encode(v) for k, v in asdict(value).items()}}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):  # keys keep their type (class_weight: {0: 1.0, 1: 3.0})
        return {"dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.RandomState):
        return None  # a generator's state is not a setting; a refit draws from a new one
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot save a {type(value).__name__} ({value!r}) in {CONFIG_FILE}.")


def _decode(value: Any, where: str) -> Any:
    """The inverse of :func:`_encode`; refuses JSON objects it did not write."""
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if value.keys() == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_decode(v, where) for v in value["tuple"])
    if value.keys() == {"dict"} and isinstance(value["dict"], list):
        pairs = [_decode(pair, where) for pair in value["dict"]]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError(f"{where}: a dict must be a list of [key, value] pairs.")
        return {k: v for k, v in pairs}
    if value.keys() == {"array", "dtype"}:
        try:
            return np.asarray(value["array"], dtype=np.dtype(value["dtype"]))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: not an array ({error}).") from None
    if value.keys() == {"EEGM2Config"} and isinstance(value["EEGM2Config"], dict):
        settings = {k: _decode(v, where) for k, v in value["EEGM2Config"].items()}
        names = {f.name for f in fields(EEGM2Config)}
        if settings.keys() != names:
            raise ValueError(f"{where}: EEGM2Config needs exactly the keys {sorted(names)}.")
        return EEGM2Config(**settings)  # its values are checked with the estimator's
    raise ValueError(f"{where}: unexpected JSON object {sorted(value)}.")


# ------------------------------------------------------------------------------ loading
def load(cls: type, directory: str | os.PathLike[str], device: str) -> Any:
    """The estimator of class ``cls`` saved in ``directory``, its networks on ``device``."""
    directory = Path(directory)
    where = str(directory / CONFIG_FILE)
    config = _read_config(directory)
    if not isinstance(config, dict) or config.get("class") != cls.__name__:
        found = config.get("class") if isinstance(config, dict) else None
        raise ValueError(
            f"{directory} holds a {found}, not a {cls.__name__}; load it with "
            f"{found}.from_pretrained."
        )
    weights = regular_file(directory / WEIGHTS_FILE, f"saved model's {WEIGHTS_FILE}")
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"{directory / WEIGHTS_FILE} is corrupted or truncated ({error}); save it again."
        ) from None

    estimator = cls(device=device)
    params = {
        name: value
        for name, value in _section(config, "params", where).items()
        if name not in RETIRED_PARAMETERS
    }
    allowed = set(declared(cls, saved=True))
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"{where} has unknown parameters {unknown}; it was written by another version "
            f"(sk_eegm2 {config.get('sk_eegm2_version')}) or edited."
        )
    estimator.set_params(**{k: _decode(v, where) for k, v in params.items()})
    _validate_loaded_params(estimator, where)

    fitted = _section(config, "fitted", where)
    modules = [
        name
        for name in estimator._saved_attributes
        if any(key.startswith(f"{name}.") for key in tensors)
    ]
    expected = set(estimator._saved_attributes) - set(modules)
    if fitted.keys() != expected:
        raise ValueError(
            f"{where} must describe exactly the fitted attributes {sorted(expected)}; it has "
            f"{sorted(fitted)}."
        )
    values = {name: _decode(value, where) for name, value in fitted.items()}
    validate_parameter_constraints(
        {name: estimator._saved_attributes[name] for name in values}, values, where
    )
    for name, value in values.items():
        setattr(estimator, name, value)
    estimator._check_saved_attributes(where)
    estimator.n_features_in_ = estimator.n_chans_ * estimator.n_times_

    # The networks the JSON describes, built without memory first: their shapes must be
    # those of the weights before any is allocated (a bogus size would not fit in memory).
    with torch.device("meta"):
        described = estimator._network_modules()
    parts = {name: _part(tensors, name) for name in modules}
    if set(described) != set(parts):
        raise ValueError(
            f"{directory / WEIGHTS_FILE} holds the networks {sorted(parts)}, but {where} "
            f"describes {sorted(described)}."
        )
    for name, module in described.items():
        _check_stored_weights(name, module, parts[name], directory / WEIGHTS_FILE, where)
    estimator.device_ = resolve_device(device)
    for name, module in described.items():
        module.load_state_dict(parts[name], assign=True)  # the weights replace the meta tensors
        if any(t.is_meta for t in [*module.parameters(), *module.buffers()]):
            raise RuntimeError(f"{name} has tensors that its saved state does not hold.")
        if name == "net_":
            estimator.net_ = restore_net(estimator._net_class, module, estimator.device_)
        else:  # frozen networks beside the net, on its device
            setattr(estimator, name, module.eval().requires_grad_(False).to(estimator.device_))
    return estimator


def _check_stored_weights(
    name: str, module: torch.nn.Module, stored: dict[str, torch.Tensor], file: Path, where: str
) -> None:
    """Refuse weights of ``name`` that are not those of ``module`` in shape and type, or not
    finite (``module`` is on the meta device: nothing of its size is allocated yet)."""
    expected = module.state_dict()
    shapes = {k: tuple(v.shape) for k, v in expected.items()}
    found = {k: tuple(v.shape) for k, v in stored.items()}
    if shapes != found:
        different = sorted(set(shapes.items()) ^ set(found.items()))[:3]
        raise ValueError(
            f"The weights of {name} in {file} do not match the network {where} describes "
            f"(e.g. {different}); the files do not belong together."
        )
    for key, tensor in stored.items():
        if tensor.dtype != expected[key].dtype:
            raise ValueError(
                f"{file}: tensor '{name}.{key}' is of type {tensor.dtype}; the network "
                f"{where} describes takes {expected[key].dtype}. Save the model again."
            )
        if tensor.is_floating_point():  # not counters such as BatchNorm's num_batches_tracked
            check_weight_tensor(tensor, f"{name}.{key}", file)


def _read_config(directory: Path) -> Any:
    """The JSON of ``directory``'s config.json, refused before reading if it is no such file."""
    try:
        what = f"saved model's {CONFIG_FILE}"
        return read_json(directory / CONFIG_FILE, what, MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {directory}; is this a folder written by save_pretrained?"
        ) from None


def _validate_loaded_params(estimator: Any, where: str) -> None:
    """The checks of ``fit`` (the declared constraints) on parameters read from ``where``."""
    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        raise InvalidParameterError(
            f"{where}: {error} The file was edited or damaged; correct the value, or save "
            "the model again."
        ) from None


def _section(config: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    section = config.get(key)
    if not isinstance(section, dict):
        raise ValueError(f"{where} lacks its {key!r} section.")
    return section


def _part(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"{name}."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


# ----------------------------------------------------------------------------- pickling
def get_state(estimator: Any, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` (of ``__getstate__``) with the saved networks beside ``net_`` on the CPU.

    skorch moves ``net_`` itself: pickles load without a GPU.
    """
    return {
        **state,
        **{name: copy.deepcopy(module).cpu() for name, module in _frozen(estimator, state)},
    }


def set_state(estimator: Any, state: dict[str, Any]) -> None:
    """Restore ``state``; the networks beside ``net_`` follow it to its device.

    skorch maps a network fitted on a GPU to the CPU when no GPU is here.
    """
    estimator.__dict__.update(state)
    if "net_" in state:
        estimator.device_ = str(estimator.net_.device)
        for _, module in _frozen(estimator, state):
            module.to(estimator.device_)


def _frozen(estimator: Any, state: dict[str, Any]) -> list[tuple[str, torch.nn.Module]]:
    """The saved networks of ``state`` other than ``net_`` (light mode's frozen encoder)."""
    return [
        (name, state[name])
        for name in estimator._saved_attributes
        if name != "net_" and isinstance(state.get(name), torch.nn.Module)
    ]
