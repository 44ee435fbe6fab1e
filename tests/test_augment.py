"""Augmentation of EEG windows: each transformation's effect, and where estimators apply it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import toy_data

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.callbacks import TrainingCheckpoint
from sk_eegm2.nn import augment
from sk_eegm2.nn.augment import (
    AmplitudeScale,
    ChannelDropout,
    Compose,
    GaussianNoise,
    TimeShift,
    make_augmentation,
)

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}


def windows(n=64, n_chans=8, n_times=100, seed=0):
    return torch.randn((n, n_chans, n_times), generator=torch.Generator().manual_seed(seed)) + 3


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_time_shift_moves_each_window_and_fills_with_zeros():
    x = windows()
    out = TimeShift(0.2)(x, generator())
    assert out.shape == x.shape
    n_times = x.shape[-1]
    shifts = set()
    for before, after in zip(x, out, strict=True):
        matches = [
            s
            for s in range(-20, 21)
            if torch.equal(
                after[:, max(s, 0) : n_times + min(s, 0)],
                before[:, max(-s, 0) : n_times - max(s, 0)],
            )
        ]
        assert len(matches) == 1  # one shift of at most a fifth of the window explains it
        s = matches[0]
        assert not after[:, : max(s, 0)].any() and not after[:, n_times + min(s, 0) :].any()
        shifts.add(s)
    assert len(shifts) > 10  # each window its own shift


def test_amplitude_scale_multiplies_each_window_by_one_factor_in_range():
    x = windows()
    out = AmplitudeScale(0.3)(x, generator())
    factors = out / x
    per_window = factors.flatten(1)
    torch.testing.assert_close(per_window, per_window[:, :1].expand_as(per_window))
    assert per_window.min() >= 0.7 - 1e-6 and per_window.max() <= 1.3 + 1e-6
    assert per_window[:, 0].std() > 0.1  # spread over the range, not one factor


def test_gaussian_noise_has_the_relative_standard_deviation():
    x = windows() * torch.linspace(1, 100, 8)[:, None]  # channels of very different scales
    out = GaussianNoise(0.1)(x, generator())
    relative = (out - x) / x.std(dim=-1, keepdim=True)
    assert abs(relative.mean()) < 0.01
    assert relative.std() == pytest.approx(0.1, rel=0.03)


def test_channel_dropout_zeroes_whole_channels_with_probability_p():
    x = windows(n=256)
    out = ChannelDropout(0.25)(x, generator())
    dropped = (out == 0).all(dim=-1)
    assert dropped.float().mean() == pytest.approx(0.25, abs=0.03)
    torch.testing.assert_close(out[~dropped], x[~dropped], rtol=0, atol=0)


def test_composition_is_seeded_ordered_and_zero_strengths_change_nothing():
    x = windows()
    composed = make_augmentation({"channel_dropout": 0.2, "shift": 0.1, "noise": 0.1})
    assert [type(a) for a in composed.augmentations] == [TimeShift, GaussianNoise, ChannelDropout]
    torch.testing.assert_close(composed(x, generator(1)), composed(x, generator(1)))
    assert not torch.equal(composed(x, generator(1)), composed(x, generator(2)))
    nothing = make_augmentation(dict.fromkeys(augment.AUGMENTATIONS, 0.0))
    torch.testing.assert_close(nothing(x, generator()), x, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"mixup": 0.1}, "Unknown augmentations"),
        ({}, "empty"),
        ({"shift": 1.5}, r"max_fraction must be a number in \[0, 1\)"),
        ({"noise": -0.1}, "relative_std"),
        ({"channel_dropout": True}, "ChannelDropout's p"),
    ],
)
def test_bad_augmentations_are_refused_before_training(spec, match):
    X, y = toy_data()
    with pytest.raises(ValueError, match=match):
        EEGM2Classifier(**TINY, augment=spec, max_epochs=1).fit(X, y)


def test_augmentation_is_off_by_default_and_its_machinery_changes_nothing_else():
    X, y = toy_data()
    settings = {**TINY, "max_epochs": 2, "random_state": 0, "validation_fraction": 0.25}
    default = EEGM2Classifier(**settings).fit(X, y)
    assert default.augment is None
    assert "augment" not in dict(default.net_.callbacks_)
    # Augmentations of strength 0 run the whole machinery (callback, generator of its own,
    # batches replaced in place) and must leave training exactly as without them.
    zero = EEGM2Classifier(**settings, augment={"shift": 0.0, "scale": 0.0}).fit(X, y)
    assert "augment" in dict(zero.net_.callbacks_)
    for a, b in zip(
        default.net_.module_.state_dict().values(),
        zero.net_.module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    changed = EEGM2Classifier(**settings, augment={"noise": 0.5}).fit(X, y)
    assert not torch.equal(
        next(iter(changed.net_.module_.state_dict().values())),
        next(iter(default.net_.module_.state_dict().values())),
    )


def test_augmentation_applies_to_training_batches_only(monkeypatch):
    calls = []
    compose_call = Compose.__call__

    def counted(self, x, generator):
        calls.append(len(x))
        return compose_call(self, x, generator)

    monkeypatch.setattr(Compose, "__call__", counted)
    X, y = toy_data()
    model = EEGM2Classifier(
        **TINY, max_epochs=2, batch_size=16, validation_fraction=0.25, random_state=0,
        augment={"noise": 0.5, "channel_dropout": 0.3},
    ).fit(X, y)  # fmt: skip
    assert calls == [16, 16, 4] * 2  # 36 training windows per epoch; none of the 12 held out
    first = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X), first)
    assert len(calls) == 6  # predict_proba augmented nothing


def test_pretrainer_augments_too_and_light_mode_refuses():
    X, y = toy_data()
    settings = {**TINY, "max_epochs": 1, "random_state": 0}
    plain = EEGM2Pretrainer(**settings).fit(X)
    augmented = EEGM2Pretrainer(**settings, augment={"scale": 0.5}).fit(X)
    assert "augment" in dict(augmented.net_.callbacks_)
    assert not np.allclose(plain.transform(X), augmented.transform(X))
    with pytest.raises(ValueError, match="light mode"):
        EEGM2Classifier(**settings, mode="light", augment={"scale": 0.5}).fit(X, y)


def test_a_resumed_augmented_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    X, y = toy_data()
    settings = {
        **TINY, "max_epochs": 4, "patience": None, "random_state": 0,
        "augment": {"shift": 0.2, "noise": 0.3},
    }  # fmt: skip
    uninterrupted = EEGM2Classifier(**settings).fit(X, y)
    save = TrainingCheckpoint.on_epoch_end

    def save_then_stop(self, net, **kwargs):
        save(self, net, **kwargs)
        if len(net.history) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the checkpoint of epoch 2

    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        EEGM2Classifier(**settings, checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", save)
    resumed = EEGM2Classifier(**settings, checkpoint_dir=tmp_path, resume=True).fit(X, y)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4]
    for a, b in zip(
        uninterrupted.net_.module_.state_dict().values(),
        resumed.net_.module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_augment_setting_is_saved_and_loaded(tmp_path):
    X, _ = toy_data()
    spec = {"shift": 0.1, "channel_dropout": 0.2}
    EEGM2Pretrainer(**TINY, max_epochs=1, augment=spec).fit(X).save_pretrained(tmp_path / "m")
    assert EEGM2Pretrainer.from_pretrained(tmp_path / "m").augment == spec


def test_draws_do_not_depend_on_the_batch_dtype():
    x = windows()
    composed = make_augmentation(dict.fromkeys(augment.AUGMENTATIONS, 0.2))
    single = composed(x, generator())
    double = composed(x.double(), generator())
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single, rtol=1e-5, atol=1e-5)
