"""Random transformations of EEG windows for training: shift, scaling, noise, channel dropout.

Each augmentation is a frozen dataclass called as ``augmentation(x, generator)`` on a batch
``x`` of windows (batch, channels, time); it returns a new tensor of the same shape, dtype and
device and draws every random number from ``generator`` (on the generator's device, whatever
the batch's: the numbers do not depend on where the batch lies), so a seeded generator gives
the same augmented batches on every run. A strength of 0 leaves the windows as they are.
:func:`make_augmentation` builds the composition that a plain mapping such as
``{"shift": 0.1, "noise": 0.05}`` names (the form estimators take: JSON, cloneable,
searchable).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

import torch


def _check_strength(name: str, value: float, high: float) -> None:
    """Refuse a strength outside ``[0, high)``; 0 leaves the windows as they are."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < high:
        raise ValueError(f"{name} must be a number in [0, {high}); got {value!r}.")


@dataclass(frozen=True)
class TimeShift:
    """Shift each window in time by up to ``max_fraction`` of its length, filling with zeros.

    Each window moves by its own whole number of samples, uniform in ``[-m, m]`` with
    ``m = floor(max_fraction * n_times)``: the samples shifted out are cropped, those shifted
    in are zeros. The same shift applies to every channel of a window.

    Parameters
    ----------
    max_fraction : float in [0, 1)
    """

    max_fraction: float

    def __post_init__(self) -> None:
        _check_strength("TimeShift's max_fraction", self.max_fraction, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n_times = x.shape[-1]
        most = int(self.max_fraction * n_times)
        shifts = torch.randint(-most, most + 1, (len(x),), generator=generator).to(x.device)
        # Output sample t of window i reads input sample t - shift_i, where that exists.
        source = torch.arange(n_times, device=x.device) - shifts[:, None]
        inside = (source >= 0) & (source < n_times)
        index = source.clamp(0, n_times - 1)[:, None, :].expand_as(x)
        return torch.gather(x, -1, index) * inside[:, None, :].to(x.dtype)


@dataclass(frozen=True)
class AmplitudeScale:
    """Multiply each window by a factor drawn uniformly in ``[1 - max_change, 1 + max_change]``.

    Parameters
    ----------
    max_change : float in [0, 1)
    """

    max_change: float

    def __post_init__(self) -> None:
        _check_strength("AmplitudeScale's max_change", self.max_change, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand(len(x), generator=generator).to(x.device, x.dtype)
        factors = 1 + self.max_change * (2 * draws - 1)
        return x * factors[:, None, None]


@dataclass(frozen=True)
class GaussianNoise:
    """Add Gaussian noise of ``relative_std`` times each channel's standard deviation.

    The standard deviation is that of the channel within the window, so the noise is the
    same fraction of the signal whatever the units or the scaling.

    Parameters
    ----------
    relative_std : float >= 0
    """

    relative_std: float

    def __post_init__(self) -> None:
        _check_strength("GaussianNoise's relative_std", self.relative_std, float("inf"))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        return x + noise * self.relative_std * x.std(dim=-1, keepdim=True)


@dataclass(frozen=True)
class ChannelDropout:
    """Set each channel of each window to zero with probability ``p``.

    Parameters
    ----------
    p : float in [0, 1)
    """

    p: float

    def __post_init__(self) -> None:
        _check_strength("ChannelDropout's p", self.p, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand(x.shape[:2], generator=generator).to(x.device)
        return x * (draws >= self.p)[..., None].to(x.dtype)


Augmentation = TimeShift | AmplitudeScale | GaussianNoise | ChannelDropout


@dataclass(frozen=True)
class Compose:
    """Augmentations applied one after the other, in the order given.

    Parameters
    ----------
    augmentations : tuple
        Callables ``(x, generator) -> x``.
    """

    augmentations: tuple[Augmentation, ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for augmentation in self.augmentations:
            x = augmentation(x, generator)
        return x


#: The names of :func:`make_augmentation`'s mapping, in the order they are applied: the
#: window is moved, then rescaled; noise is added to the rescaled signal; channels are
#: dropped last, so that dropped channels stay exactly zero.
AUGMENTATIONS: dict[str, type[Augmentation]] = {
    "shift": TimeShift,
    "scale": AmplitudeScale,
    "noise": GaussianNoise,
    "channel_dropout": ChannelDropout,
}


def make_augmentation(spec: Mapping[str, float]) -> Compose:
    """The augmentations that ``spec`` names, with their strengths, in a fixed order.

    Parameters
    ----------
    spec : mapping of str to float
        Any of "shift" (:class:`TimeShift`'s ``max_fraction``), "scale"
        (:class:`AmplitudeScale`'s ``max_change``), "noise" (:class:`GaussianNoise`'s
        ``relative_std``) and "channel_dropout" (:class:`ChannelDropout`'s ``p``). They are
        applied in the order of :data:`AUGMENTATIONS`, whatever the mapping's order.

    Returns
    -------
    Compose

    Raises
    ------
    ValueError
        For unknown names, strengths out of range, or an empty mapping.
    """
    unknown = sorted(set(spec) - set(AUGMENTATIONS), key=str)
    if unknown:
        raise ValueError(
            f"Unknown augmentations {unknown}; choose among {list(AUGMENTATIONS)}, e.g. "
            '{"shift": 0.1, "scale": 0.2, "noise": 0.1, "channel_dropout": 0.1}.'
        )
    if not spec:
        raise ValueError("The augmentation mapping is empty; use None for no augmentation.")
    return Compose(tuple(kind(spec[name]) for name, kind in AUGMENTATIONS.items() if name in spec))
