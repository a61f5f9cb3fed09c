"""The one launcher for the attention kernels: block-size selection, split-KV for decoding, and the backward's two
launches plus the conjugate RoPE pass.

Dimension legend: B batch, Sq/Sk query/key tokens, T packed tokens, H query heads, Hkv key/value heads,
D head dim, DP D padded to a power of two, R rotary dim, P table positions, NS number of KV splits.

Block sizes, per kernel ("fwd", "dq", "dkdv") and DP, are picked in this order:
  1. FASTLM_ATTN_CONFIGS=path.json -- a table {"fwd": {"128": [BLOCK_M, BLOCK_N, num_warps, num_stages]}, ...}
     (bench/gpu_session.sh's sweep writes one). An entry there is used as is, no autotuning.
  2. FASTLM_ATTN_TUNE=0 -- the built-in DEFAULT_BLOCKS below, no autotuning (one compile per variant: what a
     short GPU session or a latency-sensitive first call wants).
  3. otherwise `triton.autotune` over a short list (DEFAULT_BLOCKS first), keyed on (D, the power-of-two bucket
     of the longest sequence, the masking/RoPE flags): a new length re-tunes only when it crosses a power of two.
     Each config is one compile of a few seconds, so the lists are kept short (at most 5 per kernel and DP).
`triton.autotune` only benchmarks on the first launch of a key, never at import, so importing this module on a
machine without a GPU is safe; the environment is read at launch time, not at import.
Under TRITON_INTERPRET=1 the autotuner is bypassed: benchmarking interpreted kernels would take minutes.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Tuple

import torch
import triton

from .attention import MODE_DKDV, MODE_DQ, attn_bwd_kernel, attn_fwd_kernel
from .rope import rope_launch

LOG2E = 1.4426950408889634
KINDS = ("fwd", "dq", "dkdv")
Block = Tuple[int, int, int, int]  # (BLOCK_M, BLOCK_N, num_warps, num_stages)

# Chosen with kernels/aot.py for sm_90 (Triton 3.6 and 3.9): every entry compiles without register spills and fits
# the shared memory (tests/test_attention_compile.py keeps the defaults so); which is fastest is decided on a GPU
# by bench/gpu_session.sh's sweep, whose output has this shape. The forward and dQ keep (M, DP) f32 accumulators
# (plus q and dO for dQ) in registers, dK/dV keep (N, DP) k, v, dk and dv: hence a tall M for the forward and dQ,
# a short M and 8 warps for dK/dV, and smaller tiles as DP grows. Registers per thread at the defaults
# (sm_90, Triton 3.6): fwd 255 / 186 / 139, dq 127 / 128 / 162, dkdv 166 / 181 / 195 for DP 64 / 128 / 256.
# Near-misses left out: fwd (64, 64, 8, 2) at DP 256 and dq (64, 64, 4, 2) at DP 128 spill a few bytes for some
# shapes or on sm_80.
_D64 = {"fwd": (128, 64, 4, 3), "dq": (64, 64, 4, 3), "dkdv": (32, 128, 8, 2)}
DEFAULT_BLOCKS: Dict[str, Dict[int, Block]] = {
    "fwd": {16: _D64["fwd"], 32: _D64["fwd"], 64: _D64["fwd"], 128: (128, 64, 8, 3), 256: (64, 32, 8, 2)},
    "dq": {16: _D64["dq"], 32: _D64["dq"], 64: _D64["dq"], 128: (64, 64, 8, 2), 256: (64, 32, 8, 2)},
    "dkdv": {16: _D64["dkdv"], 32: _D64["dkdv"], 64: _D64["dkdv"], 128: (32, 64, 8, 2), 256: (32, 32, 8, 2)},
}
# What the autotuner tries besides the default: spill-free on sm_90 in the same survey except the two near-misses
# above; configs that do not launch (sm_80 has 163 KiB of shared memory, sm_90 227) are skipped by the autotuner.
# BLOCK_N always divides 128: split-KV chunks are multiples of 128.
_ALT64 = {"fwd": ((128, 128, 8, 3), (64, 64, 4, 3), (128, 32, 4, 3), (64, 32, 4, 2)),
          "dq": ((128, 32, 8, 2), (128, 64, 8, 2), (64, 32, 4, 2), (32, 64, 4, 2)),
          "dkdv": ((64, 64, 8, 2), (32, 64, 4, 2), (64, 128, 8, 2), (64, 64, 4, 3))}
ALTERNATIVES: Dict[str, Dict[int, Tuple[Block, ...]]] = {
    "fwd": {16: _ALT64["fwd"], 32: _ALT64["fwd"], 64: _ALT64["fwd"],
            128: ((128, 128, 8, 3), (64, 64, 4, 3), (128, 32, 4, 3), (128, 64, 8, 2)),
            256: ((64, 64, 8, 2), (64, 32, 4, 2), (32, 64, 4, 2))},
    "dq": {16: _ALT64["dq"], 32: _ALT64["dq"], 64: _ALT64["dq"],
           128: ((64, 64, 4, 2), (128, 32, 8, 2), (128, 64, 8, 2), (64, 32, 4, 2)),
           256: ((128, 32, 8, 2),)},
    "dkdv": {16: _ALT64["dkdv"], 32: _ALT64["dkdv"], 64: _ALT64["dkdv"],
             128: ((64, 64, 8, 2), (32, 128, 8, 2), (32, 32, 4, 2), (64, 32, 4, 2)),
             256: ((16, 64, 8, 2), (16, 32, 4, 2))},
}


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _tune_enabled() -> bool:
    return os.environ.get("FASTLM_ATTN_TUNE", "1") not in ("0", "off", "false", "no")


def _check_block(path: str, kind: str, dp: str, b) -> Block:
    ok = (isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(x, int) and x > 0 for x in b)
          and all(x & (x - 1) == 0 for x in b[:3]) and b[0] >= 16 and b[1] >= 16 and 128 % b[1] == 0)
    if not ok:
        raise ValueError(f"FASTLM_ATTN_CONFIGS={path}: {kind}[{dp}] must be [BLOCK_M, BLOCK_N, num_warps, num_stages] with "
                         f"powers of two, BLOCK_M, BLOCK_N >= 16 and BLOCK_N dividing 128; got {b!r}")
    return (b[0], b[1], b[2], b[3])


_TABLES: Dict[str, Dict[str, Dict[int, Block]]] = {}


def config_table() -> Dict[str, Dict[int, Block]]:
    """The FASTLM_ATTN_CONFIGS table ({} when unset), parsed once per path."""
    path = os.environ.get("FASTLM_ATTN_CONFIGS", "")
    if not path:
        return {}
    if path not in _TABLES:
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"FASTLM_ATTN_CONFIGS={path}: cannot read a JSON block-size table: {e}") from e
        if not isinstance(raw, dict):
            raise ValueError(f"FASTLM_ATTN_CONFIGS={path}: expected {{kind: {{DP: [M, N, warps, stages]}}}}")
        table: Dict[str, Dict[int, Block]] = {}
        for kind, per_dp in raw.items():
            if kind not in KINDS or not isinstance(per_dp, dict):
                continue  # other keys (notes, timings) may ride along
            table[kind] = {int(dp): _check_block(path, kind, dp, b) for dp, b in per_dp.items()}
        _TABLES[path] = table
    return _TABLES[path]


def pick_block(kind: str, dp: int) -> Optional[Block]:
    """The fixed block config for (kind, DP), or None to autotune."""
    fixed = config_table().get(kind, {}).get(dp)
    if fixed is not None:
        return fixed
    if not _tune_enabled():
        return DEFAULT_BLOCKS[kind][dp]
    return None


def _configs(kinds):
    """Every block config of these kernel kinds (all DPs); _prune keeps those of the launched kind and DP."""
    out, seen = [], set()
    for kind in kinds:
        for dp in DEFAULT_BLOCKS[kind]:
            for blk in (DEFAULT_BLOCKS[kind][dp],) + ALTERNATIVES[kind][dp]:
                if (kind, blk) not in seen:
                    seen.add((kind, blk))
                    c = triton.Config({"BLOCK_M": blk[0], "BLOCK_N": blk[1]}, num_warps=blk[2], num_stages=blk[3])
                    c.fastlm_kind = kind  # type: ignore[attr-defined]
                    out.append(c)
    return out


def _block_of(c) -> Block:
    return (c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.num_warps, c.num_stages)


def _prune(configs, named_args, **kwargs):
    """This kernel kind's default for DP first, then its alternatives for DP (at most 5 configs: 5 compiles)."""
    dp = kwargs.get("DP", named_args.get("DP", 64))
    mode = kwargs.get("MODE", named_args.get("MODE"))
    kind = "fwd" if mode is None else ("dq" if mode == MODE_DQ else "dkdv")
    want = (DEFAULT_BLOCKS[kind][dp],) + ALTERNATIVES[kind][dp]
    mine = {_block_of(c): c for c in configs if getattr(c, "fastlm_kind", kind) == kind}
    return [mine[b] for b in want if b in mine]


