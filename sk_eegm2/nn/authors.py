"""Reading the EEGM2 authors' checkpoints: PyTorch state dicts such as ``best_model.pth``.

The authors' training code saves ``model.state_dict()`` with :func:`torch.save`. Their
network's module names are EEGM2's (see :class:`~sk_eegm2.nn.EEGM2`), so its weights load
without renaming; what the file does not say, the architecture, is read off the tensors'
shapes. Their downstream heads differ only in names: the Fine classifier's
``feature_extractor`` / ``fc`` are :class:`~sk_eegm2.nn.FineTuneNetwork`'s ``backbone`` /
``head``, and the Light MLP's ``net`` is :class:`~sk_eegm2.nn.LightHead`'s ``mlp``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from .._files import torch_archive
from .eegm2 import EEGM2
from .heads import FineTuneNetwork, LightHead

Built = TypeVar("Built", bound=nn.Module)

#: Keys under which training scripts commonly nest the network's state dict.
_NESTED = ("state_dict", "model_state_dict", "model")


def read_authors_checkpoint(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict of the authors' EEGM2 written by :func:`torch.save`.

    Trusts nothing in the file. Loads with ``weights_only=True``: a file that holds anything
    but tensors and plain containers (a pickled module, code) is refused instead of
    executed. Before loading, the file must be a regular file and a zip archive whose
    records are stored, not compressed, as :func:`torch.save` writes them; the tensors are
    then mapped from the file (``mmap=True``), not read into memory. Each tensor must be of
    a floating-point type, finite, not empty, and its elements must be as many as its
    storage holds (no stride-0 repetition): together these bound the memory that the file
    can make a loader take by the file's size.

    Parameters
    ----------
    path : str or PathLike
        The ``.pth`` / ``.pt`` file.

    Returns
    -------
    dict of str to Tensor
        The network's state dict on the CPU, with a ``module.`` prefix (from
        ``DataParallel``) removed and a nesting under ``state_dict`` / ``model_state_dict``
        / ``model`` unwrapped.
    """
    file = torch_archive(path, "checkpoint file")
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # a crafted file can make the unpickler fail in any way
        reason = str(error).strip().splitlines()[:1] or [type(error).__name__]
        raise ValueError(
            f"{os.fspath(path)} is not a PyTorch state dict that loads safely "
            f"(torch.load(weights_only=True) failed: {reason[0]}). Save the "
            "network's weights with torch.save(model.state_dict(), path)."
        ) from None
    for key in _NESTED:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not loaded:
        raise ValueError(
            f"{os.fspath(path)} holds a {type(loaded).__name__}, not a state dict (a mapping "
            "of parameter names to tensors)."
        )
    state = {}
    for key, value in loaded.items():
        if not isinstance(value, Tensor):
            raise ValueError(
                f"{os.fspath(path)}: entry {key!r} is a {type(value).__name__}, not a tensor; "
                "pass the file of the network's state dict."
            )
        check_weight_tensor(value, key, path)
        state[str(key).removeprefix("module.")] = value
    return state


def check_weight_tensor(tensor: Tensor, key: object, path: str | os.PathLike[str]) -> None:
    """Refuse a tensor that is not floating-point, empty, repeats its elements or is not finite.

    For the weights of a file, checked before they are used anywhere: EEGM2 and its heads
    have floating-point weights only, and a repeated element (stride 0) lets a small file
    claim any size.

    Parameters
    ----------
    tensor : Tensor
    key : object
        Its name in the file, for the message.
    path : str or PathLike
        The file, for the message.

    Raises
    ------
    ValueError
        Naming the file and the tensor.
    """
    where = f"{os.fspath(path)}: tensor {key!r} of shape {tuple(tensor.shape)}"
    if not tensor.is_floating_point():
        raise ValueError(
            f"{where} is of type {tensor.dtype}, not floating-point; network weights are "
            "floating-point (it would be cast, not read)."
        )
    if tensor.numel() == 0:
        raise ValueError(f"{where} has no elements; no weight of the network is empty.")
    if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
        raise ValueError(
            f"{where} has more elements than its storage holds "
            f"({tensor.untyped_storage().nbytes()} bytes): its strides {tensor.stride()} repeat "
            "elements, which a saved state dict does not do."
        )
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{where} holds values that are not finite (NaN or infinite).")


