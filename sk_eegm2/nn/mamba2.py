"""A Mamba-2 layer that is a drop-in for ``mamba_ssm.Mamba2``, with a pure-PyTorch path.

The constructor takes mamba-ssm's arguments with mamba-ssm's defaults, and the parameters
have the same names, shapes and initialisation (``in_proj``, ``conv1d``, ``dt_bias``,
``A_log``, ``D``, ``norm.weight``, ``out_proj``), so a state dict moves between the two
unchanged. On CUDA, when mamba-ssm is installed, the same weights run through its fused
Triton kernels; everywhere else through :func:`~sk_eegm2.nn.ssd.ssd_scan`.

References
----------
.. [1] T. Dao and A. Gu, "Transformers are SSMs: Generalized Models and Efficient Algorithms
   Through Structured State Space Duality", ICML 2024.
"""

from __future__ import annotations

import functools
import importlib
import math
from types import ModuleType
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .ssd import ssd_scan, without_autocast

Backend = Literal["auto", "torch", "mamba_ssm"]
BACKENDS = ("auto", "torch", "mamba_ssm")
#: Longest chunk of the PyTorch scan. Any chunk length gives the same result; the scan's
#: intra-chunk products cost ``2 * chunk`` FLOPs per channel and step, so mamba-ssm's 256
#: (sized for its GPU kernels) would double the work of EEGM2's first block on a CPU.
#: Timed on one CPU thread (training step, T = 256 to 12,800): 32 is as fast as 64 for the
#: paper's network (3 % faster at T = 1,280) and 10 % faster for the CPU preset.
TORCH_MAX_CHUNK = 32
#: On CPU the PyTorch path works on slices of the batch (:class:`~sk_eegm2.nn.MambaBlock`)
#: and of time (:class:`Mamba2`, carrying the scan's state and the convolution's context
#: across) whose widest activations, ``d_inner`` numbers per step, hold about this many
#: values: 4 MiB in float32, so that the dozen element-wise passes over them run in the
#: cache, and below the 32 MiB from which glibc's malloc maps every block afresh (page
#: faults and zeroing on each allocation). Timed on one CPU thread, paper network, the
#: four blocks' training step on 64 windows of T = 256: 1.6x faster than the whole batch
#: at once; the whole training step with 2**19 or 2**21 within 5 % of 2**20, with 2**18
#: 20 % slower (and at 2 x 25,600, 2**22 as fast as 2**20, 2**18 20 % slower).
CPU_SLICE_VALUES = 2**20


