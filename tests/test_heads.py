"""Frozen-encoder features: statistics, shapes, order and names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.nn import (
    EEGM2,
    PooledHeadNetwork,
    encoder_features,
    feature_names,
    log_variance,
    parse_features,
    summary_statistics,
    time_bins,
)

TINY = {"widths": (8, 16), "d_state": 8, "expand": 2, "headdim": 8, "chunk_size": 16}


def test_log_variance_is_the_log_of_the_power_about_the_mean():
    z = torch.randn(3, 4, 50, dtype=torch.float64)
    expected = np.log(z.numpy().var(axis=-1) + 1e-6)
    # float32 inside: values near 0 (unit variance) agree to float32's absolute precision
    np.testing.assert_allclose(log_variance(z).numpy(), expected, rtol=1e-5, atol=1e-6)
    # scaling the amplitude by 10 adds log(100): log-power, not linear in amplitude
    torch.testing.assert_close(
        log_variance(10 * z) - log_variance(z), torch.full((3, 4), np.log(100.0)), atol=1e-4, rtol=0
    )
    assert torch.isfinite(log_variance(torch.ones(1, 2, 5))).all()


def test_time_bins_average_consecutive_samples_channel_major():
    z = torch.arange(24.0).reshape(1, 2, 12)
    bins = time_bins(z, 3)
    assert bins.tolist() == [[1.5, 5.5, 9.5, 13.5, 17.5, 21.5]]
    assert time_bins(torch.randn(2, 5, 7), 4).shape == (2, 20)


def test_parse_features_accepts_combinations_only_of_known_parts():
    assert parse_features("light+logvar") == ("light", "logvar")
    for bad in ("", "light+", "power", "light+light", None):
        with pytest.raises(ValueError, match="features"):
            parse_features(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "features, n_features",
    [("light", 9 * 16), ("bottleneck", 9 * 16), ("logvar", 8 + 16), ("bins", 5 * 16),
     ("light+logvar+bins", 9 * 16 + 24 + 5 * 16)],
)  # fmt: skip
def test_encoder_features_shapes_and_names(features, n_features):
    torch.manual_seed(0)
    network = EEGM2(3, **TINY).eval()
    x = torch.randn(2, 3, 40)
    with torch.no_grad():
        out = encoder_features(network, x, features, n_time_bins=5)
    names = feature_names((8, 16), features, n_time_bins=5)
    assert out.shape == (2, n_features) and len(names) == n_features == len(set(names))


def test_feature_blocks_come_from_the_named_layers():
    torch.manual_seed(0)
    network = EEGM2(3, **TINY).eval()
    x = torch.randn(2, 3, 40)
    with torch.no_grad():
        skips, pooled = network.encode(x)
        out = encoder_features(network, x, "bins+logvar+light", n_time_bins=5)
    names = feature_names((8, 16), "bins+logvar+light", n_time_bins=5)
    column = {name: i for i, name in enumerate(names)}
    torch.testing.assert_close(out[:, column["pool_bin1_3"]], pooled[:, 3, 2:4].mean(-1))
    torch.testing.assert_close(out[:, column["logvar1_7"]], log_variance(skips[0])[:, 7])
    torch.testing.assert_close(out[:, column["logvar2_0"]], log_variance(skips[1])[:, 0])
    std = summary_statistics(pooled)[:, 3 * 16 + 5]  # statistic-major: std is the 4th
    torch.testing.assert_close(out[:, column["pool_std_5"]], std)


def test_pretrainer_features_and_names_agree(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 3, 32)).astype(np.float32)
    pretrainer = EEGM2Pretrainer(
        **TINY, features="light+logvar+bins", n_time_bins=2, max_epochs=1, random_state=0
    ).fit(X)
    names = pretrainer.get_feature_names_out()
    assert pretrainer.transform(X).shape == (16, len(names)) == (16, 9 * 16 + 24 + 2 * 16)
    assert names[0] == "pool_min_0" and names[9 * 16] == "logvar1_0" and names[-1] == "pool_bin1_15"
    loaded = EEGM2Pretrainer.from_pretrained(pretrainer.save_pretrained(tmp_path / "p"))
    assert loaded.get_params()["features"] == "light+logvar+bins"
    np.testing.assert_allclose(loaded.transform(X), pretrainer.transform(X), rtol=1e-5)
    assert loaded.features_ == ("light", "logvar", "bins")
    light = clone(pretrainer).set_params(features="light").fit(X).transform(X)
    both = clone(pretrainer).set_params(features="light+logvar").fit(X).transform(X)
    np.testing.assert_array_equal(light, both[:, : 9 * 16])


def test_features_are_read_in_fit_not_at_transform():
    """set_params(features=...) after fit changed the width under a fitted downstream step
    (n_time_bins likewise)."""
    X = np.random.default_rng(0).standard_normal((16, 3, 32)).astype(np.float32)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    width = pretrainer.transform(X).shape[1]
    pretrainer.set_params(features="light+logvar")
    assert pretrainer.transform(X).shape[1] == len(pretrainer.get_feature_names_out()) == width
    binned = clone(pretrainer).set_params(features="bins", n_time_bins=2).fit(X)
    binned.set_params(n_time_bins=5)
    assert binned.transform(X).shape[1] == len(binned.get_feature_names_out()) == 2 * 16
    for bad in ("power", "light+light", ""):
        with pytest.raises(ValueError, match="'features' parameter"):
            clone(pretrainer).set_params(features=bad).fit(X)
    with pytest.raises(ValueError, match="'head_features' parameter"):
        EEGM2Classifier(**TINY, head="pooled", head_features="power").fit(X, np.arange(16) % 2)


def test_pooled_head_has_few_weights_and_trains_the_encoder():
    torch.manual_seed(0)
    network = PooledHeadNetwork(EEGM2(3, **TINY), 2, "logvar+bins", n_time_bins=2)
    assert network.linear.weight.shape == (2, 8 + 16 + 2 * 16)
    x = torch.randn(4, 3, 40)
    network(x).sum().backward()
    assert network.backbone.encoder2.weight.grad is not None
    assert network.train()(x[:1]).shape == (1, 2)  # a batch of one window works
    assert network.eval()(torch.randn(2, 3, 24)).shape == (2, 2)  # any window length


def test_classifier_pooled_head_and_backbone_learning_rate(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3, 32)).astype(np.float32)
    y = np.repeat([0, 1], 12)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    model = EEGM2Classifier(
        pretrained=pretrainer, head="pooled", backbone_lr=1e-5, lr=1e-3, max_epochs=1,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    assert isinstance(model.net_.module_, PooledHeadNetwork)
    lrs = sorted(group["lr"] for group in model.net_.optimizer_.param_groups)
    assert lrs == [1e-5, 1e-3]
    assert model.predict_proba(X[:, :, :24]).shape == (24, 2)  # windows of another length
    loaded = EEGM2Classifier.from_pretrained(model.save_pretrained(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-5)
    with pytest.raises(ValueError, match="head"):
        EEGM2Classifier(pretrained=pretrainer, head="mlp", max_epochs=1).fit(X, y)


def test_the_authors_order_puts_the_quantiles_channel_by_channel():
    z = torch.randn(2, 4, 11)
    out = summary_statistics(z, order="authors")
    statistic_major = summary_statistics(z)
    assert out.shape == statistic_major.shape == (2, 36)
    # min, max, mean and std stay statistic-major: the first 4 * D columns are the same
    torch.testing.assert_close(out[:, :16], statistic_major[:, :16])
    values = z.numpy()
    for channel in range(4):
        for j, q in enumerate((0.05, 0.25, 0.5, 0.75, 0.95)):
            expected = np.quantile(values[:, channel], q, axis=-1)
            np.testing.assert_allclose(out[:, 16 + 5 * channel + j], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="order must be one of"):
        summary_statistics(z, order="channel")
