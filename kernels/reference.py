"""Readable PyTorch versions of the attention and rotary kernels.

They are the CPU path of `fastlm.attention` / `fastlm.apply_rope` and the oracle the kernel tests compare against
(run them in float64 for the "exact" answer, in the input dtype for the "same precision" answer).

Dimension legend (used in every shape comment below):
    B   batch (number of sequences)
    Sq  query tokens per sequence        Sk  key/value tokens per sequence
    T   total tokens of a packed (varlen) batch
    H   query heads                      Hkv key/value heads (H % Hkv == 0; G = H // Hkv is the group size)
    D   head dim                         R   rotary dim (R <= D, even); the first R features are rotated
    P   positions in a cos/sin table     R/2 frequencies per position

Conventions shared with the Triton kernels:
- causal masking with Sq != Sk aligns the diagonal bottom-right: query i may see key j iff j <= i + Sk - Sq.
- RoPE positions: key j has position `offset + j`; query i has position `offset + (Sk - Sq) + i`, i.e. the
  queries are the last Sq tokens of the key sequence (the same alignment as the causal mask).
- a query row that may see no key at all gets output 0 and LSE -inf (never NaN).
"""
from __future__ import annotations

from typing import Optional

import torch


# ----------------------------------------------------------------------------------------------------------------
# RoPE
# ----------------------------------------------------------------------------------------------------------------
def rope_partner(x: torch.Tensor, rotary_dim: int, interleaved: bool) -> torch.Tensor:
    """The signed partner of every rotated feature, so that rotate(x) = x*cos + partner(x)*sin.

    half-split (GPT-NeoX / Llama): pairs (i, i + R/2):  partner = (-x[R/2:R], x[0:R/2])
    interleaved (GPT-J):           pairs (2i, 2i + 1):  partner = (-x[1], x[0], -x[3], x[2], ...)
    Features >= R are not rotated (their partner is 0).
    """
    xr = x[..., :rotary_dim]
    if interleaved:
        pairs = xr.unflatten(-1, (rotary_dim // 2, 2))  # (..., R/2, 2)
        part = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)  # (..., R)
    else:
        half = rotary_dim // 2
        part = torch.cat((-xr[..., half:], xr[..., :half]), dim=-1)  # (..., R)
    return torch.nn.functional.pad(part, (0, x.shape[-1] - rotary_dim))


def rope_expand(cos: torch.Tensor, sin: torch.Tensor, pos: torch.Tensor, head_dim: int, interleaved: bool):
    """Per-feature cos/sin for the given positions: (..., D) each, with cos=1, sin=0 beyond the rotary dim.

    cos, sin: (P, R/2); pos: any integer shape (...,).
    """
    c, s = cos[pos.abs()], sin[pos.abs()]  # (..., R/2); a negative position rotates by a negative angle
    s = torch.where((pos < 0)[..., None], -s, s)
    if interleaved:
        c, s = c.repeat_interleave(2, dim=-1), s.repeat_interleave(2, dim=-1)  # (..., R): f0 f0 f1 f1 ...
    else:
        c, s = torch.cat((c, c), dim=-1), torch.cat((s, s), dim=-1)  # (..., R): f0 f1 ... f0 f1 ...
    pad = head_dim - c.shape[-1]
    return torch.nn.functional.pad(c, (0, pad), value=1.0), torch.nn.functional.pad(s, (0, pad), value=0.0)


def rope_rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, pos: torch.Tensor, *,
                interleaved: bool, conjugate: bool = False) -> torch.Tensor:
    """Rotate x (..., Hx, D) whose leading dims match pos (...,). conjugate=True applies the inverse rotation."""
    rotary_dim = cos.shape[-1] * 2
    c, s = rope_expand(cos.to(x.dtype), sin.to(x.dtype), pos, x.shape[-1], interleaved)  # (..., D)
    c, s = c.unsqueeze(-2), s.unsqueeze(-2)  # (..., 1, D): broadcast over heads
    if conjugate:
        s = -s
    return x * c + rope_partner(x, rotary_dim, interleaved) * s