def cpu_slice_steps(width: int) -> int:
    """Steps (sequences x length) in a CPU slice of activations ``width`` numbers wide."""
    return max(1, CPU_SLICE_VALUES // width)


def _at_least_float32(t: Tensor) -> Tensor:
    """``t`` in float32, or float64 if it already is: half precision overflows in exp/softplus."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


@functools.cache
def _import_mamba_ssm() -> ModuleType | None:
    """mamba-ssm's fused SSD kernels, or None when the package or its CUDA build is missing.

    Imported once per process: a failed import is not tried again on every forward pass.
    """
    try:
        return importlib.import_module("mamba_ssm.ops.triton.ssd_combined")
    except (ImportError, OSError, RuntimeError):
        return None


def _causal_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv1d`` with ``groups=channels`` and ``padding=k-1``, first L outputs, on (b, L, ch).

    The layer's ``conv1d`` with channels last: tap ``j`` of the kernel (ch, 1, k) looks
    ``k - 1 - j`` steps back. A short kernel (EEGM2: 2) is ``k`` multiply-adds over the
    sequence, which saves transposing the widest activation of the layer twice.
    """
    taps = _taps(weight, x.dtype)
    k = len(taps)
    out = x * taps[-1] if bias is None else torch.addcmul(bias.to(x.dtype), x, taps[-1])
    for back in range(1, min(k, x.shape[1])):
        out[:, back:].addcmul_(x[:, :-back], taps[k - 1 - back])
    return out


def _taps(weight: Tensor, dtype: torch.dtype) -> Tensor:
    """The depthwise kernel (ch, 1, k) as (k, ch), one contiguous row per tap: broadcasting
    a strided row over (b, L, ch) is several times slower on CPU."""
    return weight[:, 0].T.contiguous().to(dtype)


class _CausalConvSiLU(torch.autograd.Function):
    """``silu(_causal_conv(x, weight, bias))`` that keeps only its inputs for the backward
    pass (``x`` is a view of ``in_proj``'s output, alive anyway) and recomputes the rest.

    Computed in float32 at least, for half precision ``x`` too (its output feeds the scan,
    which runs in float32): element-wise arithmetic on bfloat16 is slower on CPUs, and this
    way the gradient passes are exact to float32.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        return F.silu(_causal_conv(_at_least_float32(x), weight, bias), inplace=True)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        x_in, weight, bias = ctx.saved_tensors
        x = _at_least_float32(x_in)
        taps = _taps(weight, x.dtype)  # (k, ch)
        k = len(taps)
        d_pre = _causal_conv(x, weight, bias)  # the pre-activation, needed only here: in place
        torch.ops.aten.silu_backward.grad_input(grad, d_pre, grad_input=d_pre)
        dx = d_pre * taps[-1]
        d_taps = torch.zeros_like(weight[:, 0])  # (ch, k), summed in float32 at least
        d_taps[:, -1] = (d_pre * x).sum((0, 1), dtype=d_taps.dtype)
        for back in range(1, min(k, x.shape[1])):  # tap k-1-back reads x[t - back]
            dx[:, :-back].addcmul_(d_pre[:, back:], taps[k - 1 - back])
            d_taps[:, k - 1 - back] = (d_pre[:, back:] * x[:, :-back]).sum(
                (0, 1), dtype=d_taps.dtype
            )
        d_bias = None if bias is None else d_pre.sum((0, 1), dtype=bias.dtype)
        return dx.to(x_in.dtype), d_taps[:, None], d_bias


class _GatedRMSNormLinear(torch.autograd.Function):
    """``F.linear(rmsnorm(y * silu(z)) * norm_weight, weight)``, the norm over the last axis.

    RMSNorm scales each step by one number and each channel by ``norm_weight``: the channel
    weights go into the linear layer's matrix and the per-step scale onto its (narrow)
    output, so no normalised copy of the (wide) gated activation is made. Only ``y``, ``z``,
    the per-step scale and the narrow output are kept for the backward pass, which
    recomputes the gate and works in place: at most three wide tensors at a time.

    The gate is applied in the inputs' dtype and the norm accumulated in float32 at least;
    the products with the weight matrix (and the one for its gradient) run in
    ``matmul_dtype``, the autocast dtype under autocast. The backward pass recomputes in
    float32 at least.
    """

    @staticmethod
    @without_autocast
    def forward(
        ctx: Any,
        y: Tensor,
        z: Tensor,
        norm_weight: Tensor,
        weight: Tensor,
        eps: float,
        matmul_dtype: torch.dtype,
    ) -> Tensor:
        gated = F.silu(z).mul_(y)  # (..., d_inner), in the inputs' dtype
        accumulate = torch.promote_types(gated.dtype, torch.float32)
        norm = torch.linalg.vector_norm(gated, dim=-1, keepdim=True, dtype=accumulate)
        inv_rms = torch.rsqrt(norm.square() / gated.shape[-1] + eps)  # (..., 1)
        merged = weight * norm_weight.to(weight.dtype)  # (d_model, d_inner)
        out = F.linear(gated.to(matmul_dtype), merged.to(matmul_dtype))
        out.mul_(inv_rms.to(matmul_dtype))
        ctx.save_for_backward(y, z, norm_weight, weight, inv_rms, out)
        ctx.matmul_dtype = matmul_dtype
        return out

    @staticmethod
    @without_autocast
    def backward(ctx: Any, d_out: Tensor) -> tuple[Tensor | None, ...]:
        y_in, z_in, norm_weight, weight, inv_rms, out = ctx.saved_tensors
        y, z = _at_least_float32(y_in), _at_least_float32(z_in)
        dtype, mm = y.dtype, ctx.matmul_dtype
        silu_z = F.silu(z)
        normed = (y * silu_z).mul_(inv_rms)  # rmsnorm(y * silu(z)) before its channel weights
        merged = weight * norm_weight.to(weight.dtype)
        d_merged = (d_out.flatten(0, -2).T.to(mm) @ normed.flatten(0, -2).to(mm)).to(dtype)
        d_weight = d_merged * norm_weight.to(dtype)
        d_norm_weight = (d_merged * weight.to(dtype)).sum(0)
        # normed = gated * inv_rms gives d gated = inv_rms (d_normed - normed mean(d_normed
        # normed)), and sum(d_normed * normed) = sum(d_out * out): no wide product needed.
        along = (d_out.to(dtype) * out.to(dtype)).sum(-1, keepdim=True) / normed.shape[-1]
        d_gated = (d_out.to(mm) @ merged.to(mm)).to(dtype)
        d_gated.addcmul_(normed, along, value=-1).mul_(inv_rms)
        del normed
        dz = d_gated * y
        torch.ops.aten.silu_backward.grad_input(dz, z, grad_input=dz)  # gated = y * silu(z)
        dy = d_gated.mul_(silu_z)
        return (
            dy.to(y_in.dtype),
            dz.to(z_in.dtype),
            d_norm_weight.to(norm_weight.dtype),
            d_weight.to(weight.dtype),
            None,
            None,
        )


class RMSNormGated(nn.Module):
    """RMSNorm with a SiLU gate, as in mamba-ssm (``norm(y * silu(z)) * weight`` by default).

    Parameters
    ----------
    hidden_size : int
        Size of the last axis.
    eps : float
        Added to the mean square.
    norm_before_gate : bool
        If True, ``norm(y) * weight * silu(z)`` instead.
    group_size : int or None
        The mean square is taken over groups of this many features (None: all of them).
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float = 1e-5,
        norm_before_gate: bool = False,
        group_size: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.norm_before_gate = norm_before_gate
        self.group_size = hidden_size if group_size is None else group_size
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))

    def forward(self, y: Tensor, z: Tensor | None = None) -> Tensor:
        """Normalise ``y`` (..., hidden_size), gated by ``z`` of the same shape."""
        out_dtype = y.dtype
        y = _at_least_float32(y)
        if z is not None and not self.norm_before_gate:
            y = y * F.silu(_at_least_float32(z))
        groups = y.unflatten(-1, (-1, self.group_size))
        y = (groups * torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + self.eps)).flatten(-2)
        y = y * self.weight.to(y.dtype)
        if z is not None and self.norm_before_gate:
            y = y * F.silu(_at_least_float32(z))
        return y.to(out_dtype)


