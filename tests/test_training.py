"""Training as a function of values: a network, data, a plan and compute settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2._parameters import declared
from sk_eegm2._training import (
    AutocastMixin,
    InterruptFlagMixin,
    TrainingPlan,
    TrainingStopped,
    train,
)
from sk_eegm2.callbacks import NonFiniteLossError
from sk_eegm2.nn.compute import Compute


class Net(AutocastMixin, InterruptFlagMixin, NeuralNetClassifier):
    """A classifier net as the estimators' nets are made."""


PLAN = TrainingPlan(
    max_epochs=3,
    batch_size=8,
    lr=1e-2,
    patience=None,
    device="cpu",
    verbose=0,
    checkpoint_dir=None,
    resume=False,
    fingerprinted={},
)
X = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def fit(callbacks=(), compute=None, plan=PLAN):
    torch.manual_seed(0)
    return train(
        Net,
        torch.nn.Linear(6, 2),
        (X, Y),
        None,
        plan,
        compute or Compute(),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        optimizer_params={},
        callbacks=list(callbacks),
    )


class StopAt(Callback):
    """Raises ``error`` at the first training batch of epoch ``epoch``."""

    def __init__(self, epoch, error):
        self.epoch, self.error = epoch, error

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            raise self.error


def test_training_returns_the_net_its_history_and_device():
    net, history, device = fit()
    assert device == "cpu" and len(history) == PLAN.max_epochs and history is net.history
    assert net.predict(X).shape == Y.shape
    assert net.precision == "float32"
    bfloat16 = fit(compute=Compute(precision="bfloat16")).net
    assert bfloat16.precision == "bfloat16" and "compute" not in vars(bfloat16)


def test_ctrl_c_raises_training_stopped_with_what_was_trained():
    with pytest.raises(TrainingStopped) as stopped:
        fit([("stop", StopAt(2, KeyboardInterrupt()))])
    assert stopped.value.error is None
    net, history, _ = stopped.value.trained
    assert len(history) == 1  # the complete epoch only
    after_one = fit(plan=dataclasses.replace(PLAN, max_epochs=1)).net.module_
    for name, value in after_one.state_dict().items():  # not those of the cut epoch
        torch.testing.assert_close(net.module_.state_dict()[name], value)
    with pytest.raises(TrainingStopped) as stopped:
        fit([("stop", StopAt(1, KeyboardInterrupt()))])
    assert len(stopped.value.trained.history) == 0

    class StopAtFirstEpochBegin(Callback):  # before any weights of an epoch's start are kept
        def on_epoch_begin(self, net, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(TrainingStopped) as stopped:
        fit([("stop", StopAtFirstEpochBegin())])
    assert len(stopped.value.trained.history) == 0


def test_a_non_finite_loss_raises_training_stopped_with_good_weights():
    def nan_loss(*args, **kwargs):
        return torch.tensor(float("nan"), requires_grad=True)

    class NanAt(Callback):
        def on_epoch_begin(self, net, **kwargs):
            if len(net.history) == 2:
                net.criterion_.forward = nan_loss

    with pytest.raises(TrainingStopped) as stopped:
        fit([("nan", NanAt())])
    assert isinstance(stopped.value.error, NonFiniteLossError)
    assert len(stopped.value.trained.history) == 1
    module = stopped.value.trained.net.module_
    assert all(torch.isfinite(p).all() for p in module.parameters())


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_the_plan_is_made_of_training_parameters(estimator):
    names = {f.name for f in dataclasses.fields(TrainingPlan)} - {"fingerprinted"}
    assert names <= set(declared(estimator, "training"))
    plan = estimator(lr=0.5, threads=2)._training_plan()
    assert plan.lr == 0.5 and plan.fingerprinted["threads"] == 2
    assert "verbose" not in plan.fingerprinted