def _seq_bounds(cu: Optional[torch.Tensor], length: int, batch: int):
    if cu is None:
        return [(0, length)] * batch
    cu = cu.tolist()
    return [(cu[b], cu[b + 1] - cu[b]) for b in range(batch)]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, *, interleaved: bool = False,
               pos_offsets: Optional[torch.Tensor] = None, cu_seqlens: Optional[torch.Tensor] = None,
               conjugate: bool = False) -> torch.Tensor:
    """x (B, S, H, D) or packed (T, H, D) with cu_seqlens (B + 1,); token s of sequence b sits at pos_offsets[b] + s."""
    if cu_seqlens is None:
        B, S = x.shape[0], x.shape[1]
        off = torch.zeros(B, dtype=torch.long, device=x.device) if pos_offsets is None else pos_offsets.long()
        pos = off[:, None] + torch.arange(S, device=x.device)[None, :]  # (B, S)
        return rope_rotate(x, cos, sin, pos, interleaved=interleaved, conjugate=conjugate)
    out = torch.empty_like(x)
    B = cu_seqlens.numel() - 1
    off = [0] * B if pos_offsets is None else pos_offsets.tolist()
    for b, (start, n) in enumerate(_seq_bounds(cu_seqlens, 0, B)):
        pos = off[b] + torch.arange(n, device=x.device)  # (n,)
        out[start:start + n] = rope_rotate(x[start:start + n], cos, sin, pos, interleaved=interleaved,
                                           conjugate=conjugate)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------------------------
def _expand_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(S, Hkv, D) -> (S, H, D): query head h reads kv head h // G."""
    return x if x.shape[1] == heads else x.repeat_interleave(heads // x.shape[1], dim=1)


def _probs(q, k, *, scale, causal, keep_k):
    """Softmax probabilities of one sequence. q (Sq, H, D), k (Sk, H, D) -> p (H, Sq, Sk), lse (H, Sq) f32."""
    Sq, Sk = q.shape[0], k.shape[0]
    s = torch.einsum("qhd,khd->hqk", q, k) * scale  # (H, Sq, Sk)
    keep = torch.ones(Sq, Sk, dtype=torch.bool, device=q.device)  # (Sq, Sk)
    if causal:
        i = torch.arange(Sq, device=q.device)[:, None]
        j = torch.arange(Sk, device=q.device)[None, :]
        keep &= j <= i + (Sk - Sq)
    if keep_k is not None:
        keep &= keep_k[None, :]
    s = s.masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s.float() if s.dtype in (torch.float16, torch.bfloat16) else s, dim=-1)  # (H, Sq)
    # Rows with no visible key: lse = -inf; exp(s - lse) would be NaN there, so use a safe lse and zero them.
    dead = torch.isinf(lse) & (lse < 0)
    p = torch.exp(s - lse.masked_fill(dead, 0.0).to(s.dtype)[..., None])  # (H, Sq, Sk)
    return p.masked_fill(dead[..., None], 0.0), lse.float()


class _Seq:
    """Per-sequence slicing shared by the forward and backward references."""

    def __init__(self, q, k, cu_seqlens_q, cu_seqlens_k, seqused_k, rope_q_offsets, rope_k_offsets):
        self.varlen = cu_seqlens_q is not None
        self.B = cu_seqlens_q.numel() - 1 if self.varlen else q.shape[0]
        self.qb = _seq_bounds(cu_seqlens_q, 0 if self.varlen else q.shape[1], self.B)
        self.kb = _seq_bounds(cu_seqlens_k, 0 if self.varlen else k.shape[1], self.B)
        self.used = seqused_k.tolist() if seqused_k is not None else None
        self.qoff = rope_q_offsets.tolist() if rope_q_offsets is not None else None
        self.koff = rope_k_offsets.tolist() if rope_k_offsets is not None else None

    def bounds(self, b):
        (q0, sq), (k0, sk) = self.qb[b], self.kb[b]
        return q0, sq, k0, (self.used[b] if self.used is not None else sk)

    def q_index(self, b):
        q0, sq, _, _ = self.bounds(b)
        return slice(q0, q0 + sq) if self.varlen else (b, slice(0, sq))

    def k_index(self, b):
        _, _, k0, sk = self.bounds(b)
        return slice(k0, k0 + sk) if self.varlen else (b, slice(0, sk))

    def rotate(self, x, b, offs, rope, conjugate=False):
        if rope is None or offs is None:
            return x
        cos, sin, inter = rope
        pos = offs[b] + torch.arange(x.shape[0], device=x.device)
        return rope_rotate(x, cos, sin, pos, interleaved=inter, conjugate=conjugate)