def architecture_from_state_dict(
    state: Mapping[str, Tensor], path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The EEGM2 architecture that a state dict's shapes imply.

    Parameters
    ----------
    state : mapping of str to Tensor
        A state dict with EEGM2's key names.
    path : str or PathLike, optional
        The file it was read from, to name in errors.

    Returns
    -------
    dict
        ``n_chans``, ``widths``, ``kernel_sizes``, ``d_state``, ``d_conv``, ``expand`` and
        ``headdim``: the arguments of :class:`~sk_eegm2.nn.EEGM2` that fix its shapes.
    """
    where = "The state dict" if path is None else os.fspath(path)
    not_eegm2 = "it is not a checkpoint of EEGM2 (Jiazhen-Hong/EEGM2) or of sk_eegm2.nn.EEGM2."
    try:
        kernel_sizes = tuple(
            sorted(
                int(value.shape[-1])
                for key, value in state.items()
                if key.startswith("input_embedding.branch") and key.endswith(".weight")
            )
        )
        n_chans = int(state["onput_embedding.weight"].shape[0])
        widths = [int(state["encoder1.0.weight"].shape[0])]
        while f"encoder{len(widths) + 1}.weight" in state:
            widths.append(int(state[f"encoder{len(widths) + 1}.weight"].shape[0]))
        # Mamba-2's shapes (one group): A_log (heads,), conv1d (d_inner + 2 d_state, 1, d_conv),
        # out_proj (d_model, d_inner).
        d_model, d_inner = (int(n) for n in state["encoder1.1.mamba.out_proj.weight"].shape)
        heads = int(state["encoder1.1.mamba.A_log"].shape[0])
        conv_dim, _, d_conv = (int(n) for n in state["encoder1.1.mamba.conv1d.weight"].shape)
        return {
            "n_chans": n_chans,
            "widths": tuple(widths),
            "kernel_sizes": kernel_sizes,
            "d_state": (conv_dim - d_inner) // 2,
            "d_conv": d_conv,
            "expand": d_inner // d_model,
            "headdim": d_inner // heads,
        }
    except KeyError as error:
        raise ValueError(f"{where} has no {error.args[0]!r}: {not_eegm2}") from None
    except (ValueError, IndexError, ZeroDivisionError):
        raise ValueError(
            f"{where}: the tensors that give the architecture (onput_embedding.weight, "
            f"encoder*.weight, encoder1.1.mamba.*) do not have EEGM2's dimensions: {not_eegm2}"
        ) from None


def load_authors_eegm2(path: str | os.PathLike[str], **compute: Any) -> EEGM2:
    """The authors' EEGM2 network with the weights of a checkpoint file.

    Parameters
    ----------
    path : str or PathLike
        A state dict written by :func:`torch.save` (see :func:`read_authors_checkpoint`).
    **compute
        Settings that do not change the shapes (``backend``, ``chunk_size``,
        ``checkpointing``, ...), passed to :class:`~sk_eegm2.nn.EEGM2`.

    Returns
    -------
    EEGM2
        In evaluation mode, on the CPU. Every key and shape was checked (``strict=True``).
    """
    state = read_authors_checkpoint(path)
    architecture = architecture_from_state_dict(state, path)
    return _built_and_loaded(lambda: EEGM2(**architecture, **compute), state, path).eval()


def load_authors_weights(network: EEGM2, path: str | os.PathLike[str]) -> EEGM2:
    """Copy the weights of a checkpoint file into ``network``, whose architecture must match.

    Parameters
    ----------
    network : EEGM2
        A network built for the data at hand.
    path : str or PathLike
        A state dict written by :func:`torch.save` (see :func:`read_authors_checkpoint`).

    Returns
    -------
    EEGM2
        ``network``, with the checkpoint's weights.
    """
    state = read_authors_checkpoint(path)
    found = architecture_from_state_dict(state, path)
    expected = architecture_from_state_dict(network.state_dict())
    differences = [
        f"{key} {found[key]} (network: {value})"
        for key, value in expected.items()
        if found[key] != value
    ]
    if differences:
        raise ValueError(
            f"{os.fspath(path)} holds another architecture than the network: "
            f"{'; '.join(differences)}. Build the network with the checkpoint's settings "
            "(the paper's are the preset 'paper'), on the channels it was trained on."
        )
    _load_checked(network, state, path)
    return network


def _load_checked(
    network: nn.Module, state: Mapping[str, Tensor], path: str | os.PathLike[str], note: str = ""
) -> None:
    """``load_state_dict(strict=True)``, with the file named in the error (and ``note``)."""
    try:
        with warnings.catch_warnings():  # a network on the meta device copies nothing: known
            warnings.filterwarnings("ignore", ".*copying from a non-meta parameter")
            network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{os.fspath(path)} does not fit the network{note}: {error}") from None


def _built_and_loaded(
    build: Callable[[], Built],
    state: Mapping[str, Tensor],
    path: str | os.PathLike[str],
    note: str = "",
) -> Built:
    """``build()`` with the weights of ``state``, every key and shape checked before it is built.

    The architecture read off a file's shapes may describe a network far larger than the
    file (a Mamba block's width is read from one tensor, its projections from others), so
    the network is first built on the meta device, which allocates nothing, and checked
    there.
    """
    try:
        with torch.device("meta"):
            planned = build()
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError) as error:
        raise ValueError(
            f"{os.fspath(path)}: the shapes of its tensors describe no network that can be "
            f"built ({error})."
        ) from None
    _load_checked(planned, state, path, note)
    module = build()
    _load_checked(module, state, path, note)
    return module


#: The authors' downstream names (prefixes) and this library's, per kind of head. In their
#: Fine classifier ``fc`` is ``Linear, ReLU, Linear``; FineTuneNetwork's ``head`` starts with
#: a Flatten, so its Linear layers are one index later.
_HEAD_NAMES = {
    "fine": (("feature_extractor.module.", "backbone."), ("feature_extractor.", "backbone."),
             ("fc.0.", "head.1."), ("fc.2.", "head.3.")),
    "light": (("net.", "mlp."),),
}  # fmt: skip


def _renamed(state: Mapping[str, Tensor], pairs: tuple[tuple[str, str], ...]) -> dict[str, Tensor]:
    """``state`` with each key's first matching prefix ``old`` replaced by ``new``."""
    renamed = {}
    for key, value in state.items():
        for old, new in pairs:
            if key.startswith(old):
                key = new + key.removeprefix(old)
                break
        renamed[key] = value
    return renamed


def _head_kind(state: Mapping[str, Tensor], path: str | os.PathLike[str]) -> str:
    """ "fine" for the authors' Fine classifier, "light" for their Light MLP."""
    if any(key.startswith("feature_extractor.") for key in state) and "fc.0.weight" in state:
        return "fine"
    if state and all(key.startswith("net.") for key in state):
        return "light"
    raise ValueError(
        f"{os.fspath(path)} is neither the authors' Fine classifier (keys feature_extractor.* "
        "and fc.*, from Downstream_Classifier.py) nor their Light MLP (keys net.*, from "
        "linear_probe_trainer.py). For their pretrained network use load_authors_eegm2."
    )


def _light_head(
    state: Mapping[str, Tensor], path: str | os.PathLike[str]
) -> Callable[[], LightHead]:
    """What builds a LightHead of the layer sizes of the authors' MLP ``state`` (keys ``mlp.*``)."""
    indices = [key.split(".")[1] for key in state if key.count(".") == 2]
    linear = sorted({int(i) for i in indices if i.isdigit()})
    # LightHead repeats (Linear, ReLU, Dropout): its Linear layers are 0, 3, 6, ...
    if linear != list(range(0, 3 * len(linear), 3)) or len(linear) < 2:
        raise ValueError(
            f"{os.fspath(path)}: the MLP's Linear layers are net.{linear}; sk_eegm2's LightHead "
            "(Linear, ReLU, Dropout repeated, then Linear) has them at net.0, net.3, net.6, ...."
        )
    widths = [_shape(state, f"mlp.{i}.weight", path, ndim=2) for i in linear]
    hidden = tuple(w[0] for w in widths[:-1])
    return lambda: LightHead(widths[0][1], widths[-1][0], hidden=hidden)


def _fine_classifier(
    state: Mapping[str, Tensor], path: str | os.PathLike[str], compute: Mapping[str, Any]
) -> Callable[[], FineTuneNetwork]:
    """What builds a FineTuneNetwork of the sizes of the authors' Fine classifier ``state``."""
    backbone_state = {
        key.removeprefix("backbone."): value
        for key, value in state.items()
        if key.startswith("backbone.")
    }
    architecture = architecture_from_state_dict(backbone_state, path)
    n_chans = architecture["n_chans"]
    hidden, n_inputs = _shape(state, "head.1.weight", path, ndim=2)
    if n_inputs % n_chans:
        raise ValueError(
            f"{os.fspath(path)}: the head's first layer takes {n_inputs} inputs, not a "
            f"multiple of the network's {n_chans} channels (it takes C * T)."
        )
    n_classes = _shape(state, "head.3.weight", path, ndim=2)[0]
    return lambda: FineTuneNetwork(
        EEGM2(**architecture, **compute), n_inputs // n_chans, n_classes, hidden
    )


def _shape(
    state: Mapping[str, Tensor], key: str, path: str | os.PathLike[str], ndim: int
) -> tuple[int, ...]:
    """The shape of ``state[key]``, which must exist and have ``ndim`` dimensions."""
    if key not in state or state[key].ndim != ndim:
        raise ValueError(
            f"{os.fspath(path)}: {key} (under the authors' name) should be a {ndim}-dimensional "
            f"tensor; the file has {tuple(state[key].shape) if key in state else 'none'}."
        )
    return tuple(int(n) for n in state[key].shape)


def load_authors_classifier(
    path: str | os.PathLike[str], **compute: Any
) -> tuple[FineTuneNetwork | LightHead, str]:
    """The authors' downstream classifier with the weights of a checkpoint file.

    Parameters
    ----------
    path : str or PathLike
        A state dict written by :func:`torch.save` (see :func:`read_authors_checkpoint`):
        their Fine (or Scratch) classifier ``classifier_model.pth`` / ``checkpoint.pth``
        (keys ``feature_extractor.*``, ``fc.*``), or their Light MLP
        ``best_linear_probe_mlp.pth`` (keys ``net.*``).
    **compute
        Settings that do not change the shapes, passed to :class:`~sk_eegm2.nn.EEGM2`
        (Fine only).

    Returns
    -------
    module : FineTuneNetwork or LightHead
        In evaluation mode, on the CPU, every key and shape checked (``strict=True``).
        ``FineTuneNetwork`` maps windows (B, C, T) to logits (B, K), with T the window
        length of the checkpoint's head. ``LightHead`` maps features (B, n_features) to
        logits, with the features as the authors computed them: their network's pooled
        output (:func:`load_authors_eegm2`, ``forward_features``) through
        ``summary_statistics(..., order="authors")``, not standardised.
    kind : {"fine", "light"}
        Which of the two the file holds.
    """
    state = read_authors_checkpoint(path)
    kind = _head_kind(state, path)
    renamed = _renamed(state, _HEAD_NAMES[kind])
    build: Callable[[], FineTuneNetwork | LightHead] = (
        _light_head(renamed, path) if kind == "light" else _fine_classifier(renamed, path, compute)
    )
    module = _built_and_loaded(build, renamed, path, note=_names_read(kind))
    return module.eval(), kind


def _names_read(kind: str) -> str:
    """A note for errors: how the authors' names were read."""
    names = ", ".join(
        f"{theirs}* as {ours}*" for theirs, ours in _HEAD_NAMES[kind] if ".module." not in theirs
    )
    return f" (its names read with {names})"


def load_authors_head_weights(
    module: FineTuneNetwork | LightHead, path: str | os.PathLike[str]
) -> FineTuneNetwork | LightHead:
    """Copy the weights of the authors' downstream file into ``module`` of the same shapes.

    Parameters
    ----------
    module : FineTuneNetwork or LightHead
        Built for the data at hand; a FineTuneNetwork takes the Fine classifier file (its
        network and head), a LightHead the Light MLP file.
    path : str or PathLike
        As for :func:`load_authors_classifier`.

    Returns
    -------
    FineTuneNetwork or LightHead
        ``module``, with the file's weights (every key and shape checked).
    """
    state = read_authors_checkpoint(path)
    kind = _head_kind(state, path)
    expected = "light" if isinstance(module, LightHead) else "fine"
    if kind != expected:
        raise ValueError(
            f"{os.fspath(path)} holds the authors' {kind} classifier; a {type(module).__name__} "
            f"takes their {expected} one."
        )
    _load_checked(module, _renamed(state, _HEAD_NAMES[kind]), path, note=_names_read(kind))
    return module


def authors_state_dict(module: FineTuneNetwork | LightHead) -> dict[str, Tensor]:
    """``module``'s state dict under the authors' names, for their downstream scripts.

    Parameters
    ----------
    module : FineTuneNetwork or LightHead

    Returns
    -------
    dict of str to Tensor
        Keys ``feature_extractor.*`` and ``fc.*`` (FineTuneNetwork) or ``net.*``
        (LightHead), as :func:`load_authors_classifier` reads them.
    """
    kind = "light" if isinstance(module, LightHead) else "fine"
    # The inverse of the reading map; DataParallel's "module." is not written back.
    pairs = tuple((new, old) for old, new in _HEAD_NAMES[kind] if ".module." not in old)
    return _renamed(module.state_dict(), pairs)
