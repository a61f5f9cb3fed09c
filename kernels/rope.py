"""Standalone rotary position embedding (RoPE) kernel, and the rotary helpers the attention kernel inlines.

Dimension legend:
    B   batch (sequences)        S   tokens per sequence      T   total tokens of a packed batch
    H   heads                    D   head dim                 DP  D padded to a power of two (>= 16)
    R   rotary dim (even, <= D)  P   positions in the cos/sin tables, which are (P, R/2) float32

Rotation, for every feature d < R:   out[d] = x[d] * cos[pos, f(d)] + sign(d) * x[partner(d)] * sin[pos, f(d)]
    half-split  (GPT-NeoX/Llama): partner(d) = d +- R/2, f(d) = d mod R/2, sign = -1 on the first half
    interleaved (GPT-J):          partner(d) = d xor 1,  f(d) = d // 2,     sign = -1 on even d
Features d >= R pass through (the contiguous-block convention for partial rotary). The inverse rotation (used by
every backward pass) is the same formula with sin negated.

A tile is rotated by loading it twice, once at d and once at partner(d): the second load hits L1/L2.
Rejected alternative: loading once and swapping halves in registers with reshape + tl.split/tl.join. That only
pairs d with d + DP/2, which is wrong whenever R != DP (partial rotary, or D = 80, 96, 160, ...).
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

# When a list, launches are recorded here instead of run (kernels/aot.py; see launch._capture).
_capture: Optional[list] = None


@triton.jit
def rope_coeffs(pos, row_ok, offs_d, cos_ptr, sin_ptr, ROTARY_DIM: tl.constexpr, INTERLEAVED: tl.constexpr,
                CONJ: tl.constexpr, MASK_ROWS: tl.constexpr):
    """pos (M,) int, row_ok (M,) bool, offs_d (DP,) -> partner index (DP,), cos (M, DP), signed sin (M, DP), all
    float32. Rows outside the sequence (row_ok False, only looked at when MASK_ROWS) read no table entry: their
    positions may lie past the end of the tables."""
    HALF: tl.constexpr = ROTARY_DIM // 2
    rot = offs_d < ROTARY_DIM
    if INTERLEAVED:
        freq = offs_d // 2
        partner = offs_d ^ 1
        sign = tl.where(offs_d % 2 == 0, -1.0, 1.0)
    else:
        first = offs_d < HALF
        freq = tl.where(first, offs_d, offs_d - HALF)
        partner = tl.where(first, offs_d + HALF, offs_d - HALF)
        sign = tl.where(first, -1.0, 1.0)
    if CONJ:
        sign = -sign
    partner = tl.where(rot, partner, offs_d)
    freq = tl.where(rot, freq, 0)
    # Negative positions (queries placed before the first key) use cos(-a) = cos(a), sin(-a) = -sin(a).
    apos = tl.abs(pos)
    tab = apos[:, None] * HALF + freq[None, :]  # (M, DP) index into the (P, R/2) tables
    if MASK_ROWS:
        m = row_ok[:, None] & rot[None, :]
    else:
        m = rot[None, :]
    cos = tl.load(cos_ptr + tab, mask=m, other=1.0)
    sin = tl.load(sin_ptr + tab, mask=m, other=0.0) * sign[None, :]
    sin = tl.where(pos[:, None] < 0, -sin, sin)
    return partner, cos, sin


@triton.jit
def rope_load(ptr, rows, stride_row, offs_d, row_mask, D: tl.constexpr, DP: tl.constexpr, pos, cos_ptr, sin_ptr,
              ROTARY_DIM: tl.constexpr, INTERLEAVED: tl.constexpr, MASK_ROWS: tl.constexpr):
    """Load a (M, DP) tile of rows `rows` and return it rotated, in float32. Out-of-range entries are 0.
    MASK_ROWS=False: every row is inside the sequence (see attention._load_tile)."""
    partner, cos, sin = rope_coeffs(pos, row_mask, offs_d, cos_ptr, sin_ptr, ROTARY_DIM, INTERLEAVED, False,
                                    MASK_ROWS)
    base = ptr + rows[:, None] * stride_row
    if MASK_ROWS:
        if D == DP:
            m = row_mask[:, None]
        else:
            m = row_mask[:, None] & (offs_d[None, :] < D)
        x = tl.load(base + offs_d[None, :], mask=m, other=0.0).to(tl.float32)
        xp = tl.load(base + partner[None, :], mask=m, other=0.0).to(tl.float32)
    else:
        if D == DP:
            x = tl.load(base + offs_d[None, :]).to(tl.float32)
            xp = tl.load(base + partner[None, :]).to(tl.float32)
        else:
            m = offs_d[None, :] < D
            x = tl.load(base + offs_d[None, :], mask=m, other=0.0).to(tl.float32)
            xp = tl.load(base + partner[None, :], mask=m, other=0.0).to(tl.float32)
    return x * cos + xp * sin


@triton.jit
def _rope_kernel(
    X, OUT, COS, SIN, POS_OFF, CU,
    stride_xb, stride_xs, stride_xh, stride_ob, stride_os, stride_oh,
    S, H,
    D: tl.constexpr, DP: tl.constexpr, ROTARY_DIM: tl.constexpr, INTERLEAVED: tl.constexpr,
    CONJ: tl.constexpr, VARLEN: tl.constexpr, BLOCK_S: tl.constexpr,
):
    # grid: (cdiv(S, BLOCK_S), B * H); one program rotates a (BLOCK_S, DP) tile of one head of one sequence.
    pid_s = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    if VARLEN:  # packed (T, H, D): sequence b is rows CU[b] .. CU[b+1]
        start = tl.load(CU + b)
        seqlen = tl.load(CU + b + 1) - start
    else:
        start = pid_s * 0
        seqlen = S
    offs_s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, DP)
    row_ok = offs_s < seqlen
    pos = tl.load(POS_OFF + b) + offs_s
    partner, cos, sin = rope_coeffs(pos, row_ok, offs_d, COS, SIN, ROTARY_DIM, INTERLEAVED, CONJ, True)
    x_base = X + b.to(tl.int64) * stride_xb + h * stride_xh + start.to(tl.int64) * stride_xs
    m = row_ok[:, None] & (offs_d[None, :] < D)
    x = tl.load(x_base + offs_s[:, None] * stride_xs + offs_d[None, :], mask=m, other=0.0).to(tl.float32)
    xp = tl.load(x_base + offs_s[:, None] * stride_xs + partner[None, :], mask=m, other=0.0).to(tl.float32)
    y = x * cos + xp * sin
    o_base = OUT + b.to(tl.int64) * stride_ob + h * stride_oh + start.to(tl.int64) * stride_os
    tl.store(o_base + offs_s[:, None] * stride_os + offs_d[None, :], y.to(OUT.dtype.element_ty), mask=m)


def rope_launch(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, pos_offsets: torch.Tensor, *,
                interleaved: bool, conjugate: bool = False, cu_seqlens=None, max_seqlen: int = 0,
                out_dtype=None) -> torch.Tensor:
    """Rotate x (B, S, H, D) or packed (T, H, D) with cu_seqlens (B + 1,) int32. pos_offsets (B,) int32.

    The feature dim must be contiguous (stride 1); other strides are free. Returns a new tensor.
    """
    out = torch.empty(x.shape, dtype=out_dtype or x.dtype, device=x.device)
    if x.numel() == 0:
        return out
    D = x.shape[-1]
    varlen = cu_seqlens is not None
    if varlen:  # (T, H, D): no batch stride; sequence starts come from cu_seqlens
        B, S, H = cu_seqlens.numel() - 1, max_seqlen, x.shape[1]
        sxb, sxs, sxh, sob, sos, soh = 0, x.stride(0), x.stride(1), 0, out.stride(0), out.stride(1)
    else:
        B, S, H = x.shape[0], x.shape[1], x.shape[2]
        sxb, sxs, sxh = x.stride(0), x.stride(1), x.stride(2)
        sob, sos, soh = out.stride(0), out.stride(1), out.stride(2)
    if B == 0 or S == 0:
        return out
    BLOCK_S = 16
    grid = (triton.cdiv(S, BLOCK_S), B * H)
    args = (x, out, cos, sin, pos_offsets, cu_seqlens if varlen else pos_offsets, sxb, sxs, sxh, sob, sos, soh, S, H)
    consts = dict(D=D, DP=max(16, triton.next_power_of_2(D)), ROTARY_DIM=cos.shape[-1] * 2, INTERLEAVED=interleaved,
                  CONJ=conjugate, VARLEN=varlen, BLOCK_S=BLOCK_S)
    if _capture is not None:  # see launch._capture
        _capture.append((_rope_kernel, grid, args, consts, "rope"))
        return out
    _rope_kernel[grid](*args, **consts)
    return out
