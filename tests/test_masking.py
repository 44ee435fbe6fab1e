"""Masked pretraining: the mask's statistics, hidden inputs, skip dropout, the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2.nn import EEGM2, MaskedAutoencoder, MaskedSpatioTemporalLoss, random_mask

TINY = {"widths": (8, 16), "d_state": 8, "expand": 2, "headdim": 8, "chunk_size": 16}


def test_mask_hides_the_requested_share_of_spans_and_channels():
    generator = torch.Generator().manual_seed(0)
    mask = random_mask((50, 10, 100), 0.5, 8, 0.3, generator)
    assert mask.shape == (50, 10, 100) and mask.dtype == torch.bool
    channels = mask.all(dim=-1)  # whole channels masked: round(0.3 * 10) per window
    assert (channels.sum(1) == 3).all()
    in_time = mask.all(dim=1)  # (50, 100): masked on every channel
    # 13 spans of 8 samples (the last one of 4): round(0.5 * 13) = 6 spans per window
    assert set(in_time.sum(1).tolist()) <= {5 * 8 + 4, 6 * 8}
    spans = in_time[:, :96].reshape(50, 12, 8)
    assert (spans.all(-1) | ~spans.any(-1)).all()  # spans are masked whole
    # the other channels are masked exactly on the time spans
    assert torch.equal(mask[~channels], in_time[:, None, :].expand_as(mask)[~channels])
    assert not (random_mask((4, 3, 20), 0.0, 5, 0.0)).any()
    with pytest.raises(ValueError, match="mask_ratio"):
        random_mask((2, 2, 8), 1.0)
    with pytest.raises(ValueError, match="mask_span"):
        random_mask((2, 2, 8), 0.5, 0)


def test_masks_differ_between_windows_and_draws():
    a = random_mask((20, 4, 64), 0.5, 8, 0.25)
    b = random_mask((20, 4, 64), 0.5, 8, 0.25)
    assert not torch.equal(a, b) and not (a == a[:1]).all()


def test_masked_inputs_are_hidden_from_the_network():
    torch.manual_seed(0)
    model = MaskedAutoencoder(EEGM2(3, **TINY), mask_ratio=0.5, mask_span=4, channel_mask_ratio=0.3)
    model.eval()  # a fixed generator: the same mask for both inputs
    x = torch.randn(2, 3, 32, requires_grad=True)
    out, mask = model(x)
    changed = x.detach() + 10.0 * mask  # different values on masked positions only
    out_changed, mask_again = model(changed)
    assert torch.equal(mask, mask_again) and mask.any() and not mask.all()
    torch.testing.assert_close(out, out_changed)
    loss = MaskedSpatioTemporalLoss()((out, mask), x.detach())
    loss.backward()
    assert x.grad is not None
    assert (x.grad[mask] == 0).all() and (x.grad[~mask] != 0).any()


def test_without_masking_the_wrapper_is_the_papers_autoencoder():
    torch.manual_seed(0)
    network = EEGM2(3, **TINY)
    x = torch.randn(2, 3, 32)
    out, mask = MaskedAutoencoder(network).train()(x)
    assert mask.all()
    torch.testing.assert_close(out, network(x))


def test_skip_dropout_zeroes_skips_only_while_training():
    torch.manual_seed(0)
    network = EEGM2(3, **TINY)
    x = torch.randn(4, 3, 32)
    with torch.no_grad():
        full = network(x)
        assert torch.equal(network(x, skip_dropout=0.0), full)
        no_skips = network(x, skip_dropout=1.0)  # only the deep path reaches the decoder
        assert not torch.allclose(no_skips, full)
    model = MaskedAutoencoder(network, skip_dropout=1.0)
    torch.testing.assert_close(model.eval()(x)[0], full)
    torch.testing.assert_close(model.train()(x)[0], no_skips)


def test_pretrainer_with_masking_fits_and_keeps_the_bare_network():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3, 32)).astype(np.float32)
    settings = {**TINY, "max_epochs": 2, "batch_size": 8, "random_state": 0}
    masked = EEGM2Pretrainer(
        **settings, mask_ratio=0.5, mask_span=4, channel_mask_ratio=0.3, skip_dropout=0.5
    ).fit(X)
    assert isinstance(masked.net_.module_, EEGM2) and len(masked.history_) == 2
    plain = EEGM2Pretrainer(**settings).fit(X)
    assert not np.allclose(masked.transform(X), plain.transform(X))
    assert masked.reconstruct(X).shape == X.shape
    with pytest.raises(ValueError, match="skip_dropout"):
        EEGM2Pretrainer(**settings, skip_dropout=1.5).fit(X)
    with pytest.raises(ValueError, match="mask_ratio"):
        EEGM2Pretrainer(**settings, mask_ratio=1.0).fit(X)