_KEY = ["D", "SEQ_BUCKET", "CAUSAL", "HAS_KPM", "ROPE_Q", "ROPE_K", "VARLEN", "PREC"]
_fwd_tuned = triton.autotune(configs=_configs(["fwd"]), key=_KEY, prune_configs_by={"early_config_prune": _prune})(
    attn_fwd_kernel)
_bwd_tuned = triton.autotune(configs=_configs(["dq", "dkdv"]), key=_KEY + ["MODE"],
                             prune_configs_by={"early_config_prune": _prune})(attn_bwd_kernel)

# Interpreter tiles: small and with BLOCK_M != BLOCK_N so that a mix-up of the two shows in the tests.
_INTERP_BLOCKS = {"BLOCK_M": 32, "BLOCK_N": 16}

# When a list, launches are recorded here instead of run: (kernel, grid, args, launch kwargs). kernels/aot.py
# uses it to compile exactly what the launcher would launch, for a GPU target, on a machine without one.
_capture: Optional[list] = None


def _kind(consts) -> str:
    if "MODE" not in consts:
        return "fwd"
    return "dq" if consts["MODE"] == MODE_DQ else "dkdv"


def _launch(tuned, grid, args, consts):
    if _capture is not None:
        _capture.append((tuned.fn, grid, args, dict(consts), _kind(consts)))
        return
    if interpreting():
        tuned.fn[grid](*args, **consts, **_INTERP_BLOCKS)
        return
    blk = pick_block(_kind(consts), consts["DP"])
    if blk is None:
        tuned[grid](*args, **consts)
    else:
        m, n, warps, stages = blk
        if consts["ROPE_K"] and consts.get("MODE") != MODE_DKDV:
            # K rotated per tile in the loop (FASTLM_ATTN_ROPE_K=tile) pipelines four extra (N, DP) tiles per
            # stage: kernels/aot.py puts the D=128 forward at 288 KiB of shared memory with 3 stages, 176 with 2
            n, stages = min(n, 64), min(stages, 2)
        tuned.fn[grid](*args, **consts, BLOCK_M=m, BLOCK_N=n, num_warps=warps, num_stages=stages)


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


