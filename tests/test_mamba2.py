"""The Mamba-2 layer: the mamba-ssm interface, a step-by-step reference, the backends."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from sk_eegm2.nn import Mamba2, mamba2
from sk_eegm2.nn.mamba2 import _import_mamba_ssm


def step_by_step(layer: Mamba2, u: torch.Tensor) -> torch.Tensor:
    """The layer's forward written as a loop over time, from its parameters alone."""
    d_inner, n, h, p = layer.d_inner, layer.d_state, layer.nheads, layer.headdim
    zxbcdt = u @ layer.in_proj.weight.T
    z, xBC, dt = zxbcdt.split([d_inner, d_inner + 2 * n, h], dim=-1)
    w, bias = layer.conv1d.weight[:, 0], layer.conv1d.bias  # (channels, k)
    k = w.shape[-1]
    padded = F.pad(xBC, (0, 0, k - 1, 0))  # causal: only the past and present
    A = -torch.exp(layer.A_log)
    state = u.new_zeros(u.shape[0], h, p, n)
    ys = []
    for t in range(u.shape[1]):
        conv = (padded[:, t : t + k].transpose(1, 2) * w).sum(-1) + bias
        x, B, C = F.silu(conv).split([d_inner, n, n], dim=-1)
        x = x.view(-1, h, p)
        step = F.softplus(dt[:, t] + layer.dt_bias)  # (b, h)
        state = torch.exp(step * A)[..., None, None] * state
        state = state + (step[..., None] * x)[..., None] * B[:, None, None, :]
        y = torch.einsum("bhpn,bn->bhp", state, C) + layer.D[:, None] * x
        gated = y.reshape(-1, d_inner) * F.silu(z[:, t])
        normed = gated * torch.rsqrt(gated.pow(2).mean(-1, keepdim=True) + 1e-5)
        ys.append(normed * layer.norm.weight)
    return torch.stack(ys, dim=1) @ layer.out_proj.weight.T


def small_layer(dtype=torch.float64, **kwargs) -> Mamba2:
    torch.manual_seed(0)
    args = {"d_state": 4, "d_conv": 2, "expand": 2, "headdim": 4, "chunk_size": 8}
    return Mamba2(8, **(args | kwargs), backend="torch", dtype=dtype)


def test_defaults_and_parameter_names_match_mamba_ssm():
    layer = Mamba2(64, d_state=16, d_conv=2, expand=8)  # EEGM2's setting
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {
        "in_proj.weight": (2 * 512 + 2 * 16 + 8, 64),
        "conv1d.weight": (512 + 32, 1, 2),
        "conv1d.bias": (544,),
        "dt_bias": (8,),
        "A_log": (8,),
        "D": (8,),
        "norm.weight": (512,),
        "out_proj.weight": (64, 512),
    }
    assert sum(p.numel() for p in layer.parameters()) == 103_032
    assert sum(p.numel() for p in Mamba2(128, 16, 2, expand=8).parameters()) == 403_600
    assert sum(p.numel() for p in Mamba2(256, 16, 2, expand=8).parameters()) == 1_597_632
    default = Mamba2(64)  # mamba-ssm's own defaults: d_state 128, d_conv 4, expand 2
    assert (default.d_state, default.d_conv, default.expand, default.headdim) == (128, 4, 2, 64)
    assert default.chunk_size == 256 and default.in_proj.bias is None


def test_initialisation_follows_mamba_ssm():
    layer = Mamba2(256, d_state=16, d_conv=2, expand=8)
    dt = F.softplus(layer.dt_bias)
    assert dt.min() >= 1e-3 - 1e-7 and dt.max() <= 0.1 + 1e-7
    A = torch.exp(layer.A_log)
    assert A.min() >= 1 and A.max() <= 16
    assert torch.equal(layer.D, torch.ones(32)) and torch.equal(layer.norm.weight, torch.ones(2048))
    # The inverse softplus is exact: softplus(dt_bias) gives the drawn dt back.
    floor = Mamba2(64, dt_min=1e-6, dt_max=2e-6, dt_init_floor=1e-4)
    torch.testing.assert_close(F.softplus(floor.dt_bias), torch.full((2,), 1e-4))
    assert not math.isnan(layer(torch.randn(1, 5, 256)).sum().item())


