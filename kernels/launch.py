"""The one launcher for the attention kernels: block-size selection (autotuned on GPU, fixed in the interpreter),
split-KV for decoding, and the backward's two launches plus the conjugate RoPE pass.

Dimension legend: B batch, Sq/Sk query/key tokens, T packed tokens, H query heads, Hkv key/value heads,
D head dim, R rotary dim, P table positions, NS number of KV splits.

Autotuning: configs are keyed on (D, the power-of-two bucket of the longest sequence, the masking/RoPE flags), so
a new sequence length re-tunes only when it crosses a power of two. `triton.autotune` only benchmarks on the
first launch of a key, never at import, so importing this module on a machine without a GPU is safe.
Under TRITON_INTERPRET=1 the autotuner is bypassed: benchmarking interpreted kernels would take minutes.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
import triton

from .attention import MODE_DKDV, MODE_DQ, attn_bwd_kernel, attn_fwd_kernel
from .rope import rope_launch

LOG2E = 1.4426950408889634


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _configs(bwd: bool):
    blocks = [(64, 64), (64, 128), (128, 64), (128, 128), (64, 32), (32, 64)] if not bwd else \
        [(32, 64), (64, 64), (64, 128), (128, 64), (32, 128)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s)
            for m, n in blocks for w in (4, 8) for s in (2, 3, 4)]


def _prune(configs, named_args, **kwargs):
    """Drop tiles whose (M + N) x DP working set would not fit in shared memory / registers."""
    dp = kwargs.get("DP", named_args.get("DP", 64))
    keep = [c for c in configs if (c.kwargs["BLOCK_M"] + c.kwargs["BLOCK_N"]) * dp <= 256 * 128
            and not (dp >= 256 and c.num_stages > 2)]
    return keep or configs[:1]


_KEY = ["D", "SEQ_BUCKET", "CAUSAL", "HAS_KPM", "ROPE_Q", "ROPE_K", "VARLEN", "PREC"]
_fwd_tuned = triton.autotune(configs=_configs(False), key=_KEY, prune_configs_by={"early_config_prune": _prune})(
    attn_fwd_kernel)
_bwd_tuned = triton.autotune(configs=_configs(True), key=_KEY + ["MODE"],
                             prune_configs_by={"early_config_prune": _prune})(attn_bwd_kernel)

# Interpreter tiles: small and with BLOCK_M != BLOCK_N so that a mix-up of the two shows in the tests.
_INTERP_BLOCKS = {"BLOCK_M": 32, "BLOCK_N": 16}


def _launch(tuned, grid, args, consts):
    if interpreting():
        tuned.fn[grid](*args, **consts, **_INTERP_BLOCKS)
    else:
        tuned[grid](*args, **consts)


def _bucket(n: int) -> int:
    return triton.next_power_of_2(max(int(n), 16))


def _dims(q, k, cu_q):
    """(B, H, Hkv, D) for padded (B, S, H, D) or packed (T, H, D) inputs."""
    B = cu_q.numel() - 1 if cu_q is not None else q.shape[0]
    return B, q.shape[-2], k.shape[-2], q.shape[-1]


def _bsh(t, varlen):
    """(batch, seq, head) strides; packed tensors have batch stride 0 (rows are addressed through cu_seqlens)."""
    return (0, t.stride(0), t.stride(1)) if varlen else (t.stride(0), t.stride(1), t.stride(2))


def _common_consts(q, causal, varlen, kpm, rope, q_off, k_off):
    D = q.shape[-1]
    return dict(D=D, DP=max(16, triton.next_power_of_2(D)), CAUSAL=causal, VARLEN=varlen, HAS_KPM=kpm is not None,
                ROPE_Q=rope is not None and q_off is not None, ROPE_K=rope is not None and k_off is not None,
                ROTARY_DIM=rope[0].shape[-1] * 2 if rope is not None else 0,
                INTERLEAVED=bool(rope[2]) if rope is not None else False,
                PREC="ieee" if q.dtype == torch.float32 else "tf32")


def default_num_splits(q, max_seqlen_q, max_seqlen_k, B, H) -> int:
    """Flash-decoding: split the keys when there are too few (Q block, head) programs to fill the GPU."""
    if not q.is_cuda or max_seqlen_k < 1024:
        return 1
    sms = torch.cuda.get_device_properties(q.device).multi_processor_count
    programs = triton.cdiv(max_seqlen_q, 64) * B * H
    if programs >= sms:
        return 1
    return max(1, min(triton.cdiv(2 * sms, programs), triton.cdiv(max_seqlen_k, 512), 64))


def attention_forward(q, k, v, *, causal: bool, scale: float, kpm=None, cu_q=None, cu_k=None, seqused_k=None,
                      max_seqlen_q: int = 0, max_seqlen_k: int = 0, rope=None, q_off=None, k_off=None,
                      num_splits: int = 1):
    """Returns out (like q, contiguous) and lse (B, H, Sq) or (H, Tq) float32.

    rope: None or (cos (P, R/2) f32, sin, interleaved); q_off/k_off (B,) int32 position of token 0 (None = no
    rotation on that side). kpm: (B, Sk) uint8. seqused_k: (B,) int32 keys present per row (KV cache).
    """
    varlen = cu_q is not None
    B, H, Hkv, D = _dims(q, k, cu_q)
    Sq = max_seqlen_q if varlen else q.shape[1]
    Sk = max_seqlen_k if varlen else k.shape[1]
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse_shape = (H, q.shape[0]) if varlen else (B, H, q.shape[1])
    lse = torch.full(lse_shape, float("-inf"), dtype=torch.float32, device=q.device)
    if q.numel() == 0 or B == 0 or Sq == 0:
        return out, lse
    if Sk == 0:
        return out.zero_(), lse
    num_splits = max(1, min(int(num_splits), triton.cdiv(Sk, 128)))
    split_len = triton.cdiv(triton.cdiv(Sk, num_splits), 128) * 128  # a multiple of every BLOCK_N
    num_splits = triton.cdiv(Sk, split_len)
    if num_splits > 1:  # partials: (NS, B, Sq, H, D) f32 and (NS, B, H, Sq); combined below
        o_buf = torch.empty((num_splits, *q.shape), dtype=torch.float32, device=q.device)
        l_buf = torch.empty((num_splits, *lse_shape), dtype=torch.float32, device=q.device)
    else:
        o_buf, l_buf = out, lse
    so = _bsh(o_buf[0] if num_splits > 1 else out, varlen)
    if varlen:
        sl = (0, lse.stride(0), lse.stride(1))
    else:
        sl = (lse.stride(0), lse.stride(1), lse.stride(2))
    dummy = cu_q if cu_q is not None else lse
    cos, sin = (rope[0], rope[1]) if rope is not None else (lse, lse)
    args = (q, k, v, o_buf, l_buf, kpm if kpm is not None else dummy, cu_q if varlen else dummy,
            cu_k if varlen else dummy, seqused_k if seqused_k is not None else dummy, cos, sin,
            q_off if q_off is not None else dummy, k_off if k_off is not None else dummy,
            scale * LOG2E, *_bsh(q, varlen), *_bsh(k, varlen), *_bsh(v, varlen),
            *so, o_buf.stride(0) if num_splits > 1 else 0, *sl, l_buf.stride(0) if num_splits > 1 else 0,
            kpm.stride(0) if kpm is not None else 0,
            Sq, Sk, H, H // Hkv, split_len, _bucket(max(Sq, Sk)))
    consts = _common_consts(q, causal, varlen, kpm, rope, q_off, k_off)
    consts["HAS_SEQUSED"] = seqused_k is not None

    def grid(meta):
        return (triton.cdiv(Sq, meta["BLOCK_M"]), B * H, num_splits)

    _launch(_fwd_tuned, grid, args, consts)
    if num_splits > 1:
        # Combine: lse = logsumexp_s(lse_s); out = sum_s exp(lse_s - lse) * out_s. Empty splits have lse_s = -inf.
        lse_all = torch.logsumexp(l_buf, dim=0)  # (B, H, Sq)
        safe = torch.where(torch.isinf(lse_all), torch.zeros_like(lse_all), lse_all)
        w = torch.exp(l_buf - safe)  # (NS, B, H, Sq)
        if varlen:
            w = w.transpose(-1, -2)[..., None]  # (NS, T, H, 1)
        else:
            w = w.permute(0, 1, 3, 2)[..., None]  # (NS, B, Sq, H, 1)
        out.copy_((w * o_buf).sum(0))
        lse.copy_(lse_all)
    return out, lse


def attention_backward(do, q, k, v, out, lse, *, causal: bool, scale: float, kpm=None, cu_q=None, cu_k=None,
                       max_seqlen_q: int = 0, max_seqlen_k: int = 0, rope=None, q_off=None, k_off=None):
    """Returns dq, dk, dv (shaped like q, k, v, contiguous). Deterministic: no atomics anywhere."""
    varlen = cu_q is not None
    B, H, Hkv, D = _dims(q, k, cu_q)
    Sq = max_seqlen_q if varlen else q.shape[1]
    Sk = max_seqlen_k if varlen else k.shape[1]
    consts = _common_consts(q, causal, varlen, kpm, rope, q_off, k_off)
    # Gradients w.r.t. the rotated Q/K are accumulated in float32 and rotated back by the rope kernel.
    dq = torch.zeros(q.shape, dtype=torch.float32 if consts["ROPE_Q"] else q.dtype, device=q.device)
    dk = torch.zeros(k.shape, dtype=torch.float32 if consts["ROPE_K"] else k.dtype, device=q.device)
    dv = torch.zeros(v.shape, dtype=v.dtype, device=q.device)
    if q.numel() == 0 or k.numel() == 0 or B == 0 or Sq == 0 or Sk == 0:
        return dq.to(q.dtype), dk.to(k.dtype), dv
    out = out.contiguous()
    do = do.contiguous()  # O, dO and dQ share one set of strides in the kernel
    delta = torch.empty_like(lse)
    sl = (0, lse.stride(0), lse.stride(1)) if varlen else (lse.stride(0), lse.stride(1), lse.stride(2))
    dummy = cu_q if cu_q is not None else lse
    cos, sin = (rope[0], rope[1]) if rope is not None else (lse, lse)
    args = (q, k, v, out, do, lse, delta, dq, dk, dv, kpm if kpm is not None else dummy,
            cu_q if varlen else dummy, cu_k if varlen else dummy, cos, sin,
            q_off if q_off is not None else dummy, k_off if k_off is not None else dummy,
            scale * LOG2E, scale, *_bsh(q, varlen), *_bsh(k, varlen), *_bsh(v, varlen),
            *_bsh(out, varlen), *_bsh(dk, varlen), *sl, kpm.stride(0) if kpm is not None else 0,
            Sq, Sk, H, H // Hkv, _bucket(max(Sq, Sk)))
    # MODE_DQ runs first: it also writes delta = rowsum(dO * O), which MODE_DKDV reads.
    _launch(_bwd_tuned, lambda m: (triton.cdiv(Sq, m["BLOCK_M"]), B * H), args, dict(consts, MODE=MODE_DQ))
    _launch(_bwd_tuned, lambda m: (triton.cdiv(Sk, m["BLOCK_N"]), B * Hkv), args, dict(consts, MODE=MODE_DKDV))
    if consts["ROPE_Q"]:
        dq = rope_launch(dq, rope[0], rope[1], q_off, interleaved=rope[2], conjugate=True, cu_seqlens=cu_q,
                         max_seqlen=Sq, out_dtype=q.dtype)
    if consts["ROPE_K"]:
        dk = rope_launch(dk, rope[0], rope[1], k_off, interleaved=rope[2], conjugate=True, cu_seqlens=cu_k,
                         max_seqlen=Sk, out_dtype=k.dtype)
    return dq, dk, dv


def kv_scatter(cache: torch.Tensor, new: torch.Tensor, cache_seqlens: torch.Tensor) -> None:
    """cache[b, cache_seqlens[b] + j] = new[b, j] in place. cache (B, Smax, Hkv, D), new (B, Snew, Hkv, D)."""
    B, Snew = new.shape[0], new.shape[1]
    rows = cache_seqlens.long()[:, None] + torch.arange(Snew, device=new.device)[None, :]  # (B, Snew)
    cache[torch.arange(B, device=new.device)[:, None], rows] = new.to(cache.dtype)


def optional_int32(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None else t.to(torch.int32).contiguous()