class Mamba2(nn.Module):
    """Mamba-2 mixer: (batch, length, d_model) -> (batch, length, d_model).

    The arguments up to ``dtype`` are those of ``mamba_ssm.Mamba2`` (2.x), with its defaults;
    see its documentation. EEGM2 uses ``d_state=16, d_conv=2, expand=8``.

    On CPU the PyTorch path runs long inputs in slices of time whose activations hold about
    ``CPU_SLICE_VALUES`` values, passing the scan's state and the convolution's last
    ``d_conv - 1`` inputs from one slice to the next: the same outputs and gradients as in
    one pass, with the temporaries of one slice at a time.

    Parameters
    ----------
    d_model : int
        Width of the input and output.
    d_state : int
        State size N per head.
    d_conv : int
        Kernel of the causal depthwise convolution.
    conv_init : float or None
        If set, the convolution weights are drawn uniformly from [-conv_init, conv_init].
    expand : int
        ``d_inner = expand * d_model``.
    headdim : int
        Channels P per head; ``nheads = d_ssm / headdim``.
    d_ssm : int or None
        Channels that go through the SSM (default ``d_inner``); the rest form a gated MLP.
    ngroups : int
        Groups of heads that share B and C.
    A_init_range : tuple of float
        ``A`` is drawn uniformly from this range; ``A_log = log(A)``.
    D_has_hdim : bool
        One skip weight per channel instead of one per head.
    rmsnorm : bool
        Gated RMSNorm before ``out_proj`` (else a plain SiLU gate).
    norm_before_gate : bool
        Order of norm and gate in the gated RMSNorm.
    dt_min, dt_max, dt_init_floor : float
        ``dt`` is drawn log-uniformly from [dt_min, dt_max], floored, and stored as
        ``dt_bias = softplus^-1(dt)``.
    dt_limit : tuple of float
        ``dt`` is clamped to this range after the softplus.
    bias : bool
        Bias on ``in_proj`` and ``out_proj``.
    conv_bias : bool
        Bias on ``conv1d``.
    chunk_size : int
        SSD chunk length of mamba-ssm's kernels; the PyTorch scan uses at most
        ``TORCH_MAX_CHUNK`` (32) of it, for the same result with less work.
    use_mem_eff_path : bool
        With the mamba-ssm backend, fuse convolution, scan, norm and ``out_proj`` in one
        kernel call.
    layer_idx : int or None
        Accepted for compatibility (used by mamba-ssm's inference cache).
    process_group : None
        Tensor parallelism is not supported; must be None.
    sequence_parallel : bool
        Accepted for compatibility; no effect without ``process_group``.
    device, dtype
        Factory arguments for the parameters.
    backend : {"auto", "torch", "mamba_ssm"}
        ``"auto"`` runs mamba-ssm's fused Triton kernels when the input is on CUDA and
        mamba-ssm imports, else the PyTorch SSD scan. ``"mamba_ssm"`` insists on the kernels.
    bidirectional : bool
        Not in mamba-ssm or the paper. Adds a time-reversed pass with the same weights
        (weight-tied, as in Caduceus' BiMamba): ``y = f(x) + flip(f(flip(x)))``. For offline
        EEG the causal direction is a constraint, not a feature. No extra parameters.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        conv_init: float | None = None,
        expand: int = 2,
        headdim: int = 64,
        d_ssm: int | None = None,
        ngroups: int = 1,
        A_init_range: tuple[float, float] = (1, 16),
        D_has_hdim: bool = False,
        rmsnorm: bool = True,
        norm_before_gate: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_limit: tuple[float, float] = (0.0, float("inf")),
        bias: bool = False,
        conv_bias: bool = True,
        chunk_size: int = 256,
        use_mem_eff_path: bool = True,
        layer_idx: int | None = None,
        process_group: Any = None,
        sequence_parallel: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        backend: Backend = "auto",
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if process_group is not None:
            raise ValueError("process_group (tensor parallelism) is not supported; pass None.")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
        factory = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.d_ssm = self.d_inner if d_ssm is None else d_ssm
        self.ngroups = ngroups
        if self.d_ssm % headdim:
            raise ValueError(f"d_ssm ({self.d_ssm}) must be a multiple of headdim ({headdim}).")
        self.nheads = self.d_ssm // headdim
        if self.nheads % ngroups:
            raise ValueError(f"nheads ({self.nheads}) must be a multiple of ngroups ({ngroups}).")
        self.D_has_hdim = D_has_hdim
        self.rmsnorm = rmsnorm
        self.norm_before_gate = norm_before_gate
        self.dt_limit = dt_limit
        self.chunk_size = chunk_size
        self.use_mem_eff_path = use_mem_eff_path
        self.layer_idx = layer_idx
        self.backend = backend
        self.bidirectional = bidirectional

        # Parameters are created in mamba-ssm's order, so one seed gives the same weights.
        # in_proj output order: [z, x, B, C, dt] (plus [z0, x0] in front when d_ssm < d_inner).
        d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias, **factory)
        conv_dim = self.d_ssm + 2 * ngroups * d_state
        self.conv1d = nn.Conv1d(
            conv_dim,
            conv_dim,
            d_conv,
            groups=conv_dim,
            padding=d_conv - 1,
            bias=conv_bias,
            **factory,
        )
        if conv_init is not None:
            nn.init.uniform_(self.conv1d.weight, -conv_init, conv_init)

        log_dt = torch.rand(self.nheads, **factory) * (math.log(dt_max) - math.log(dt_min))
        dt = torch.clamp(torch.exp(log_dt + math.log(dt_min)), min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        A = torch.empty(self.nheads, dtype=torch.float32, device=device).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A).to(dtype=dtype))
        self.D = nn.Parameter(torch.ones(self.d_ssm if D_has_hdim else self.nheads, device=device))
        for name in ("dt_bias", "A_log", "D"):  # mamba-ssm's marker: no weight decay on these
            getattr(self, name)._no_weight_decay = True
        if rmsnorm:
            self.norm = RMSNormGated(
                self.d_ssm, 1e-5, norm_before_gate, self.d_ssm // ngroups, **factory
            )
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    def forward(self, u: Tensor) -> Tensor:
        """Mix ``u`` (batch, length, d_model) along time; returns the same shape."""
        out = self._directional_forward(u)
        if self.bidirectional:
            out = out + self._directional_forward(u.flip(1)).flip(1)
        return out

    def _directional_forward(self, u: Tensor) -> Tensor:
        kernels = self._kernels(u)
        if kernels is not None and self.use_mem_eff_path:
            return self._fused_forward(kernels, u)
        length = u.shape[1]
        steps = length
        if kernels is None and u.device.type == "cpu":  # slices of time, a whole chunk each
            steps = max(TORCH_MAX_CHUNK, cpu_slice_steps(len(u) * self.d_inner))
            steps -= steps % TORCH_MAX_CHUNK
        outs, state = [], None
        for start in range(0, length, steps):
            context = min(start, self.d_conv - 1)  # the convolution looks this far back
            piece = u[:, start - context : start + steps]
            out, state = self._unfused_forward(kernels, piece, context, state)
            outs.append(out)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _unfused_forward(
        self, kernels: ModuleType | None, u: Tensor, context: int, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """The layer on ``u`` (b, context + L, d_model), whose first ``context`` steps are
        only seen by the convolution, from the scan's state ``state`` (b, h, p, n) or zeros;
        returns (b, L, d_model) and the state after the last step (None with mamba-ssm)."""
        xBC = _CausalConvSiLU.apply(self._in_proj(u, "xBC"), self.conv1d.weight, self.conv1d.bias)
        xBC, u = xBC[:, context:], u[:, context:]
        dt = self._in_proj(u, "dt")
        x, B, C = torch.split(
            xBC, [self.d_ssm, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1
        )
        A = -torch.exp(_at_least_float32(self.A_log))  # (h,)
        x = x.unflatten(-1, (self.nheads, self.headdim))  # (b, L, h, p)
        B = B.unflatten(-1, (self.ngroups, self.d_state))  # (b, L, g, n)
        C = C.unflatten(-1, (self.ngroups, self.d_state))
        if kernels is not None:
            y = kernels.mamba_chunk_scan_combined(
                x, dt, A, B, C, chunk_size=self.chunk_size, D=self._D_per_head(),
                dt_bias=self.dt_bias, dt_softplus=True, **self._dt_limit_kwargs(),
            )  # fmt: skip
        else:
            dt = F.softplus(_at_least_float32(dt) + self.dt_bias)
            dt = dt.clamp(*self.dt_limit) if self._dt_limit_kwargs() else dt
            chunk = min(self.chunk_size, TORCH_MAX_CHUNK)
            y, state = ssd_scan(x, dt, A, B, C, chunk, state, return_final_state=True)
        y = y.flatten(-2)  # (b, L, d_ssm)
        if kernels is None:  # the skip D, with one weight per channel (broadcast is slow)
            D = self.D if self.D_has_hdim else self.D.repeat_interleave(self.headdim)
            y = torch.addcmul(y, x.flatten(-2), D.to(y.dtype))
        z = self._in_proj(u, "z")  # only now: the gate's activation and gradient live shorter
        d_mlp = self.d_inner - self.d_ssm  # gated-MLP channels beside the SSM (0 by default)
        if d_mlp == 0 and self.rmsnorm and self.ngroups == 1 and not self.norm_before_gate:
            return self._gated_norm_out_proj(y, z), state
        y = self.norm(y, z) if self.rmsnorm else y * F.silu(z)
        if d_mlp > 0:
            y = torch.cat([F.silu(self._in_proj(u, "z0")) * self._in_proj(u, "x0"), y], dim=-1)
        return self.out_proj(y), state

    def _in_proj(self, u: Tensor, part: str) -> Tensor:
        """One part of ``in_proj(u)``, whose output is [z0, x0, z, xBC, dt] along the last axis.

        A product per part: each part exists only while it is used, and the backward pass adds
        up the parts' input gradients instead of first filling a gradient as wide as the whole
        output (``2 * d_inner + ...``).
        """
        d_mlp = self.d_inner - self.d_ssm
        widths = {
            "z0": d_mlp,
            "x0": d_mlp,
            "z": self.d_ssm,
            "xBC": self.d_ssm + 2 * self.ngroups * self.d_state,
            "dt": self.nheads,
        }
        start = 0
        for name, width in widths.items():
            if name == part:
                break
            start += width
        rows = slice(start, start + widths[part])
        bias = None if self.in_proj.bias is None else self.in_proj.bias[rows]
        return F.linear(u, self.in_proj.weight[rows], bias)

    def _gated_norm_out_proj(self, y: Tensor, z: Tensor) -> Tensor:
        """``out_proj(norm(y, z))`` for a norm over all of ``d_ssm`` (one group), gate first."""
        bias = self.out_proj.bias
        device = y.device.type
        autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        out = _GatedRMSNormLinear.apply(
            y, z, self.norm.weight, self.out_proj.weight, self.norm.eps, autocast or y.dtype
        )
        return out if bias is None else out + bias

    def _fused_forward(self, kernels: ModuleType, u: Tensor) -> Tensor:
        """mamba-ssm's single fused kernel: conv, scan, gated norm and out_proj."""
        return kernels.mamba_split_conv1d_scan_combined(
            self.in_proj(u),
            self.conv1d.weight.squeeze(1),
            self.conv1d.bias,
            self.dt_bias,
            -torch.exp(self.A_log.float()),
            D=self._D_per_head(),
            chunk_size=self.chunk_size,
            activation="silu",
            rmsnorm_weight=self.norm.weight if self.rmsnorm else None,
            rmsnorm_eps=self.norm.eps if self.rmsnorm else 1e-6,
            outproj_weight=self.out_proj.weight,
            outproj_bias=self.out_proj.bias,
            headdim=None if self.D_has_hdim else self.headdim,
            ngroups=self.ngroups,
            norm_before_gate=self.norm_before_gate,
            **self._dt_limit_kwargs(),
        )

    def _D_per_head(self) -> Tensor:
        """D in the layout mamba-ssm's kernels take: (h, p) per channel, else (h,)."""
        if self.D_has_hdim:
            return self.D.view(self.nheads, self.headdim)
        return self.D

    def _dt_limit_kwargs(self) -> dict[str, tuple[float, float]]:
        return {} if tuple(self.dt_limit) == (0.0, float("inf")) else {"dt_limit": self.dt_limit}

    def _kernels(self, u: Tensor) -> ModuleType | None:
        """mamba-ssm's kernels when this call should use them, else None (the PyTorch path)."""
        if self.backend == "torch":
            return None
        kernels = _import_mamba_ssm() if u.is_cuda else None
        if self.backend == "mamba_ssm" and kernels is None:
            if not u.is_cuda:
                raise RuntimeError(
                    "backend='mamba_ssm' needs the input on a CUDA device; move the module and "
                    "input to CUDA, or use backend='auto' (falls back to PyTorch on CPU)."
                )
            raise RuntimeError(
                "backend='mamba_ssm' needs mamba-ssm with its CUDA build: "
                "pip install 'sk_eegm2[cuda]' (mamba-ssm>=2.2, triton) on a machine with CUDA, "
                "or use backend='auto'/'torch' for the pure-PyTorch scan."
            )
        return kernels