@pytest.mark.parametrize("length", [5, 8, 16, 19])  # chunk 8: shorter, equal, multiple, ragged
def test_float64_layer_matches_step_by_step(length):
    layer = small_layer()
    u = torch.randn(2, length, 8, dtype=torch.float64)
    assert (layer(u) - step_by_step(layer, u)).abs().max().item() < 1e-10


def test_float32_layer_and_gradients_match_float64_reference():
    layer64 = small_layer()
    layer32 = small_layer(dtype=torch.float32)
    layer32.load_state_dict(layer64.state_dict())
    u64 = torch.randn(2, 21, 8, dtype=torch.float64, requires_grad=True)
    u32 = u64.detach().float().requires_grad_()
    weights = torch.randn(2, 21, 8, dtype=torch.float64)
    ref = step_by_step(layer64, u64)
    (ref * weights).sum().backward()
    out = layer32(u32)
    (out * weights.float()).sum().backward()

    def rel(a, b):
        return ((a.double() - b).abs().max() / b.abs().max()).item()

    assert rel(out, ref) < 1e-5
    assert rel(u32.grad, u64.grad) < 1e-5
    params64 = dict(layer64.named_parameters())
    for name, param in layer32.named_parameters():
        assert rel(param.grad, params64[name].grad) < 1e-5, name


def test_longer_conv_kernel_matches_step_by_step():
    layer = small_layer(d_conv=4)
    u = torch.randn(2, 11, 8, dtype=torch.float64)
    assert (layer(u) - step_by_step(layer, u)).abs().max().item() < 1e-10


def test_folded_norm_matches_rmsnorm_module_and_its_gradients():
    """With one norm group the forward folds the norm into out_proj; same values."""
    layer = small_layer()
    y = torch.randn(2, 7, layer.d_inner, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, 7, layer.d_inner, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 7, 8, dtype=torch.float64)
    torch.nn.init.normal_(layer.norm.weight)
    grads = []
    for out in (layer._gated_norm_out_proj(y, z), layer.out_proj(layer.norm(y, z))):
        (out * weights).sum().backward()
        params = (y, z, layer.norm.weight, layer.out_proj.weight)
        grads.append([out.detach()] + [p.grad.clone() for p in params])
        for p in params:
            p.grad = None
    for folded, module in zip(*grads, strict=True):
        torch.testing.assert_close(folded, module)


def test_torch_scan_caps_the_chunk_without_changing_results():
    reference = small_layer(chunk_size=8)
    capped = small_layer(chunk_size=256)
    capped.load_state_dict(reference.state_dict())
    u = torch.randn(1, 150, 8, dtype=torch.float64)
    assert (capped(u) - reference(u)).abs().max().item() < 1e-10


def test_gradcheck_layer():
    layer = small_layer(chunk_size=4)
    u = torch.randn(1, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (u,))


def test_bidirectional_is_weight_tied_and_sees_the_future():
    causal = small_layer()
    both = small_layer(bidirectional=True)
    assert set(both.state_dict()) == set(causal.state_dict())
    u = torch.randn(1, 12, 8, dtype=torch.float64)
    expected = causal(u) + causal(u.flip(1)).flip(1)
    torch.testing.assert_close(both(u), expected)
    changed = u.clone()
    changed[:, -1] += 1.0  # a change at the end reaches the first output only bidirectionally
    assert torch.equal(causal(u)[:, 0], causal(changed)[:, 0])
    assert not torch.allclose(both(u)[:, 0], both(changed)[:, 0])


def test_state_dict_round_trip_between_instances():
    a, b = small_layer(), small_layer()
    torch.nn.init.normal_(a.in_proj.weight)
    b.load_state_dict(a.state_dict())
    u = torch.randn(1, 9, 8, dtype=torch.float64)
    torch.testing.assert_close(a(u), b(u))


