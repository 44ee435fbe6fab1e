"""The Mamba-2 scan in pure PyTorch: the chunked state space duality (SSD) algorithm.

For every head the layer runs the scalar-decay linear recurrence

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        h_t: (headdim, d_state)
    y_t = h_t C_t

SSD computes it chunk by chunk (Dao & Gu, "Transformers are SSMs", ICML 2024): inside a
chunk of ``l`` steps the recurrence is a masked ``l x l`` matrix product (fast on matmul
hardware), and a single state per chunk carries the past from one chunk to the next. Cost
and memory are ``O(L * l)``: linear in the sequence length ``L`` for a fixed chunk.

Inside a chunk the decay from step ``s`` to step ``l`` is ``exp(cs_l - cs_s)``, with ``cs``
the cumulative log decay. The textbook form (``ssd_minimal`` in mamba-ssm) builds
that ``l x l`` matrix for every head, which costs as much memory traffic as the matrix
product itself. Here it is factored through a reference ``m`` in the middle of each chunk,
``exp(cs_l - m) * exp(m - cs_s)``: the first factor scales the output rows, the second the
inputs, and what is left, the masked ``C_l . B_s``, is shared by all heads of a group, so
the intra-chunk part is one matrix product over ``heads * headdim`` columns. Every factor
stays within ``exp(+-max_exponent)`` because the scan shortens the chunk for inputs that
decay by more than ``exp(-2 * max_exponent)`` within one. Each factor comes from the
cumulative sum in float64, so float32 results are as exact as with the textbook form.

The backward pass is written out and recomputes what it needs from the inputs: the scan
keeps only its inputs and one state per chunk for autograd. Only the gradient of the decays
looks at single heads: it sums each pair of steps' own contribution, as the textbook form
does, since the difference of the two factors' gradients would cancel in float32.

Shapes: b batch, L length, c chunks, l/s chunk positions, h heads, g groups (heads share
B and C within a group), r = h / g heads per group, p headdim, n d_state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Chunked SSD scan, computed in at least float32.

    Autocast does not reach inside: under ``torch.autocast`` the scan still runs in float32
    (its decays need the range), and returns the dtype of ``x``.

    Parameters
    ----------
    x : Tensor, shape (b, L, h, p)
        Input per head.
    dt : Tensor, shape (b, L, h)
        Positive step sizes (after softplus).
    A : Tensor, shape (h,)
        Negative decay rates, one scalar per head.
    B, C : Tensor, shape (b, L, g, n)
        Input and output projections of the state, shared by the ``h / g`` heads of a group.
    chunk_size : int
        Chunk length ``l``. Any ``L`` works: the tail is padded with ``dt = 0`` steps, which
        neither decay nor feed the state, and cut off again. Where the log decay within a
        chunk spans more than ``2 * max_exponent`` (80 in float32), the chunk is halved
        until it does not; the result is the same for any chunk length.
    initial_state : Tensor, shape (b, h, p, n), optional
        The state before the first step (mamba-ssm's ``initial_states``); zeros if None.
    return_final_state : bool
        Also return the state after the last step, from which a scan of the next steps
        continues: scanning a sequence in pieces gives the same outputs and gradients.

    Returns
    -------
    y : Tensor, shape (b, L, h, p), in the dtype of ``x``.
    final_state : Tensor, shape (b, h, p, n), in float32 at least
        Only with ``return_final_state``.
    """
    y, final_state = _SSDScan.apply(x, dt, A, B, C, initial_state, chunk_size)
    return (y, final_state) if return_final_state else y


def _max_exponent(dtype: torch.dtype) -> float:
    """Bound on ``|cs - m|``: ``exp`` of it times any sane activation stays finite and normal.

    float32 overflows past ``exp(88)``; ``exp(40) = 2.4e17`` leaves 21 orders of magnitude
    for the values it multiplies, and ``exp(-40)`` as many above the smallest normal number.
    """
    return 300.0 if dtype == torch.float64 else 40.0


