"""How a network runs, apart from what it computes: precision, compilation, threads,
activation recomputation and the C allocator's handling of freed memory.

:class:`Compute` gathers these options; an estimator builds one in ``fit`` from its own
parameters and uses it around its training and inference loops::

    compute = Compute(precision="bfloat16", threads=1)
    net = compute.prepare(net)  # checkpointing, torch.compile
    scaler = compute.grad_scaler(device)  # only float16 needs loss scaling
    with compute.scope():  # threads, freed memory kept
        with compute.autocast(device):
            loss = loss_fn(net(x), x)
        scaler.scale(loss).backward()

None of the options changes the function the network computes: float32 gives the same
results as the plain network; the others differ by rounding (bfloat16, float16), by the
order of floating point operations (compile, checkpointing, threads), or not at all
(``keep_freed_memory``). Their measured effects are in ``docs/performance.rst``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .eegm2 import MambaBlock

Precision = Literal["float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")


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
    keep_freed_memory : bool
        Inside :meth:`scope`, keep the memory that tensors free in the process for the next
        step (see :func:`freed_memory_kept`) instead of giving it back to the system and
        faulting it in again: same results, less time, same peak memory.
    """

    precision: Precision = "float32"
    compile: bool = False
    threads: int | None = None
    checkpointing: bool = False
    keep_freed_memory: bool = True

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

    def grad_scaler(self, device: torch.device | str) -> torch.amp.GradScaler:
        """A loss scaler for ``device``, enabled for float16 only (bfloat16 has float32's
        range); disabled it passes losses and steps through unchanged."""
        device_type = torch.device(device).type
        return torch.amp.GradScaler(device_type, enabled=self.precision == "float16")

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The thread count, and freed memory kept, for the duration of the block."""
        previous = torch.get_num_threads()
        with contextlib.ExitStack() as stack:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
                stack.callback(torch.set_num_threads, previous)
            if self.keep_freed_memory:
                stack.enter_context(freed_memory_kept())
            yield


# glibc's mallopt() parameters (malloc.h) and the 32 MiB at which its adaptive mmap
# threshold stops (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 * 2**20
_INT_MAX = 2**31 - 1
_kept = 0  # nesting depth of freed_memory_kept() in this process
_kept_lock = threading.Lock()


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (whose malloc this tunes), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextlib.contextmanager
def freed_memory_kept() -> Iterator[None]:
    """Keep memory freed inside the block in the process; give it back at the end.

    glibc's malloc returns the free top of its heap to the system once it exceeds a
    threshold (at most 64 MiB), and maps blocks above another (at most 32 MiB) afresh on
    every allocation. A training step frees most of what it allocated, so by default the
    next step faults the same memory in again and the kernel zeroes it. Inside the block,
    blocks up to 32 MiB come from the heap and freed memory stays in it, so steps after
    the first reuse their predecessors' pages; peak memory is the same, as the process
    held it during the previous step anyway. At the end ``malloc_trim`` returns the free
    memory. Measured on one CPU thread (``benchmarks/throughput.py``, 64 windows of
    19 x 256): training steps 1.05 to 1.12 times faster for the "cpu" preset, 1.01 to
    1.06 times for the paper's network; see the performance page.

    The settings are process-wide (glibc has no other kind) and nested blocks share them.
    Setting them ends glibc's adaptive thresholds: afterwards they stay at 32 MiB (mapped
    blocks) and 64 MiB (trimming), the values that adaptation reaches in a process that
    has freed a 32 MiB tensor. Elsewhere than on glibc (macOS, Windows, musl) this does
    nothing.
    """
    global _kept
    libc = _glibc()
    if libc is None:
        yield
        return
    with _kept_lock:
        if _kept == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX)
        _kept += 1
    try:
        yield
    finally:
        with _kept_lock:
            _kept -= 1
            if _kept == 0:
                libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX)
                libc.malloc_trim(0)


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
