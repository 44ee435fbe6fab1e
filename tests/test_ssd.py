"""The chunked SSD scan against a plain step-by-step recurrence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sk_eegm2.nn.ssd import ssd_scan


def recurrence(x, dt, A, B, C, state=None, return_state=False):
    """h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T ; y_t = h_t C_t, one step at a time."""
    b, length, h, p = x.shape
    heads_per_group = h // B.shape[2]
    B = B.repeat_interleave(heads_per_group, dim=2)  # (b, L, h, n)
    C = C.repeat_interleave(heads_per_group, dim=2)
    state = x.new_zeros(b, h, p, B.shape[-1]) if state is None else state
    ys = []
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)[..., None, None]
        state = decay * state + (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", state, C[:, t]))
    return (torch.stack(ys, dim=1), state) if return_state else torch.stack(ys, dim=1)


def random_inputs(length, b=2, h=4, p=3, g=2, n=5, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, length, h, p, generator=gen, dtype=dtype)
    dt = F.softplus(torch.randn(b, length, h, generator=gen, dtype=dtype) - 1)
    A = -torch.empty(h, dtype=dtype).uniform_(1, 16, generator=gen)
    B = torch.randn(b, length, g, n, generator=gen, dtype=dtype)
    C = torch.randn(b, length, g, n, generator=gen, dtype=dtype)
    return x, dt, A, B, C


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("length", [1, 7, 16, 37])  # chunk 8: shorter, equal multiples, ragged
def test_float64_matches_recurrence(length):
    inputs = random_inputs(length)
    expected = recurrence(*inputs)
    out = ssd_scan(*inputs, chunk_size=8)
    assert out.dtype == torch.float64
    assert (out - expected).abs().max().item() < 1e-10


@pytest.mark.parametrize("length", [16, 29])
def test_float32_matches_float64_recurrence(length):
    inputs = random_inputs(length)
    expected = recurrence(*inputs)
    out = ssd_scan(*(t.float() for t in inputs), chunk_size=8)
    assert out.dtype == torch.float32
    assert relative_error(out.double(), expected) < 1e-5


@pytest.mark.parametrize("length", [16, 21])
def test_gradients_match_recurrence(length):
    inputs = [t.requires_grad_() for t in random_inputs(length, seed=1)]
    weights = torch.randn(2, length, 4, 3, dtype=torch.float64)
    (ssd_scan(*inputs, chunk_size=8) * weights).sum().backward()
    ours = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    (recurrence(*inputs) * weights).sum().backward()
    for mine, ref in zip(ours, (t.grad for t in inputs), strict=True):
        assert (mine - ref).abs().max().item() < 1e-10

    inputs32 = [t.detach().float().requires_grad_() for t in inputs]
    (ssd_scan(*inputs32, chunk_size=8) * weights.float()).sum().backward()
    for mine, t in zip(inputs32, inputs, strict=True):
        assert relative_error(mine.grad.double(), t.grad) < 1e-5


def test_gradcheck():
    x, dt, A, B, C = (t.requires_grad_() for t in random_inputs(6, b=1, h=2, p=2, g=1, n=3))
    assert torch.autograd.gradcheck(lambda *a: ssd_scan(*a, chunk_size=4), (x, dt, A, B, C))


@pytest.mark.parametrize("length", [8, 19])  # whole chunks, a ragged one
def test_initial_and_final_states_match_recurrence(length):
    x, dt, A, B, C = random_inputs(length, seed=3)
    initial = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    y, final = ssd_scan(x, dt, A, B, C, 8, initial_state=initial, return_final_state=True)
    expected_y, expected_final = recurrence(x, dt, A, B, C, initial.clone(), return_state=True)
    assert (y - expected_y).abs().max().item() < 1e-10
    assert (final - expected_final).abs().max().item() < 1e-10


def test_a_sequence_scanned_in_pieces_gives_the_same_outputs_and_gradients():
    inputs = [t.requires_grad_() for t in random_inputs(37, seed=4)]
    weights = torch.randn(2, 37, 4, 3, dtype=torch.float64)
    whole = ssd_scan(*inputs, chunk_size=8)
    (whole * weights).sum().backward()
    expected = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    pieces, state = [], None
    for start, stop in [(0, 16), (16, 21), (21, 37)]:  # the state carries gradients back too
        piece = [t[:, start:stop] for t in inputs[:2]] + [inputs[2]]
        piece += [t[:, start:stop] for t in inputs[3:]]
        y, state = ssd_scan(*piece, 8, initial_state=state, return_final_state=True)
        pieces.append(y)
    pieced = torch.cat(pieces, dim=1)
    (pieced * weights).sum().backward()
    assert (pieced - whole).abs().max().item() < 1e-10
    for t, ref in zip(inputs, expected, strict=True):
        assert (t.grad - ref).abs().max().item() < 1e-10


def test_gradcheck_with_states():
    x, dt, A, B, C = (t.requires_grad_() for t in random_inputs(6, b=1, h=2, p=2, g=1, n=3))
    initial = torch.randn(1, 2, 2, 3, dtype=torch.float64, requires_grad=True)

    def scan(*args):  # the output and the final state, both differentiated
        return ssd_scan(*args[:5], 4, initial_state=args[5], return_final_state=True)

    assert torch.autograd.gradcheck(scan, (x, dt, A, B, C, initial))


def test_chunk_size_does_not_change_the_result():
    inputs = random_inputs(40)
    outs = [ssd_scan(*inputs, chunk_size=k) for k in (1, 5, 16, 64)]
    for out in outs[1:]:
        assert (out - outs[0]).abs().max().item() < 1e-10


@pytest.mark.parametrize("dt_scale", [0.01, 5.0])  # slow decays; decays that force chunk 1
def test_any_decay_rate_matches_recurrence(dt_scale):
    x, dt, A, B, C = random_inputs(50, seed=2)
    inputs = [t.requires_grad_() for t in (x, dt * dt_scale, A, B, C)]
    weights = torch.randn(x.shape, dtype=torch.float64)
    (recurrence(*inputs) * weights).sum().backward()
    expected = [t.grad.clone() for t in inputs]
    inputs32 = [t.detach().float().requires_grad_() for t in inputs]
    out = ssd_scan(*inputs32, chunk_size=32)
    (out * weights.float()).sum().backward()
    assert relative_error(out.double(), recurrence(*(t.detach() for t in inputs))) < 1e-5
    for mine, ref in zip(inputs32, expected, strict=True):
        assert relative_error(mine.grad.double(), ref) < 1e-5


def test_half_precision_inputs_are_computed_in_float32():
    x, dt, A, B, C = (t.float() for t in random_inputs(24))
    half = [t.to(torch.bfloat16) for t in (x, dt)] + [A] + [t.to(torch.bfloat16) for t in (B, C)]
    out = ssd_scan(*half, chunk_size=8)
    assert out.dtype == torch.bfloat16
    reference = ssd_scan(*(t.float() for t in half), chunk_size=8)
    torch.testing.assert_close(out, reference.to(torch.bfloat16))


def test_autograd_keeps_only_inputs_and_chunk_states():
    inputs = [t.requires_grad_() for t in random_inputs(64, b=2, h=4, p=8, g=1, n=2)]
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ssd_scan(*inputs, chunk_size=16)
    states = 2 * (64 // 16) * 2 * (4 * 8)  # one (n, h * p) state per sequence and chunk
    assert sum(saved) == sum(t.numel() for t in inputs) + states
