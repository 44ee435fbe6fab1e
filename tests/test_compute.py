"""Compute options: each leaves the network's function unchanged up to rounding."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

from sk_eegm2.nn import EEGM2, Mamba2, MambaBlock
from sk_eegm2.nn.compute import Compute, compile_module

TINY = {"widths": (8, 16), "expand": 2, "headdim": 8, "d_state": 8, "backend": "torch"}


def tiny_net(**kwargs):
    torch.manual_seed(0)
    return EEGM2(4, **TINY, **kwargs)


def windows():
    return torch.randn(3, 4, 64, generator=torch.Generator().manual_seed(1))


def training_step(net, x, compute=None):
    """Loss and flat parameter gradient of one reconstruction step; the plain network's
    without ``compute``."""
    net.zero_grad(set_to_none=True)
    scope = compute.scope() if compute else contextlib.nullcontext()
    with scope:
        with compute.autocast(x.device) if compute else contextlib.nullcontext():
            out = net(x)
        loss = F.mse_loss(out.float(), x)
        loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in net.parameters()]), out.dtype


def relative(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"precision": "float16"}, "precision"), ({"threads": 0}, "threads")],
)
def test_invalid_options_say_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Compute(**kwargs)


def test_float32_is_the_plain_network():
    # Compute() autocasts nothing: the plain network's numbers
    net, x = tiny_net(), windows()
    loss, grad, dtype = training_step(net, x, Compute())
    plain_loss, plain_grad, _ = training_step(net, x, None)
    assert dtype == torch.float32
    assert torch.equal(loss, plain_loss) and torch.equal(grad, plain_grad)


def test_bfloat16_autocast_trains_close_to_float32():
    # Measured on the tiny network: loss within 1e-3, gradients within 3% (relative norm).
    net, x = tiny_net(), windows()
    loss32, grad32, _ = training_step(net, x)
    loss16, grad16, dtype = training_step(net, x, Compute(precision="bfloat16"))
    assert dtype == torch.bfloat16  # the autocast region did run in bfloat16
    assert torch.isfinite(grad16).all()
    assert abs(loss16 - loss32) / loss32 < 1e-2
    assert relative(grad16, grad32) < 0.1


def test_mamba_layer_under_autocast_keeps_the_scan_in_float32():
    torch.manual_seed(0)
    layer = Mamba2(16, d_state=8, expand=2, headdim=8, d_conv=2, backend="torch")
    u = torch.randn(2, 40, 16, requires_grad=True)
    reference = layer(u)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(u)
        out.float().square().sum().backward()  # backward inside the region works too
    assert out.dtype == torch.bfloat16
    assert relative(out.float(), reference) < 2e-2
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_threads_are_set_inside_the_scope_and_restored():
    before = torch.get_num_threads()
    with Compute(threads=before + 1).scope():
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_checkpointing_option_reaches_every_block_and_keeps_gradients():
    net, x = tiny_net(), windows()
    _, plain, _ = training_step(net, x)
    Compute(checkpointing=True).prepare(net)
    blocks = [m for m in net.modules() if isinstance(m, MambaBlock)]
    assert blocks and all(block.checkpointing for block in blocks)
    _, recomputed, _ = training_step(net, x)
    assert relative(recomputed, plain) < 1e-5


@pytest.mark.slow  # importing torch._dynamo and tracing take seconds
# A string: evaluated only where the test runs, not when the quick loop collects it.
@pytest.mark.skipif("not torch._dynamo.is_dynamo_supported()", reason="no torch.compile here")
def test_compiled_layer_matches_eager():
    # One Mamba layer and dynamo without code generation: fast, and the same tracing
    # (autograd functions, the scan's one graph break) as the inductor default.
    torch.manual_seed(0)
    layer = Mamba2(16, d_state=8, expand=2, headdim=8, d_conv=2, backend="torch")
    u = torch.randn(2, 40, 16, requires_grad=True)
    eager = layer(u)
    (eager_grad,) = torch.autograd.grad(eager.square().sum(), u)
    compiled = compile_module(layer, backend="eager")
    assert compiled is layer  # in place: state-dict keys unchanged
    out = layer(u)
    (grad,) = torch.autograd.grad(out.square().sum(), u)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(grad, eager_grad)
