"""Data-parallel training over processes, GPUs and machines, with Hugging Face Accelerate.

With ``distributed=True`` an estimator trains through skorch's
:class:`~skorch.hf.AccelerateMixin`: Accelerate wraps the network in PyTorch's
DistributedDataParallel, gives each process its share of every batch and averages the
gradients. The same script runs in one process, or under ``torchrun`` /
``accelerate launch`` in several; every process ends with the same fitted estimator.
"""

from __future__ import annotations

from typing import Any

import torch
from skorch.hf import AccelerateMixin


def make_accelerator(device: str) -> Any:
    """The :class:`accelerate.Accelerator` for an estimator's ``device``.

    ``batch_size`` stays the global batch: each of the ``n`` processes gets ``batch_size / n``
    windows of it (``split_batches``), so a run gives the same result on any number of
    processes. Each epoch starts from process 0's random state (``rng_types=["torch"]``), so
    all processes shuffle alike.

    Parameters
    ----------
    device : {"auto", "cpu"}
        "auto": the GPU the launcher assigns to the process (``LOCAL_RANK``), else the CPU;
        "cpu": CPU processes (the gloo backend).

    Returns
    -------
    accelerate.Accelerator

    Raises
    ------
    ImportError
        If Accelerate is not installed.
    ValueError
        If ``device`` names one GPU: the launcher assigns one to each process.
    """
    try:
        from accelerate import Accelerator, DataLoaderConfiguration
    except ImportError as error:
        raise ImportError(
            "distributed=True trains with Hugging Face Accelerate, which is not installed: "
            "pip install 'sk_eegm2[distributed]' (or pip install accelerate)."
        ) from error
    if device not in ("auto", "cpu"):
        raise ValueError(
            f"With distributed=True, device must be 'auto' or 'cpu', got {device!r}: the "
            "launcher (torchrun, accelerate launch) gives each process its GPU. Choose GPUs "
            "with CUDA_VISIBLE_DEVICES."
        )
    return Accelerator(
        cpu=device == "cpu",
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        rng_types=["torch"],
    )


def broadcast_seed(accelerator: Any, seed: int) -> int:
    """Process 0's ``seed`` on every process: initialisation, splits and shuffling agree."""
    if accelerator.num_processes == 1:
        return seed
    from accelerate.utils import broadcast_object_list

    return int(broadcast_object_list([seed], from_process=0)[0])


class DistributedMixin(AccelerateMixin):
    """skorch's AccelerateMixin, with losses averaged over processes.

    Each process computes its loss on its share of the batch; the average (all-reduce, one
    number per batch) is what is recorded. So every process records the same history, early
    stopping and the non-finite-loss check decide alike on all of them, and none is left
    waiting for the others. Gradients are averaged by DistributedDataParallel itself.
    The module stays wrapped after training (``unwrap_after_train=False``), so that early
    stopping can put back its best weights, which carry the wrapper's key names; the
    estimator unwraps it afterwards.
    """

    accelerator: Any
    _criteria: list[str]

    def _initialize_accelerator(self) -> Any:
        # skorch would have Accelerate prepare the criterion too, which wraps any module in
        # DistributedDataParallel, and DDP refuses one without parameters (the loss has none):
        # hide the criteria from it and only move them to the process's device.
        criteria = {name: getattr(self, name + "_") for name in self._criteria}
        for name in criteria:
            setattr(self, name + "_", None)
        try:
            return super()._initialize_accelerator()
        finally:
            for name, criterion in criteria.items():
                if isinstance(criterion, torch.nn.Module):
                    criterion = criterion.to(self.accelerator.device)
                setattr(self, name + "_", criterion)

    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        step = super().train_step_single(batch, **fit_params)
        step["loss"] = self._mean_over_processes(step["loss"])
        return step

    def validation_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        step = super().validation_step(batch, **fit_params)
        step["loss"] = self._mean_over_processes(step["loss"])
        return step

    def _mean_over_processes(self, loss: torch.Tensor) -> torch.Tensor:
        # With split_batches every process holds the same number of windows of each batch,
        # so the mean of the processes' means is the mean over the batch.
        return self.accelerator.reduce(loss.detach(), reduction="mean")


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DistributedDataParallel wrapper (the module itself otherwise)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


def is_main_process() -> bool:
    """Whether this is process 0 of a distributed run, or there is no distributed run."""
    distributed = torch.distributed
    return not (distributed.is_available() and distributed.is_initialized()) or (
        distributed.get_rank() == 0
    )
