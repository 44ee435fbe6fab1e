"""Devices and skorch nets around networks that are trained already.

Shared by training (:mod:`sk_eegm2._training`), which ends with such a net, and persistence
(:mod:`sk_eegm2._persistence`), which builds one around loaded weights.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet


def resolve_device(device: str) -> str:
    """The device ``device`` names ("auto": CUDA when available, else the CPU).

    Parameters
    ----------
    device : str
        "auto", "cpu", "cuda", "cuda:1", ...

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``device`` names CUDA where there is none.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r}, but CUDA is not available here; use device='auto' or 'cpu'."
        )
    return str(device)


def restore_net(net_class: type[NeuralNet], module: torch.nn.Module, device: str) -> NeuralNet:
    """A skorch net around an already trained ``module`` (not copied), ready for inference.

    Parameters
    ----------
    net_class : type of skorch.NeuralNet
        The net class of the estimator.
    module : torch.nn.Module
        The trained network; it is moved to ``device``.
    device : str
        A resolved device (see :func:`resolve_device`).

    Returns
    -------
    skorch.NeuralNet
        Initialised, with an empty history.
    """
    net = net_class(module, criterion=torch.nn.Identity, device=device)
    net.initialize()
    return net
