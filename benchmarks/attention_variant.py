"""EEGM2-S5: the EEGM2 U-Net with 4-head self-attention in place of each Mamba-2 block.

The paper's ablation (Hong et al. 2025, Table 6) replaces every Mamba block by
``LayerNorm(x + MultiheadAttention(x, x, x))`` (post-norm, 4 heads); it ran out of memory at
100 s of EEG. This module builds that network from :class:`sk_eegm2.nn.EEGM2` by swapping
the blocks, so everything else (embedding, convolutions, pooling, skips) is the same code.

Two ways to run the attention: ``fused=False`` is the paper's ``mha(x, x, x)``, which returns
the (B, T, T) attention weights and so materialises them; ``fused=True`` computes the same
function with :func:`torch.nn.functional.scaled_dot_product_attention` (flash attention on
CPU and CUDA: memory linear in T, time still quadratic). The fused path calls it directly
because ``MultiheadAttention`` in inference takes its own fast path, which on CPU builds
the attention matrix too.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sk_eegm2.nn import EEGM2, MambaBlock


class AttentionBlock(nn.Module):
    """``LayerNorm(x + MultiheadAttention(x))`` on (B, L, d), post-norm as in EEGM2-S5.

    Dropout is off (the fused CPU kernel has none, and EEGM2 has none), so both variants
    compute the same function.
    """

    def __init__(self, d_model: int, n_heads: int = 4, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused
        self.mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over ``x`` (B, L, d)."""
        if not self.fused:
            attended, _ = self.mha(x, x, x)
            return self.norm(x + attended)
        heads = self.mha.num_heads
        qkv = F.linear(x, self.mha.in_proj_weight, self.mha.in_proj_bias)  # (B, L, 3d)
        q, k, v = qkv.unflatten(-1, (3, heads, -1)).permute(2, 0, 3, 1, 4)  # (B, heads, L, d/h)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        return self.norm(x + self.mha.out_proj(attended))


def eegm2_s5(n_chans: int, fused: bool = True, n_heads: int = 4) -> EEGM2:
    """EEGM2 with every :class:`MambaBlock` replaced by an :class:`AttentionBlock`."""
    net = EEGM2(n_chans)
    for name, module in list(net.named_modules()):
        if isinstance(module, MambaBlock):
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            setattr(parent, child, AttentionBlock(module.norm.normalized_shape[0], n_heads, fused))
    return net