def attention(q, k, v, *, causal: bool = False, softmax_scale: Optional[float] = None,
              rope=None, rope_q_offsets=None, rope_k_offsets=None,
              cu_seqlens_q=None, cu_seqlens_k=None, seqused_k=None, key_padding_mask=None):
    """Reference attention with the kernel's semantics.

    q (B, Sq, H, D), k/v (B, Sk, Hkv, D); or packed q (Tq, H, D), k/v (Tk, Hkv, D) with cu_seqlens_q/k (B + 1,).
    rope: None or (cos (P, R/2), sin (P, R/2), interleaved). rope_q_offsets/rope_k_offsets (B,): the position of
    token 0 of sequence b (None = do not rotate that side). seqused_k (B,): only the first seqused_k[b] keys of
    row b exist (KV cache). key_padding_mask (B, Sk) bool, True = attend.
    Returns out (like q) and lse: (B, H, Sq) float32, or (H, Tq) when packed.
    """
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    sx = _Seq(q, k, cu_seqlens_q, cu_seqlens_k, seqused_k, rope_q_offsets, rope_k_offsets)
    out = torch.zeros_like(q)
    H = q.shape[-2]
    lse = torch.full((H, q.shape[0]) if sx.varlen else (sx.B, H, q.shape[1]), float("-inf"), device=q.device)
    for b in range(sx.B):
        qi, ki = sx.q_index(b), sx.k_index(b)
        qs = sx.rotate(q[qi], b, sx.qoff, rope)  # (Sq, H, D)
        ks = sx.rotate(k[ki], b, sx.koff, rope)  # (Sk, Hkv, D)
        if qs.shape[0] == 0 or ks.shape[0] == 0:
            continue
        keep = key_padding_mask[b, :ks.shape[0]] if key_padding_mask is not None else None
        p, ls = _probs(qs, _expand_kv(ks, H), scale=scale, causal=causal, keep_k=keep)  # (H, Sq, Sk)
        out[qi] = torch.einsum("hqk,khd->qhd", p.to(v.dtype), _expand_kv(v[ki], H))  # (Sq, H, D)
        lse[(slice(None), qi) if sx.varlen else (b, slice(None), qi[1])] = ls
    return out, lse


def attention_backward(do, q, k, v, *, causal: bool = False, softmax_scale: Optional[float] = None, rope=None,
                       rope_q_offsets=None, rope_k_offsets=None, cu_seqlens_q=None, cu_seqlens_k=None,
                       key_padding_mask=None):
    """Gradients (dq, dk, dv) of `attention` for the upstream gradient do (like q), by the textbook formulas:
    dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),  dQ = scale dS K,  dK = scale dS^T Q,
    then summed over the G query heads of each KV head, and rotated back with the conjugate RoPE."""
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    sx = _Seq(q, k, cu_seqlens_q, cu_seqlens_k, None, rope_q_offsets, rope_k_offsets)
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    H, Hkv = q.shape[-2], k.shape[-2]
    for b in range(sx.B):
        qi, ki = sx.q_index(b), sx.k_index(b)
        qs = sx.rotate(q[qi], b, sx.qoff, rope)  # (Sq, H, D)
        ks = _expand_kv(sx.rotate(k[ki], b, sx.koff, rope), H)  # (Sk, H, D)
        vs = _expand_kv(v[ki], H)
        if qs.shape[0] == 0 or ks.shape[0] == 0:
            continue
        keep = key_padding_mask[b, :ks.shape[0]] if key_padding_mask is not None else None
        p, _ = _probs(qs, ks, scale=scale, causal=causal, keep_k=keep)  # (H, Sq, Sk)
        dos = do[qi]  # (Sq, H, D)
        dvh = torch.einsum("hqk,qhd->khd", p, dos)  # (Sk, H, D)
        dp = torch.einsum("qhd,khd->hqk", dos, vs)  # (H, Sq, Sk)
        ds = p * (dp - (p * dp).sum(-1, keepdim=True))
        dqs = torch.einsum("hqk,khd->qhd", ds, ks) * scale  # (Sq, H, D)
        dkh = torch.einsum("hqk,qhd->khd", ds, qs) * scale  # (Sk, H, D)
        # (Sk, H, D) -> (Sk, Hkv, G, D) -> sum over the group
        dkh = dkh.unflatten(1, (Hkv, H // Hkv)).sum(2)
        dvh = dvh.unflatten(1, (Hkv, H // Hkv)).sum(2)
        dq[qi] = sx.rotate(dqs, b, sx.qoff, rope, conjugate=True)
        dk[ki] = sx.rotate(dkh, b, sx.koff, rope, conjugate=True)
        dv[ki] = dvh
    return dq, dk, dv