def rope_k_mode() -> str:
    """How K gets its rotation: "prepass" (default) rotates K once with the rope kernel into a temporary, then the
    kernel reads plain K tiles; "tile" (FASTLM_ATTN_ROPE_K=tile) rotates every K tile inside the inner loop.
    Why prepass: each K tile is read by all cdiv(Sq, BLOCK_M) Q blocks, and rotating it in the loop costs a
    partner reload plus two (N, DP) float32 cos/sin tiles per step -- 10 bytes per element on top of the 4 of the
    bf16 K and V tiles -- and at the D = 128 forward's default blocks 288 KiB of shared memory, more than sm_90
    has (kernels/aot.py; the launcher drops to 2 stages in tile mode). The pass is one read and one write of K,
    O(Sk * D) next to the kernel's O(Sq * Sk * D). bench/bench_attention.py times both ("fastlm" and
    "fastlm-tile" rows). Decoding is unaffected: the cache already holds rotated keys. Q tiles are rotated on
    load either way (once per program); the backward pre-rotates Q as well in prepass mode, since its dK/dV pass
    re-reads Q tiles in the loop."""
    mode = os.environ.get("FASTLM_ATTN_ROPE_K", "prepass")
    if mode not in ("prepass", "tile"):
        raise ValueError(f"FASTLM_ATTN_ROPE_K must be 'prepass' or 'tile', got {mode!r}")
    return mode


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
    Q tiles are rotated in the kernel as they are loaded (once per program). K is rotated by one rope-kernel pass
    first unless FASTLM_ATTN_ROPE_K=tile (see rope_k_mode).
    """
    varlen = cu_q is not None
    B, H, Hkv, D = _dims(q, k, cu_q)
    Sq = max_seqlen_q if varlen else q.shape[1]
    Sk = max_seqlen_k if varlen else k.shape[1]
    if rope is not None and k_off is not None and rope_k_mode() == "prepass" and k.numel():
        k = rope_launch(k, rope[0], rope[1], k_off, interleaved=rope[2], cu_seqlens=cu_k, max_seqlen=Sk)
        k_off = None
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
    rot_q, rot_k = rope is not None and q_off is not None, rope is not None and k_off is not None
    # Gradients w.r.t. the rotated Q/K are accumulated in float32 and rotated back by the rope kernel.
    dq = torch.zeros(q.shape, dtype=torch.float32 if rot_q else q.dtype, device=q.device)
    dk = torch.zeros(k.shape, dtype=torch.float32 if rot_k else k.dtype, device=q.device)
    dv = torch.zeros(v.shape, dtype=v.dtype, device=q.device)
    if q.numel() == 0 or k.numel() == 0 or B == 0 or Sq == 0 or Sk == 0:
        return dq.to(q.dtype), dk.to(k.dtype), dv
    q_dtype, k_dtype = q.dtype, k.dtype
    kernel_rope, kq_off, kk_off = rope, q_off, k_off
    if (rot_q or rot_k) and rope_k_mode() == "prepass":
        # The dK/dV pass loads every Q tile in its inner loop, so Q is pre-rotated here as K is (one pass each).
        if rot_q:
            q = rope_launch(q, rope[0], rope[1], q_off, interleaved=rope[2], cu_seqlens=cu_q, max_seqlen=Sq)
        if rot_k:
            k = rope_launch(k, rope[0], rope[1], k_off, interleaved=rope[2], cu_seqlens=cu_k, max_seqlen=Sk)
        kernel_rope, kq_off, kk_off = None, None, None
    consts = _common_consts(q, causal, varlen, kpm, kernel_rope, kq_off, kk_off)
    out = out.contiguous()
    do = do.contiguous()  # O, dO and dQ share one set of strides in the kernel
    delta = torch.empty_like(lse)
    sl = (0, lse.stride(0), lse.stride(1)) if varlen else (lse.stride(0), lse.stride(1), lse.stride(2))
    dummy = cu_q if cu_q is not None else lse
    cos, sin = (kernel_rope[0], kernel_rope[1]) if kernel_rope is not None else (lse, lse)
    args = (q, k, v, out, do, lse, delta, dq, dk, dv, kpm if kpm is not None else dummy,
            cu_q if varlen else dummy, cu_k if varlen else dummy, cos, sin,
            kq_off if kq_off is not None else dummy, kk_off if kk_off is not None else dummy,
            scale * LOG2E, scale, *_bsh(q, varlen), *_bsh(k, varlen), *_bsh(v, varlen),
            *_bsh(out, varlen), *_bsh(dk, varlen), *sl, kpm.stride(0) if kpm is not None else 0,
            Sq, Sk, H, H // Hkv, _bucket(max(Sq, Sk)))
    # MODE_DQ runs first: it also writes delta = rowsum(dO * O), which MODE_DKDV reads.
    _launch(_bwd_tuned, lambda m: (triton.cdiv(Sq, m["BLOCK_M"]), B * H), args, dict(consts, MODE=MODE_DQ))
    _launch(_bwd_tuned, lambda m: (triton.cdiv(Sk, m["BLOCK_N"]), B * Hkv), args, dict(consts, MODE=MODE_DKDV))
    if rot_q:
        dq = rope_launch(dq, rope[0], rope[1], q_off, interleaved=rope[2], conjugate=True, cu_seqlens=cu_q,
                         max_seqlen=Sq, out_dtype=q_dtype)
    if rot_k:
        dk = rope_launch(dk, rope[0], rope[1], k_off, interleaved=rope[2], conjugate=True, cu_seqlens=cu_k,
                         max_seqlen=Sk, out_dtype=k_dtype)
    return dq, dk, dv


def kv_scatter(cache: torch.Tensor, new: torch.Tensor, cache_seqlens: torch.Tensor) -> None:
    """cache[b, cache_seqlens[b] + j] = new[b, j] in place. cache (B, Smax, Hkv, D), new (B, Snew, Hkv, D)."""
    B, Snew = new.shape[0], new.shape[1]
    rows = cache_seqlens.long()[:, None] + torch.arange(Snew, device=new.device)[None, :]  # (B, Snew)
    cache[torch.arange(B, device=new.device)[:, None], rows] = new.to(cache.dtype)


def optional_int32(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None else t.to(torch.int32).contiguous()
