"""Fine-tuning options of EEGM2Classifier: linear probe first, warm-up, backbone learning rate."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import sk_eegm2._base
from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
# No validation split: every window trains, so the number of batches per epoch is known.
TRAINING = {"validation_fraction": 0, "random_state": 0, "lr": 1e-2}


def toy_data(n=48, n_chans=3, n_times=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(n_times) / 32
    X = rng.standard_normal((n, n_chans, n_times))
    X += (1 + y[:, None, None]) * np.sin(2 * np.pi * (2 + 3 * y[:, None, None]) * t)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def pretrainer():
    X, _ = toy_data()
    return EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)


def backbone_weights(model):
    return {k: v.clone() for k, v in model.net_.module_.backbone.state_dict().items()}


def head_weights(module):
    """The weights of a fine-mode network outside its backbone (the head's)."""
    state = module.state_dict()
    return {k: v.clone() for k, v in state.items() if not k.startswith("backbone.")}


def changed(before, after):
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("head", ["reconstruction", "pooled"])
def test_probe_epochs_train_the_head_only_then_the_whole_network(pretrainer, head, monkeypatch):
    X, y = toy_data()
    pretrained = {k: v.clone() for k, v in pretrainer.net_.module_.state_dict().items()}
    initial_heads = []
    train = sk_eegm2._base.train

    def recording_train(net_class, module, *args, **kwargs):
        initial_heads.append(head_weights(module))
        return train(net_class, module, *args, **kwargs)

    monkeypatch.setattr(sk_eegm2._base, "train", recording_train)
    settings = {**TINY, **TRAINING, "pretrained": pretrainer, "head": head, "probe_epochs": 2}
    probed = EEGM2Classifier(**settings, max_epochs=2).fit(X, y)
    assert not changed(pretrained, backbone_weights(probed))  # the backbone stayed as it was
    assert changed(initial_heads[0], head_weights(probed.net_.module_))  # the head trained
    fine_tuned = EEGM2Classifier(**settings, max_epochs=3).fit(X, y)
    assert changed(pretrained, backbone_weights(fine_tuned))  # then the backbone did too
    assert all(p.requires_grad for p in fine_tuned.net_.module_.parameters())
    pickle.loads(pickle.dumps(fine_tuned))  # the schedule's callbacks pickle


def test_warmup_raises_the_learning_rate_linearly_after_the_probe():
    X, y = toy_data()  # 48 windows in batches of 16: 3 steps per epoch
    lr = TRAINING["lr"]
    model = EEGM2Classifier(
        **TINY, **TRAINING, batch_size=16, max_epochs=4, probe_epochs=1, warmup_epochs=2
    ).fit(X, y)
    used = [rate for epoch in model.history_[:, "batches", :, "event_lr"] for rate in epoch]
    expected = [lr] * 3 + [lr * k / 6 for k in range(1, 7)] + [lr] * 3
    np.testing.assert_allclose(used, expected)


def test_backbone_lr_gives_the_backbone_its_own_rate_through_the_warmup(pretrainer):
    X, y = toy_data()
    model = EEGM2Classifier(
        **TINY, **TRAINING, pretrained=pretrainer, backbone_lr=1e-4, batch_size=16,
        max_epochs=1, warmup_epochs=2,
    ).fit(X, y)  # fmt: skip
    backbone_group, head_group = model.net_.optimizer_.param_groups  # skorch: patterns first
    backbone = {id(p) for p in model.net_.module_.backbone.parameters()}
    assert {id(p) for p in backbone_group["params"]} == backbone
    assert not backbone & {id(p) for p in head_group["params"]}
    # Half-way through the warm-up (3 of 6 steps): both at half their rate, in proportion.
    assert head_group["lr"] == pytest.approx(TRAINING["lr"] * 4 / 6)
    assert backbone_group["lr"] == pytest.approx(1e-4 * 4 / 6)


def test_defaults_add_no_schedule_and_light_mode_refuses_them(pretrainer):
    X, y = toy_data()
    model = EEGM2Classifier(**TINY, **TRAINING, max_epochs=1).fit(X, y)
    assert model.probe_epochs == 0 and model.warmup_epochs == 0
    assert not {"probe", "fine_tune", "warmup"} & set(dict(model.net_.callbacks_))
    assert len(model.net_.optimizer_.param_groups) == 1
    for option in ({"probe_epochs": 1}, {"warmup_epochs": 1}):
        with pytest.raises(ValueError, match="light mode keeps frozen"):
            EEGM2Classifier(**TINY, pretrained=pretrainer, mode="light", **option).fit(X, y)
