"""How a network runs, apart from what it computes: precision, compilation, threads,
activation recomputation and the allocator.

:class:`Compute` gathers these options; an estimator builds one in ``fit`` from its own
parameters and uses it around its training and inference loops::

    compute = Compute(precision="bfloat16", threads=1)
    net = compute.prepare(net)  # checkpointing, torch.compile
    scaler = compute.grad_scaler(device)  # only float16 needs loss scaling
    with compute.scope():  # threads, allocator
        with compute.autocast(device):
            loss = loss_fn(net(x), x)
        scaler.scale(loss).backward()

None of the options changes the function the network computes: float32 gives the same
results as the plain network; the others differ by rounding (bfloat16, float16), by the
order of floating point operations (compile, checkpointing), or not at all (threads,
``reuse_memory``). Their measured effects are in ``docs/performance.rst``.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .eegm2 import MambaBlock

Precision = Literal["float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")

# glibc's mallopt parameters (malloc.h) and the values its dynamic rule reaches for tensors
# of 32 MiB and more: such blocks are mapped afresh from the kernel on every allocation.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_GLIBC_MMAP_MAX, _GLIBC_MMAP_THRESHOLD_MAX = 65536, 32 * 2**20
_KEEP_EVERYTHING = 2**31 - 1  # mallopt takes a C int


@dataclass(frozen=True)
class Compute:
    """Compute options of a network, separate from its architecture.

    Parameters
    ----------
    precision : {"float32", "bfloat16", "float16"}
        Autocast dtype of the forward pass (matmuls and convolutions; the SSD scan and the
        norms stay in float32). ``"float16"`` also needs loss scaling
        (:meth:`grad_scaler`). On CPU bfloat16 is the useful one.
    compile : bool
        ``torch.compile`` the network's ``forward`` (in place, state-dict keys unchanged).
        Needs a C++ compiler on CPU; compilation takes minutes on first use.
    threads : int or None
        ``torch.set_num_threads`` inside :meth:`scope`; None leaves PyTorch's setting.
    checkpointing : bool
        Activation recomputation in every Mamba block (see
        :class:`~sk_eegm2.nn.eegm2.MambaBlock`): less training memory, one more forward
        pass of the blocks.
    reuse_memory : bool
        Inside :meth:`scope`, let glibc's malloc keep freed large blocks for reuse instead
        of returning them to the kernel and faulting fresh zeroed pages in on the next
        allocation (:func:`reused_memory`). Faster CPU training; a higher peak resident
        memory (fragmentation). No effect without glibc or on CUDA tensors.
    """

    precision: Precision = "float32"
    compile: bool = False
    threads: int | None = None
    checkpointing: bool = False
    reuse_memory: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be None or a positive int, got {self.threads!r}.")

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of :attr:`precision`."""
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
        """Autocast to :attr:`precision` on ``device``'s type; a no-op for float32."""
        if self.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    def grad_scaler(self, device: torch.device | str) -> torch.amp.GradScaler:
        """A loss scaler for ``device``, enabled for float16 only (bfloat16 has float32's
        range); disabled it passes losses and steps through unchanged."""
        device_type = torch.device(device).type
        return torch.amp.GradScaler(device_type, enabled=self.precision == "float16")

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Threads and allocator settings for the duration of the block, restored after."""
        previous = torch.get_num_threads()
        with contextlib.ExitStack() as stack:
            if self.reuse_memory:
                stack.enter_context(reused_memory())
            if self.threads is not None:
                torch.set_num_threads(self.threads)
                stack.callback(torch.set_num_threads, previous)
            yield


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


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose malloc takes the options below), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


@contextlib.contextmanager
def reused_memory() -> Iterator[bool]:
    """Keep freed memory in the process for reuse during the block (glibc's malloc).

    By default glibc maps every block of 32 MiB or more afresh and unmaps it when freed, so
    each wide activation of a training step costs page faults and the kernel's zeroing of
    its pages (a third of a default CPU training step of EEGM2). Here mapping is off and
    trimming too, as with ``MALLOC_MMAP_MAX_=0`` and a huge ``MALLOC_TRIM_THRESHOLD_``:
    freed blocks are reused. Afterwards glibc's defaults for large blocks come back and the
    kept memory is returned (``malloc_trim``). The process-wide setting is not thread-safe
    against other code changing it at the same time, and nested scopes restore at the end
    of the innermost.

    Yields
    ------
    bool
        Whether the setting applies (glibc found).
    """
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_EVERYTHING)
    try:
        yield True
    finally:
        libc.mallopt(_M_MMAP_MAX, _GLIBC_MMAP_MAX)
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_THRESHOLD_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * _GLIBC_MMAP_THRESHOLD_MAX)
        libc.malloc_trim(0)
