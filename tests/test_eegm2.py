"""The EEGM2 network: the spec's table, parameter counts, reference checkpoint keys, lengths."""

from __future__ import annotations

import pytest
import torch

from sk_eegm2.nn import EEGM2, FineTuneNetwork, LightHead, MultiBranchEmbedding, summary_statistics

TINY = {"widths": (8, 16, 16), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_paper():
    for n_chans, expected in [(16, 4_565_144), (14, 4_563_606)]:
        net = EEGM2(n_chans)
        assert n_params(net) == expected
        assert len(list(net.parameters())) == 66
    net = EEGM2(16)
    light = ["input_embedding", "encoder1", "encoder2", "encoder3"]  # up to pool3
    assert sum(n_params(getattr(net, name)) for name in light) == 254_392


def reference_keys(n_chans: int) -> dict[str, tuple[int, ...]]:
    """The state-dict keys and shapes of the authors' EEGM2 (Jiazhen-Hong/EEGM2), by hand."""
    keys: dict[str, tuple[int, ...]] = {}

    def conv(name, c_in, c_out, k):
        keys[f"{name}.weight"] = (c_out, c_in, k)
        keys[f"{name}.bias"] = (c_out,)

    def linear(name, d):
        keys[f"{name}.weight"] = (d, d)
        keys[f"{name}.bias"] = (d,)

    def block(name, d):  # SelfSupervisedMambaModel: .mamba (mamba_ssm.Mamba2), .norm (LayerNorm)
        d_inner, heads = 8 * d, 8 * d // 64
        keys.update(
            {
                f"{name}.mamba.dt_bias": (heads,),
                f"{name}.mamba.A_log": (heads,),
                f"{name}.mamba.D": (heads,),
                f"{name}.mamba.in_proj.weight": (2 * d_inner + 2 * 16 + heads, d),
                f"{name}.mamba.conv1d.weight": (d_inner + 32, 1, 2),
                f"{name}.mamba.conv1d.bias": (d_inner + 32,),
                f"{name}.mamba.norm.weight": (d_inner,),
                f"{name}.mamba.out_proj.weight": (d, d_inner),
                f"{name}.norm.weight": (d,),
                f"{name}.norm.bias": (d,),
            }
        )

    for k in (1, 3, 7):
        conv(f"input_embedding.branch{k}", n_chans, 64, k)
    conv("input_embedding.fuse", 192, 64, 1)
    linear("encoder1.0", 64)
    block("encoder1.1", 64)
    conv("encoder2", 64, 128, 3)
    conv("encoder3", 128, 256, 3)
    linear("bottleneck.0", 256)
    block("bottleneck.1", 256)
    linear("bottleneck.2", 256)
    conv("decoder3", 512, 256, 3)
    block("decodeMamba3", 256)
    conv("decoder2", 384, 128, 3)
    block("decodeMamba2", 128)
    conv("decoder1", 192, 64, 3)
    conv("onput_embedding", 64, n_chans, 1)
    return keys


def test_reference_checkpoint_loads_without_renaming():
    shapes = reference_keys(16)
    checkpoint = {key: torch.randn(shape) for key, shape in shapes.items()}
    net = EEGM2(16)
    net.load_state_dict(checkpoint, strict=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, checkpoint[key])


@pytest.mark.parametrize("n_times", [8, 9, 31, 64, 101])
def test_any_length_from_the_minimum(n_times):
    torch.manual_seed(0)
    net = EEGM2(3, **TINY)
    x = torch.randn(2, 3, n_times)
    out = net(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    skips, pooled = net.encode(x)
    assert [s.shape[-1] for s in skips] == [n_times, n_times // 2, n_times // 4]
    assert pooled.shape == (2, 16, n_times // 8)
    assert net.forward_features(x, "bottleneck").shape == pooled.shape


def test_too_short_or_wrong_channels_raise_clear_errors():
    net = EEGM2(3, **TINY)
    with pytest.raises(ValueError, match="at least 8 time points"):
        net(torch.randn(1, 3, 7))
    with pytest.raises(ValueError, match=r"shape \(batch, 3, times\)"):
        net(torch.randn(1, 4, 32))
    with pytest.raises(ValueError, match="'pool' or 'bottleneck'"):
        net.forward_features(torch.randn(1, 3, 32), "decoder")  # type: ignore[arg-type]


def test_depth_is_a_parameter():
    shallow = EEGM2(2, widths=(8,), d_state=4, expand=2, headdim=4)
    assert shallow.min_times == 2
    assert shallow(torch.randn(1, 2, 3)).shape == (1, 2, 3)
    assert not hasattr(shallow, "decodeMamba1")  # the top decoder level has no Mamba block


def test_features_do_not_run_the_decoder(monkeypatch):
    net = EEGM2(3, **TINY)

    def fail(*args, **kwargs):
        raise AssertionError("decoder ran")

    monkeypatch.setattr(net.decoder1, "forward", fail)
    net.forward_features(torch.randn(1, 3, 32))
    with pytest.raises(AssertionError, match="decoder ran"):
        net(torch.randn(1, 3, 32))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_receptive_field(bidirectional):
    """Mamba carries the whole past; only a bidirectional network sees the far future."""
    torch.manual_seed(0)
    net = EEGM2(2, **TINY, bidirectional=bidirectional).double()
    x = torch.randn(1, 2, 128, dtype=torch.float64, requires_grad=True)
    net(x)[0, :, 10].sum().backward()
    assert x.grad is not None
    assert x.grad[..., 0].abs().sum() > 0  # the distant past, through encoder1's Mamba block
    assert (x.grad[..., 100:].abs().sum() > 0) == bidirectional  # the convolutions' reach is short


def test_multibranch_embedding_kernels():
    emb = MultiBranchEmbedding(4, 6)
    assert [getattr(emb, f"branch{k}").kernel_size[0] for k in (1, 3, 7)] == [1, 3, 7]
    assert emb(torch.randn(2, 4, 11)).shape == (2, 6, 11)
    with pytest.raises(ValueError, match="odd"):
        MultiBranchEmbedding(4, 6, (2, 3))


def test_summary_statistics_order_and_values():
    z = torch.arange(24, dtype=torch.float32).view(1, 2, 12)
    stats = summary_statistics(z).view(9, 2)  # statistic-major
    row = z[0, 0]
    expected = [
        row.min(), row.max(), row.mean(), row.std(),
        *torch.quantile(row, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])),
    ]  # fmt: skip
    torch.testing.assert_close(stats[:, 0], torch.stack(expected))
    assert summary_statistics(torch.randn(3, 256, 1)).shape == (3, 2304)
    assert torch.isfinite(summary_statistics(torch.randn(3, 4, 1))).all()  # std of one point: 0


def test_heads_shapes():
    net = EEGM2(3, **TINY)
    fine = FineTuneNetwork(net, n_times=32, n_classes=4)
    assert fine(torch.randn(5, 3, 32)).shape == (5, 4)
    assert fine.head[1].in_features == 3 * 32
    light = LightHead(2304, 3)
    assert light(torch.randn(5, 2304)).shape == (5, 3)
    widths = [m.out_features for m in light.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 32, 3]


def test_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = EEGM2(3, **TINY).double()
    recomputed = EEGM2(3, **TINY, checkpointing=True).double()
    recomputed.load_state_dict(plain.state_dict())
    assert set(recomputed.state_dict()) == set(plain.state_dict())
    x = torch.randn(2, 3, 45, dtype=torch.float64)
    grads = []
    for net in (plain, recomputed):
        out = net(x)
        (out * torch.linspace(-1, 1, 45, dtype=torch.float64)).sum().backward()
        grads.append({name: p.grad for name, p in net.named_parameters()})
    with torch.no_grad():
        torch.testing.assert_close(recomputed(x), plain(x), rtol=0, atol=0)
    for name, grad in grads[0].items():  # the batch's sums are taken in another order
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-12, atol=1e-12, msg=name)


def test_cpu_batch_slices_give_the_same_outputs_and_gradients(monkeypatch):
    import sk_eegm2.nn.mamba2 as mamba2_module

    torch.manual_seed(0)
    net = EEGM2(3, **TINY).double()
    x = torch.randn(5, 3, 32, dtype=torch.float64)
    weights = torch.linspace(-1, 1, 32, dtype=torch.float64)

    def run() -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
        calls = []
        hooks = [
            m.register_forward_hook(lambda *_: calls.append(1))
            for m in net.modules()
            if isinstance(m, mamba2_module.Mamba2)
        ]
        net.zero_grad()
        out = net(x)
        (out * weights).sum().backward()
        for hook in hooks:
            hook.remove()
        return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}, len(calls)

    whole, whole_grads, whole_calls = run()
    # Two sequences per slice at the first level: 32 steps x d_inner 16.
    monkeypatch.setattr(mamba2_module, "CPU_SLICE_VALUES", 2 * 32 * 16)
    sliced, sliced_grads, sliced_calls = run()
    assert whole_calls == 4 and sliced_calls > whole_calls  # the blocks ran slice by slice
    torch.testing.assert_close(sliced, whole, rtol=1e-12, atol=1e-12)
    for name, grad in whole_grads.items():
        torch.testing.assert_close(sliced_grads[name], grad, rtol=1e-12, atol=1e-12, msg=name)