def test_backend_errors_say_what_to_do():
    with pytest.raises(ValueError, match="backend must be one of"):
        Mamba2(8, backend="cuda")  # type: ignore[arg-type]
    layer = Mamba2(8, d_state=4, expand=2, headdim=4, backend="mamba_ssm")
    with pytest.raises(RuntimeError, match="CUDA"):
        layer(torch.randn(1, 4, 8))
    auto = Mamba2(8, d_state=4, expand=2, headdim=4, backend="auto")
    assert auto(torch.randn(1, 4, 8)).shape == (1, 4, 8)  # CPU falls back to PyTorch
    with pytest.raises(ValueError, match="process_group"):
        Mamba2(8, process_group=object())


def test_a_failed_mamba_ssm_import_is_not_retried(monkeypatch):
    tried = []

    def missing(name):
        tried.append(name)
        raise ImportError(name)

    monkeypatch.setattr(mamba2, "importlib", SimpleNamespace(import_module=missing))
    _import_mamba_ssm.cache_clear()
    try:
        assert _import_mamba_ssm() is None
        assert _import_mamba_ssm() is None
        assert len(tried) == 1  # the second call (every later forward) reuses the outcome
    finally:
        _import_mamba_ssm.cache_clear()  # later calls import with the real importlib


cuda_kernels = pytest.mark.skipif(
    not torch.cuda.is_available() or _import_mamba_ssm() is None,
    reason="needs a CUDA GPU and mamba-ssm",
)


@pytest.mark.cuda
@cuda_kernels
@pytest.mark.parametrize("use_mem_eff_path", [True, False])
def test_mamba_ssm_backend_parity(use_mem_eff_path):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    kwargs = {"d_state": 16, "d_conv": 2, "expand": 8, "use_mem_eff_path": use_mem_eff_path}
    ours = Mamba2(64, **kwargs, backend="torch").cuda()
    fused = Mamba2(64, **kwargs, backend="mamba_ssm").cuda()
    fused.load_state_dict(ours.state_dict())
    u = torch.randn(2, 1000, 64, device="cuda")
    u1, u2 = u.clone().requires_grad_(), u.clone().requires_grad_()
    out1, out2 = ours(u1), fused(u2)
    weights = torch.randn_like(out1)
    (out1 * weights).sum().backward()
    (out2 * weights).sum().backward()

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()

    assert rel(out2, out1) <= 1e-4
    assert rel(u2.grad, u1.grad) <= 1e-4
    grads = dict(ours.named_parameters())
    for name, param in fused.named_parameters():
        assert rel(param.grad, grads[name].grad) <= 1e-4, name


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"d_conv": 4, "bidirectional": True}, {"d_ssm": 8, "ngroups": 2, "rmsnorm": False}],
)
def test_cpu_time_slices_give_the_same_outputs_and_gradients(monkeypatch, kwargs):
    import sk_eegm2.nn.mamba2 as mamba2_module

    layer = small_layer(**kwargs)
    u = torch.randn(2, 100, layer.d_model, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 100, layer.d_model, dtype=torch.float64)

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        layer.zero_grad()
        u.grad = None
        out = layer(u)
        (out * weights).sum().backward()
        return out.detach(), [u.grad.clone()] + [p.grad.clone() for p in layer.parameters()]

    whole, whole_grads = run()
    calls = []
    monkeypatch.setattr(mamba2_module, "CPU_SLICE_VALUES", 2 * layer.d_inner * 40)
    scan = mamba2_module.ssd_scan
    monkeypatch.setattr(
        mamba2_module, "ssd_scan", lambda *a, **k: calls.append(a[0].shape[1]) or scan(*a, **k)
    )
    sliced, sliced_grads = run()
    assert calls[:4] == [32, 32, 32, 4]  # slices of whole chunks (32 steps), carrying the state
    torch.testing.assert_close(sliced, whole, rtol=1e-12, atol=1e-12)
    for mine, expected in zip(sliced_grads, whole_grads, strict=True):
        exact = 1e-12 if expected.dtype == torch.float64 else 1e-6  # D is float32, as in mamba-ssm
        torch.testing.assert_close(mine, expected, rtol=exact, atol=exact)
