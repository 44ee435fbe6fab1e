"""How a network runs, apart from what it computes: the scan's chunk length and kernels,
precision, compilation, threads and activation recomputation.

:class:`Compute` gathers these options; an estimator builds one in ``fit`` from its own
parameters and uses it around its training and inference loops::

    compute = Compute(precision="bfloat16", threads=1)
    net = compute.prepare(net)  # checkpointing, torch.compile
    with compute.scope():  # threads
        with compute.autocast(device):
            loss = loss_fn(net(x), x)
        loss.backward()

None of the options changes the function the network computes: float32 gives the same
results as the plain network; the others differ by rounding (bfloat16) or by the order of
floating point operations (compile, checkpointing, threads). The documentation's
:doc:`/compute_options` says when to use which; :doc:`/performance` has their measured effects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .eegm2 import MambaBlock

Precision = Literal["float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


@dataclass(frozen=True)
class Compute:
    """Compute options of a network, separate from its architecture.

    Parameters
    ----------
    chunk_size : int
        Chunk length of Mamba-2's scan (``chunk_size`` of :class:`~sk_eegm2.nn.Mamba2`), given
        to the network when it is built.
    backend : {"auto", "torch", "mamba_ssm"}
        Mamba-2's kernels (``backend`` of :class:`~sk_eegm2.nn.Mamba2`), given to the network
        when it is built.
    precision : {"float32", "bfloat16"}
        Autocast dtype of the forward pass (matmuls and convolutions; the SSD scan and the
        norms stay in float32). bfloat16 has float32's range, so losses need no scaling.
    compile : bool
        ``torch.compile`` the network's ``forward`` (in place, state-dict keys unchanged).
        Needs a C++ compiler on CPU; compilation takes minutes on first use.
    threads : int or None
        ``torch.set_num_threads`` inside :meth:`scope`; None leaves PyTorch's setting.
    checkpointing : bool
        Activation recomputation in every Mamba block (see
        :class:`~sk_eegm2.nn.eegm2.MambaBlock`): less training memory, one more forward
        pass of the blocks.
    """

    chunk_size: int = 256
    backend: str = "auto"
    precision: Precision = "float32"
    compile: bool = False
    threads: int | None = None
    checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be None or a positive int, got {self.threads!r}.")

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of ``precision``."""
        return getattr(torch, self.precision)

    def prepare(self, module: nn.Module) -> nn.Module:
        """Set checkpointing on every Mamba block of ``module`` and compile it if asked.

        Returns ``module`` itself, changed in place.
        """
        for block in module.modules():
            if isinstance(block, MambaBlock):
                block.checkpointing = self.checkpointing
        return compile_module(module) if self.compile else module

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager[None]:
        """Autocast to ``precision`` on ``device``'s type; a no-op for float32."""
        if self.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The thread count for the duration of the block; the previous one after it."""
        if self.threads is None:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def compile_module(module: nn.Module, backend: str = "inductor") -> nn.Module:
    """``module.compile(backend=backend)``: ``torch.compile`` of its ``forward``, in place.

    The SSD scan decides its chunk length from the data, so each Mamba layer costs one graph
    break. Other methods (``forward_features``) stay eager.

    Raises
    ------
    RuntimeError
        Where ``torch.compile`` does not work on this Python or platform.
    """
    if not torch._dynamo.is_dynamo_supported():
        raise RuntimeError(
            "torch.compile is not supported with this Python/PyTorch build; "
            "use compile=False (the network runs eagerly with the same results)."
        )
    module.compile(backend=backend)
    return module
