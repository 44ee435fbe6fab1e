"""The Mamba-2 scan in pure PyTorch: the chunked state space duality (SSD) algorithm.

For every head the layer runs the scalar-decay linear recurrence

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        h_t: (headdim, d_state)
    y_t = h_t C_t

SSD computes it chunk by chunk (Dao & Gu, "Transformers are SSMs", ICML 2024): inside a
chunk of ``l`` steps the recurrence is a masked ``l x l`` matrix product (fast on matmul
hardware), and a single state per chunk carries the past from one chunk to the next. Cost
and memory are ``O(L * l)``: linear in the sequence length ``L`` for a fixed chunk.

Shapes: b batch, L length, c chunks, l/s chunk positions, h heads, g groups (heads share
B and C within a group), r = h / g heads per group, p headdim, n d_state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def segment_sum(a: Tensor) -> Tensor:
    """Sums of ``a`` over every segment ``(s, l]`` of the last axis, ``-inf`` above the diagonal.

    ``out[..., l, s] = a[..., s+1] + ... + a[..., l]`` for ``s <= l``. Each sum is accumulated
    directly rather than as a difference of two long cumulative sums, which would lose
    float32 precision when the decay over a chunk is large.

    Parameters
    ----------
    a : Tensor, shape (..., l)

    Returns
    -------
    Tensor, shape (..., l, l)
    """
    length = a.shape[-1]
    # Row l, column s holds a[l] for l > s, 0 elsewhere; a cumsum down the rows then adds
    # a[s+1] .. a[l] into (l, s).
    strictly_lower = torch.ones(length, length, dtype=torch.bool, device=a.device).tril(-1)
    below = a[..., :, None].expand(*a.shape, length).masked_fill(~strictly_lower, 0.0)
    sums = torch.cumsum(below, dim=-2)
    lower = torch.ones(length, length, dtype=torch.bool, device=a.device).tril()
    return sums.masked_fill(~lower, -torch.inf)


def ssd_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int) -> Tensor:
    """Chunked SSD scan (zero initial state), computed in at least float32.

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
        neither decay nor feed the state, and cut off again.

    Returns
    -------
    Tensor, shape (b, L, h, p), in the dtype of ``x``.
    """
    out_dtype = x.dtype
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, dt, A, B, C = (t.to(dtype) for t in (x, dt, A, B, C))
    b, L, h, p = x.shape
    g, n = B.shape[-2:]
    r = h // g
    pad = -L % chunk_size
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c, l = (L + pad) // chunk_size, chunk_size  # noqa: E741 (l: chunk position, as in the paper)

    x_dt = (x * dt[..., None]).reshape(b, c, l, g, r, p)  # input scaled by its step size
    a = (dt * A).reshape(b, c, l, g, r).permute(0, 3, 4, 1, 2)  # (b, g, r, c, l) log decay
    B = B.reshape(b, c, l, g, n)
    C = C.reshape(b, c, l, g, n)

    # 1. Within each chunk: y_l = sum_{s <= l} (C_l . B_s) exp(a_{s+1} + ... + a_l) x_s dt_s.
    decay = torch.exp(segment_sum(a))  # (b, g, r, c, l, s)
    scores = torch.einsum("bclgn,bcsgn->bgcls", C, B)[:, :, None] * decay
    y = torch.einsum("bgrcls,bcsgrp->bclgrp", scores, x_dt)

    # 2. The state each chunk leaves behind from its own inputs, decayed to the chunk's end.
    #    A reversed cumulative sum gives a_{s+1} + ... + a_{l-1} without cancellation.
    to_end = torch.flip(torch.cumsum(torch.flip(a, [-1]), -1), [-1]) - a
    chunk_states = torch.einsum("bclgn,bgrcl,bclgrp->bcgrpn", B, torch.exp(to_end), x_dt)

    # 3. Pass states from chunk to chunk: a recurrence over c steps, linear in L.
    chunk_decay = torch.exp(a.sum(-1))  # (b, g, r, c)
    state = torch.zeros_like(chunk_states[:, 0])  # (b, g, r, p, n)
    entering = []
    for k in range(c):
        entering.append(state)
        state = state * chunk_decay[..., k, None, None] + chunk_states[:, k]
    states = torch.stack(entering, dim=1)  # (b, c, g, r, p, n): state before each chunk

    # 4. What the state entering a chunk adds to its outputs, decayed to each position.
    from_start = torch.exp(torch.cumsum(a, dim=-1))  # (b, g, r, c, l)
    y = y + torch.einsum("bclgn,bcgrpn,bgrcl->bclgrp", C, states, from_start)
    return y.reshape(b, c * l, h, p)[:, :L].to(out_dtype)