def _stable_chunk(a: Tensor, chunk_size: int, max_exponent: float) -> int:
    """The longest chunk, ``chunk_size / 2**k``, over which no log decay spans more than
    ``2 * max_exponent``, so that ``|cs - m| <= max_exponent`` with ``m`` halfway.

    ``a`` (b, L, h) is the log decay per step. A chunk's ``cs`` spans ``-(a_1 + ... +
    a_{l-1})``: its first step's decay is in every ``cs`` of the chunk alike. The longest
    chunk is checked first (it almost always holds), then all shorter ones at once: one
    synchronisation (one graph break under ``torch.compile``), at most two.
    """
    b, length, h = a.shape
    candidates = [max(1, min(chunk_size, length))]
    while candidates[-1] > 1:
        candidates.append(candidates[-1] // 2)

    def stable(chunks: list[int]) -> list[bool]:
        spans = [
            F.pad(a, (0, 0, 0, -length % chunk)).view(b, -1, chunk, h)[:, :, 1:].sum(2).min()
            for chunk in chunks
        ]
        return (torch.stack(spans) >= -2 * max_exponent).tolist()

    if len(candidates) == 1 or stable(candidates[:1])[0]:
        return candidates[0]
    shorter = candidates[1:-1]  # a chunk of one step spans nothing
    if not shorter:
        return 1
    return next((c for c, ok in zip(shorter, stable(shorter), strict=True) if ok), 1)


def without_autocast(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run an autograd function's ``forward(ctx, t, ...)`` or ``backward(ctx, t, ...)`` with
    autocast off on ``t``'s device: the function casts its inputs itself (the scan to float32
    at least), and autocast would otherwise recast its matmuls to half precision, in the
    forward pass and again in a backward pass run inside the autocast region.
    """

    @functools.wraps(method)
    def wrapper(ctx: Any, first: Tensor, *args: Any) -> Any:
        with torch.autocast(first.device.type, enabled=False):
            return method(ctx, first, *args)

    return wrapper


class _Grid:
    """One chunking of the sequence, and the layouts the scan moves between.

    Natural tensors are (b, Lp, h, p) with ``Lp = c * l``, i.e. (b, c, l, g, r, p). The
    batched products over all heads take group-major matrices (b*c*g, l, r*p): for each chunk
    and group, the chunk's steps as rows and the group's heads side by side as columns. With
    one group (Mamba-2's default) both are the same memory. Products for a single head take
    (b*c, l, p) views of either.
    """

    def __init__(self, x: Tensor, B: Tensor, chunk: int) -> None:
        self.b, self.L, self.h, self.p = x.shape
        self.g, self.n = B.shape[-2:]
        self.r = self.h // self.g
        self.l = chunk
        self.pad = -self.L % chunk
        self.c = (self.L + self.pad) // chunk

    def pad_time(self, t: Tensor) -> Tensor:
        """(b, L, ...) -> (b, Lp, ...), zeros after the end."""
        return F.pad(t, (0, 0) * (t.dim() - 2) + (0, self.pad)) if self.pad else t

    def chunked(self, t: Tensor) -> Tensor:
        """Per-step, per-head values (b, Lp, h) as (b, c, l, h)."""
        return t.view(self.b, self.c, self.l, self.h)

    def group_major(self, t: Tensor) -> Tensor:
        """(b, Lp, g, n) -> (b*c*g, l, n)."""
        b, c, g, l, n = self.b, self.c, self.g, self.l, self.n  # noqa: E741
        return t.view(b, c, l, g, n).transpose(2, 3).reshape(b * c * g, l, n)

    def from_group_major(self, t: Tensor) -> Tensor:
        """(b*c*g, l, n) -> (b, L, g, n)."""
        b, c, g, l, n = self.b, self.c, self.g, self.l, self.n  # noqa: E741
        return t.view(b, c, g, l, n).transpose(2, 3).reshape(b, c * l, g, n)[:, : self.L]

    def scaled(self, t: Tensor, scale: Tensor) -> Tensor:
        """Natural ``t`` (b, Lp, h, p) times a per-step, per-head ``scale`` (b, Lp, h),
        written group-major: (b*c*g, l, r*p)."""
        b, c, l, g, r, p = self.b, self.c, self.l, self.g, self.r, self.p  # noqa: E741
        out = scale.new_empty(b, c, g, l, r, p)  # in the scale's dtype, whatever t's is
        steps = t.view(b, c, l, g, r, p).transpose(2, 3)
        torch.mul(steps, scale.view(b, c, l, g, r, 1).transpose(2, 3), out=out)
        return out.view(b * c * g, l, r * p)

    def scale_rows_(self, t: Tensor, scale: Tensor, other: Tensor | None = None) -> Tensor:
        """``t *= scale``, or ``t += other * scale`` with ``other``, in place on group-major
        (b*c*g, l, r*p) tensors; ``scale`` (b, Lp, h) per step and head."""
        b, c, l, g, r, p = self.b, self.c, self.l, self.g, self.r, self.p  # noqa: E741
        per_row = scale.view(b, c, l, g, r).transpose(2, 3).reshape(b * c * g, l, r, 1)
        if other is None:
            t.view(-1, l, r, p).mul_(per_row)
        else:
            t.view(-1, l, r, p).addcmul_(other.view(-1, l, r, p), per_row)
        return t

    def natural(self, t: Tensor) -> Tensor:
        """Group-major (b*c*g, l, r*p) -> natural (b, L, h, p); a view where g = 1."""
        b, c, l, g, r, p = self.b, self.c, self.l, self.g, self.r, self.p  # noqa: E741
        steps = t.view(b, c, g, l, r, p).transpose(2, 3)
        return steps.reshape(b, c * l, g * r, p)[:, : self.L]

    def states(self, t: Tensor) -> Tensor:
        """Per-chunk states (b*c*g, n, r*p) as (b, c, g, n, r, p)."""
        return t.view(self.b, self.c, self.g, self.n, self.r, self.p)

    def to_state_layout(self, t: Tensor) -> Tensor:
        """A state (b, h, p, n) as one chunk's state, (b, g, n, r, p)."""
        b, g, r, p, n = self.b, self.g, self.r, self.p, self.n
        return t.view(b, g, r, p, n).permute(0, 1, 4, 2, 3)

    def from_state_layout(self, t: Tensor) -> Tensor:
        """One chunk's state (b, g, n, r, p) as (b, h, p, n)."""
        return t.permute(0, 1, 3, 4, 2).reshape(self.b, self.h, self.p, self.n)

    def per_state(self, t: Tensor) -> Tensor:
        """A per-chunk, per-head value (b, c, h) that broadcasts against :meth:`states`."""
        return t.view(self.b, self.c, self.g, 1, self.r, 1)

    def state_dot(self, u: Tensor, v: Tensor) -> Tensor:
        """Per-chunk, per-head inner products of two state tensors: (b, c, h)."""
        return (self.states(u) * self.states(v)).sum((3, 5)).view(self.b, self.c, self.h)

    def group(self, t: Tensor, group: int) -> Tensor:
        """Group ``group`` of a (b*c*g, ...) tensor as a (b*c, ...) view."""
        return t.view(self.b, self.c, self.g, *t.shape[1:])[:, :, group].flatten(0, 1)

    def head(self, t: Tensor, group: int, j: int, layout: str) -> Tensor:
        """Head ``j`` of group ``group`` as a (b*c, rows, p) view, from a natural tensor (rows
        l), a group-major one (rows l) or per-chunk states (rows n)."""
        b, c, l, g, r, p, n = self.b, self.c, self.l, self.g, self.r, self.p, self.n  # noqa: E741
        if layout == "natural":
            return t.view(b, c, l, g, r, p)[:, :, :, group, j].flatten(0, 1)
        rows = l if layout == "group_major" else n
        return t.view(b, c, g, rows, r, p)[:, :, group, :, j].flatten(0, 1)


class _Decays:
    """Per-step decay factors of one chunking, from the cumulative log decay in float64.

    In float64 ``cs - m`` keeps every digit that the compute dtype can hold, so each factor
    is exact up to one rounding. All are (b, Lp, h) unless said otherwise.

    Attributes
    ----------
    to_ref : exp(cs_l - m), the output rows of the intra-chunk product.
    from_ref : exp(m - cs_s), its inputs and those of the chunk's own state.
    from_start : exp(cs_l), the decay of the state entering the chunk by step l.
    end_to_ref : (b, c, h) exp(cs_{l-1} - m), the chunk's own state at its end.
    through : (b, c, h) exp(cs_{l-1}), the decay across the chunk.
    """

    def __init__(self, grid: _Grid, dt: Tensor, A: Tensor) -> None:
        cs = grid.chunked(dt.double() * A.double()).cumsum(2)  # (b, c, l, h)
        ref = 0.5 * (cs[:, :, :1] + cs[:, :, -1:])  # m: halfway through the chunk's decay
        to_ref = torch.exp(cs - ref).to(dt.dtype)
        from_start = torch.exp(cs).to(dt.dtype)
        self.end_to_ref = to_ref[:, :, -1]
        self.through = from_start[:, :, -1]
        self.to_ref = to_ref.view_as(dt)
        self.from_ref = torch.exp(ref - cs).to(dt.dtype).view_as(dt)
        self.from_start = from_start.view_as(dt)


class _SSDScan(torch.autograd.Function):
    """:func:`ssd_scan` with a hand-written backward that recomputes the intra-chunk parts.

    Takes the initial state ``H_0`` (or None: zeros); returns the output and ``H_c``.

    Per chunk and group (chunk index k dropped where it is the same everywhere), with the
    scaled inputs ``xs_s = q_s x_s``, ``q_s = dt_s exp(m - cs_s)``:

        Z = tril(C B^T) @ xs                      (l, r*p): intra-chunk, before row scales
        S_k = exp(cs_{l-1} - m) B^T @ xs          (n, r*p): the chunk's own final state
        H_{k+1} = exp(cs_{l-1}) H_k + S_k         the state entering chunk k+1
        y_l = exp(cs_l - m) Z_l + exp(cs_l) C_l H_k

    The per-head factors scale rows (broadcast over ``p``, or over ``n`` and ``p``), so the
    products over all heads are plain batched matmuls with ``r * p`` columns. Autograd keeps
    the inputs and the states H (``n / l`` of the input's size).
    """

    @staticmethod
    @without_autocast
    def forward(
        ctx: Any,
        x: Tensor,
        dt: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        initial: Tensor | None,
        chunk_size: int,
    ) -> tuple[Tensor, Tensor]:
        ctx.dtypes = (x.dtype, dt.dtype, A.dtype, B.dtype, C.dtype)
        ctx.initial_dtype = None if initial is None else initial.dtype
        inputs = (x, dt, A, B, C)  # kept as given for the backward pass: half stays half
        dtype = torch.promote_types(x.dtype, torch.float32)
        chunk = _stable_chunk(dt.double() * A.double(), chunk_size, _max_exponent(dtype))
        grid = _Grid(x, B, chunk)
        x = grid.pad_time(x)  # read in its own dtype by the scaling below
        dt, B, C = (grid.pad_time(t.to(dtype)) for t in (dt, B, C))
        decays = _Decays(grid, dt, A)
        Bg, Cg = grid.group_major(B), grid.group_major(C)  # (b*c*g, l, n)

        xs = grid.scaled(x, dt * decays.from_ref)  # (b*c*g, l, r*p)
        CB = torch.bmm(Cg, Bg.transpose(1, 2)).tril_()  # (b*c*g, l, s): causal in the chunk
        y = grid.scale_rows_(torch.bmm(CB, xs), decays.to_ref)

        own = torch.bmm(Bg.transpose(1, 2), xs)  # (b*c*g, n, r*p)
        del xs
        grid.states(own).mul_(grid.per_state(decays.end_to_ref))
        states = torch.zeros_like(own)  # H_k
        own_k, states_k = grid.states(own), grid.states(states)
        if initial is not None:
            states_k[:, 0] = grid.to_state_layout(initial)
        through = grid.per_state(decays.through)
        for k in range(grid.c - 1):  # the only sequential part: c steps of (b, g, n, r, p)
            torch.addcmul(own_k[:, k], states_k[:, k], through[:, k], out=states_k[:, k + 1])
        final = torch.addcmul(own_k[:, -1], states_k[:, -1], through[:, -1])  # H_c
        grid.scale_rows_(y, decays.from_start, other=torch.bmm(Cg, states))

        ctx.save_for_backward(*inputs, states)
        ctx.grid = grid
        return grid.natural(y).to(ctx.dtypes[0]), grid.from_state_layout(final)

    @staticmethod
    @without_autocast
    def backward(ctx: Any, dy: Tensor, d_final: Tensor) -> tuple[Tensor | None, ...]:
        x, dt, A, B, C, states = ctx.saved_tensors
        grid: _Grid = ctx.grid
        dtype = torch.promote_types(x.dtype, torch.float32)
        x, dt, B, C = (grid.pad_time(t.to(dtype)) for t in (x, dt, B, C))
        b, c, l, g, r, h = grid.b, grid.c, grid.l, grid.g, grid.r, grid.h  # noqa: E741
        decays = _Decays(grid, dt, A)
        Bg, Cg = grid.group_major(B), grid.group_major(C)
        q = dt * decays.from_ref  # (b, Lp, h)
        CB = torch.bmm(Cg, Bg.transpose(1, 2)).tril_()

        # The output's two terms with their row scales taken into the gradient:
        # dZ_l = exp(cs_l - m) dy_l and dE_l = exp(cs_l) dy_l for E_l = C_l H_k.
        dy = grid.pad_time(dy.to(x.dtype))
        dZ = grid.scaled(dy, decays.to_ref)  # (b*c*g, l, r*p)
        dE = grid.scaled(dy, decays.from_start)

        # Back through H_{k+1} = through_k H_k + S_k from the final state H_c: d_states[k]
        # becomes dL/dH_k in full.
        d_final = grid.to_state_layout(d_final.to(dtype))  # (b, g, n, r, p)
        d_states = torch.bmm(Cg.transpose(1, 2), dE)  # (b*c*g, n, r*p)
        d_states_k = grid.states(d_states)
        through = grid.per_state(decays.through)
        d_states_k[:, -1].addcmul_(d_final, through[:, -1])
        for k in range(grid.c - 2, -1, -1):
            d_states_k[:, k].addcmul_(d_states_k[:, k + 1], through[:, k])
        dP = torch.empty_like(d_states)  # S_k feeds H_{k+1}, the last one H_c
        grid.states(dP)[:, :-1] = d_states_k[:, 1:]
        grid.states(dP)[:, -1] = d_final
        d_through = grid.state_dot(dP, states) * decays.through  # d cs_{l-1}: (b, c, h)
        grid.states(dP).mul_(grid.per_state(decays.end_to_ref))  # now d(B^T @ xs)

        # Terms of single heads. For the log decays a = dt * A each gradient is summed from
        # its own pieces, never as a difference of two sums (which cancels in float32):
        # exp(cs_l) holds a_i for i <= l, the decay w_s = exp(cs_{l-1} - cs_s) of input s
        # into the chunk's state holds a_i for i > s, and the intra-chunk decay from s to l
        # holds a_i for s < i <= l, so a_{k+1} collects the pairs s <= k < l.
        later = torch.ones(l, l, dtype=torch.bool, device=x.device).triu(1)[:-1]  # (s, l)
        dq = x.new_empty(b, c, l, h)  # d q_s = d xs_s . x_s
        d_log_w = x.new_empty(b, c, l, h)
        d_from_start = x.new_empty(b, c, l, h)
        d_pairs = x.new_zeros(b, c, l, h)  # intra-chunk, a_{k+1} at k + 1
        d_CB_t = torch.zeros_like(CB)  # (b*c*g, s, l), summed over the heads
        dB = torch.zeros_like(Bg)
        q_steps = grid.chunked(q)
        for group in range(g):
            CB_t = grid.group(CB, group).transpose(1, 2)  # (b*c, s, l)
            Bk, Ck = grid.group(Bg, group), grid.group(Cg, group)  # (b*c, l, n)
            for j in range(r):
                head = group * r + j
                x_h = grid.head(x, group, j, "natural")  # (b*c, l, p)
                dZ_h = grid.head(dZ, group, j, "group_major")
                q_h = q_steps[..., head].reshape(b * c, l, 1)
                pairs = torch.bmm(x_h, dZ_h.transpose(1, 2))  # (b*c, s, l): x_s . dZ_l
                grid.group(d_CB_t, group).addcmul_(pairs, q_h)
                pairs.mul_(CB_t)
                intra = pairs.sum(-1)  # (b*c, s)
                pairs = pairs.mul_(q_h).cumsum(1)[:, :-1].mul_(later)  # prefix sums over s
                d_pairs[:, :, 1:, head] = pairs.sum(-1).view(b, c, l - 1)
                H_h, dP_h = (grid.head(t, group, j, "states") for t in (states, dP))
                W = torch.bmm(grid.head(dE, group, j, "group_major"), H_h.transpose(1, 2))
                d_from_start[..., head] = torch.linalg.vecdot(W, Ck).view(b, c, l)
                V = torch.bmm(x_h, dP_h.transpose(1, 2))  # (b*c, l, n): x_s . dP
                grid.group(dB, group).addcmul_(V, q_h)
                state = torch.linalg.vecdot(V, Bk)
                dq[..., head] = (intra + state).view(b, c, l)
                d_log_w[..., head] = (state * q_h[..., 0]).view(b, c, l)

        d_CB = d_CB_t.transpose(1, 2).tril_()  # (b*c*g, l, s)
        dB.baddbmm_(d_CB.transpose(1, 2), Cg)
        dC = torch.bmm(d_CB, Bg).baddbmm_(dE, states.transpose(1, 2))
        del dE, d_CB_t, d_CB
        # xs_s = q_s x_s: d x_s = q_s d xs_s, with d xs = CB^T @ dZ + B @ dP.
        dx = grid.scale_rows_(torch.bmm(CB.transpose(1, 2), dZ).baddbmm_(Bg, dP), q)
        del dZ

        d_from_start[:, :, -1] += d_through
        da = d_from_start.double().flip(2).cumsum(2).flip(2)
        da[:, :, 1:] += d_log_w.double().cumsum(2)[:, :, :-1]
        da += d_pairs.double()
        da = da.view_as(dt)  # (b, Lp, h), float64
        d_dt = dq.view_as(dt) * decays.from_ref + (da * A.double()).to(dt.dtype)
        dA = (da * dt.double()).sum((0, 1))

        x_dtype, dt_dtype, A_dtype, B_dtype, C_dtype = ctx.dtypes
        d_initial = None
        if ctx.initial_dtype is not None:
            d_initial = grid.from_state_layout(d_states_k[:, 0]).to(ctx.initial_dtype)
        return (
            grid.natural(dx).to(x_dtype),
            d_dt[:, : grid.L].to(dt_dtype),
            dA.to(A_dtype),
            grid.from_group_major(dB).to(B_dtype),
            grid.from_group_major(dC).to(C_dtype),
            d_initial,
            None,
        )
