"""Fused attention kernels (FlashAttention-2 style), with RoPE applied to Q/K tiles as they are loaded (ROPE_Q /
ROPE_K; the launcher sets only ROPE_Q by default and pre-rotates K, see launch.rope_k_mode).

Dimension legend:
    B   batch (sequences)          Sq, Sk  query / key tokens of one sequence (per-sequence in varlen mode)
    H   query heads                Hkv     key/value heads; G = H // Hkv query heads share one KV head (GQA/MQA)
    D   head dim                   DP      D padded to a power of two (>= 16); lanes d >= D are masked to 0
    M   BLOCK_M query rows of a tile          N   BLOCK_N key rows of a tile
    R   rotary dim (first R features rotated)

Layouts: q (B, Sq, H, D), k/v (B, Sk, Hkv, D), any strides with a unit feature stride; or packed varlen
(T, H, D) with cu_seqlens (B + 1,) int32 -- then the batch stride is 0 and a sequence starts at row cu[b].
LSE is stored in natural log: (B, H, Sq), or (H, Tq) packed. Split-KV partials live at an extra leading dim.

Masking: query row i sees key j iff j < Sk, key_padding_mask[b, j] (if given), and, when CAUSAL,
j <= i + (Sk - Sq) (diagonal aligned bottom-right). Softmax runs in base 2 on scores scaled by scale*log2(e).
A row that sees nothing keeps m = -inf; the kernel then subtracts 0 instead of m so that exp2(-inf - -inf)
never produces NaN, writes output 0 and LSE -inf. The backward treats LSE -inf as +inf, so P = 0 there.

Backward: ONE kernel with MODE constexpr, launched twice.
    MODE_DQ:   one program per (Q block, b, h). Computes delta = rowsum(dO * O) for its rows (stored for the next
               launch), loops over KV blocks and accumulates dQ.
    MODE_DKDV: one program per (KV block, b, kv head). Loops over the G query heads of the group and over Q
               blocks, accumulating dK and dV in registers.
Rejected alternative: accumulating dQ with atomic adds inside the dK/dV pass saves recomputing QK^T and dP^T,
but fp32 atomics make the result run-to-run nondeterministic and need a zeroed fp32 buffer; two passes are
deterministic, so `deterministic=True` costs nothing extra.
With ROPE, dQ/dK are written unrotated-back (gradients w.r.t. the rotated Q/K, float32) and the launcher applies
the conjugate rotation with the rope kernel. Rejected alternative: rotating the accumulator in registers, which
needs the feature partner of a register value -- either a (DP, DP) permutation matmul (DP^2 registers, spills at
D = 256, and tf32 would round the gradient) or a store/barrier/reload round trip through global memory that
costs the same traffic as the separate pass.

GPU notes (kernels/aot.py compiles these for sm_90 / sm_80 on any machine): accumulation is float32 everywhere
(tl.dot into f32 accumulators; P and dS are rounded to the input dtype only as matmul operands); causal programs
skip the KV blocks above the diagonal (forward, dQ) or the Q blocks before it (dK/dV); GQA maps query head h to
KV head h // G by index, K/V are never repeated. In the forward, K/V tiles inside the sequence are loaded without
a row mask; every load drops the feature mask when D == DP. The backward passes keep ONE loop each (masked
loads, a runtime switch for the score mask in dQ): split
into masked / unmasked constexpr loops (as the forward is) they need 35% more registers (dQ, D = 128: 177 -> 240)
and spill in dK/dV.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .rope import rope_load

MODE_DQ = 0
MODE_DKDV = 1


@triton.jit
def _seq_info(CU_Q, CU_K, SEQUSED_K, b, SEQ_Q, SEQ_K, VARLEN: tl.constexpr, HAS_SEQUSED: tl.constexpr):
    """Start row and length of sequence b for Q and K (start rows are 0 in padded mode)."""
    if VARLEN:
        q0 = tl.load(CU_Q + b)
        sq = tl.load(CU_Q + b + 1) - q0
        k0 = tl.load(CU_K + b)
        sk = tl.load(CU_K + b + 1) - k0
    else:
        q0 = b * 0
        k0 = b * 0
        sq = SEQ_Q + b * 0
        sk = SEQ_K + b * 0
    if HAS_SEQUSED:
        sk = tl.load(SEQUSED_K + b)
    return q0, sq, k0, sk


@triton.jit
def _load_tile(ptr, rows, stride_row, row_mask, offs_d, D: tl.constexpr, DP: tl.constexpr, ROPE: tl.constexpr,
               pos, COS, SIN, ROTARY_DIM: tl.constexpr, INTERLEAVED: tl.constexpr, MASK_ROWS: tl.constexpr):
    """(M, DP) tile of rows `rows`, rotated if ROPE, in the tensor's dtype; masked entries are 0.

    MASK_ROWS=False is for tiles known to lie inside the sequence, and D == DP drops the feature mask: the
    steady-state K/V loads of the inner loops are then unpredicated, so they vectorise and pipeline fully.
    Rejected alternative: one mask `row_ok & (d < D)` everywhere, which leaves the predicate on every load."""
    if ROPE:
        x = rope_load(ptr, rows, stride_row, offs_d, row_mask, D, DP, pos, COS, SIN, ROTARY_DIM, INTERLEAVED,
                      MASK_ROWS)
        x = x.to(ptr.dtype.element_ty)
    else:
        ptrs = ptr + rows[:, None] * stride_row + offs_d[None, :]
        if MASK_ROWS:
            if D == DP:
                x = tl.load(ptrs, mask=row_mask[:, None], other=0.0)
            else:
                x = tl.load(ptrs, mask=row_mask[:, None] & (offs_d[None, :] < D), other=0.0)
        else:
            if D == DP:
                x = tl.load(ptrs)
            else:
                x = tl.load(ptrs, mask=offs_d[None, :] < D, other=0.0)
    return x


@triton.jit
def _score_mask(s, offs_m, offs_n, sq, sk, diag, KPM_row, HAS_KPM: tl.constexpr, CAUSAL: tl.constexpr,
                BOUNDS: tl.constexpr, TRANSPOSED: tl.constexpr):
    """Set masked scores to -inf. s is (M, N), or (N, M) when TRANSPOSED. BOUNDS=False skips the seqlen/causal
    tests for tiles known to be fully inside (the key padding mask always applies)."""
    if TRANSPOSED:
        i = offs_m[None, :]
        j = offs_n[:, None]
    else:
        i = offs_m[:, None]
        j = offs_n[None, :]
    if BOUNDS:
        keep = (j < sk) & (i < sq)
        if CAUSAL:
            keep = keep & (j <= i + diag)
        s = tl.where(keep, s, float("-inf"))
    if HAS_KPM:
        kp = tl.load(KPM_row + offs_n, mask=offs_n < sk, other=0) != 0
        if TRANSPOSED:
            s = tl.where(kp[:, None], s, float("-inf"))
        else:
            s = tl.where(kp[None, :], s, float("-inf"))
    return s


@triton.jit
def _q_block(pid, CAUSAL: tl.constexpr):
    """Index of the Q block a program handles. Causal grids run the last (longest) blocks first, so the short
    ones fill the tail of the launch instead of the long ones running alone at the end."""
    if CAUSAL:
        return tl.num_programs(0) - 1 - pid
    else:
        return pid


@triton.jit
def _fwd_block_range(start_m, sq, sk, diag, split_lo, split_hi, CAUSAL: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """KV range [lo, hi) a Q block needs, and `mid`: blocks in [lo, mid) need no seqlen/causal mask.
    Every bound here is >= 0 before a division (Triton divides integers toward zero, Python toward -inf)."""
    hi = tl.minimum(sk, split_hi)
    full = sk
    if CAUSAL:
        hi = tl.minimum(hi, start_m + BLOCK_M + diag)  # last row of the block sees keys < start_m+M+diag
        full = tl.minimum(full, start_m + 1 + diag)  # first row of the block sees keys < start_m+1+diag
    lo = split_lo
    hi = tl.maximum(hi, lo)
    mid = tl.minimum(tl.maximum((tl.maximum(full, 0) // BLOCK_N) * BLOCK_N, lo), hi)
    if start_m + BLOCK_M > sq:  # rows past the end: keep them masked everywhere
        mid = lo
    return lo, mid, hi


@triton.jit
def _fwd_inner(acc, m_i, l_i, q, K_ptr, V_ptr, stride_ks, stride_vs, offs_m, offs_d, lo, hi, sq, sk, diag,
               KPM_row, k_pos0, COS, SIN, scale_log2,
               D: tl.constexpr, DP: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr,
               BOUNDS: tl.constexpr, HAS_KPM: tl.constexpr, ROPE_K: tl.constexpr, ROTARY_DIM: tl.constexpr,
               INTERLEAVED: tl.constexpr, PREC: tl.constexpr):
    """Online softmax over KV blocks [lo, hi). acc (M, DP) f32, m_i/l_i (M,) f32, in log2 units."""
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        n_ok = offs_n < sk
        k = _load_tile(K_ptr, offs_n, stride_ks, n_ok, offs_d, D, DP, ROPE_K, k_pos0 + offs_n, COS, SIN,
                       ROTARY_DIM, INTERLEAVED, BOUNDS)  # (N, DP)
        s = tl.dot(q, tl.trans(k), input_precision=PREC) * scale_log2  # (M, N), log2 units
        s = _score_mask(s, offs_m, offs_n, sq, sk, diag, KPM_row, HAS_KPM, CAUSAL, BOUNDS, False)
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)  # all-masked-so-far rows: avoid -inf - -inf
        p = tl.math.exp2(s - m_use[:, None])  # (M, N)
        alpha = tl.math.exp2(m_i - m_use)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = _load_tile(V_ptr, offs_n, stride_vs, n_ok, offs_d, D, DP, False, offs_n, COS, SIN, ROTARY_DIM,
                       INTERLEAVED, BOUNDS)  # (N, DP)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision=PREC)  # (M, DP)
        m_i = m_new
    return acc, m_i, l_i


@triton.jit
def attn_fwd_kernel(
    Q, K, V, O, LSE, KPM, CU_Q, CU_K, SEQUSED_K, COS, SIN, ROPE_Q_OFF, ROPE_K_OFF,
    scale_log2,
    stride_qb, stride_qs, stride_qh, stride_kb, stride_ks, stride_kh, stride_vb, stride_vs, stride_vh,
    stride_ob, stride_os, stride_oh, stride_osplit, stride_lb, stride_lh, stride_ls, stride_lsplit, stride_mb,
    SEQ_Q, SEQ_K, H, GROUP, split_len, SEQ_BUCKET,
    D: tl.constexpr, DP: tl.constexpr, CAUSAL: tl.constexpr, VARLEN: tl.constexpr, HAS_SEQUSED: tl.constexpr,
    HAS_KPM: tl.constexpr, ROPE_Q: tl.constexpr, ROPE_K: tl.constexpr, ROTARY_DIM: tl.constexpr,
    INTERLEAVED: tl.constexpr, PREC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    # grid: (cdiv(max Sq, M), B * H, num_splits). Split s covers keys [s*split_len, (s+1)*split_len).
    pid_m = _q_block(tl.program_id(0), CAUSAL)
    pid_bh = tl.program_id(1)
    pid_split = tl.program_id(2)
    b = pid_bh // H
    h = pid_bh % H
    kvh = h // GROUP  # GQA: index mapping, K/V are never repeated
    q0, sq, k0, sk = _seq_info(CU_Q, CU_K, SEQUSED_K, b, SEQ_Q, SEQ_K, VARLEN, HAS_SEQUSED)
    start_m = pid_m * BLOCK_M
    if start_m >= sq:
        return
    diag = sk - sq
    b64 = b.to(tl.int64)
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, DP)
    m_ok = offs_m < sq
    Q_ptr = Q + b64 * stride_qb + q0.to(tl.int64) * stride_qs + h * stride_qh
    K_ptr = K + b64 * stride_kb + k0.to(tl.int64) * stride_ks + kvh * stride_kh
    V_ptr = V + b64 * stride_vb + k0.to(tl.int64) * stride_vs + kvh * stride_vh
    KPM_row = KPM + b64 * stride_mb
    q_pos0 = 0
    k_pos0 = 0
    if ROPE_Q:
        q_pos0 = tl.load(ROPE_Q_OFF + b)
    if ROPE_K:
        k_pos0 = tl.load(ROPE_K_OFF + b)
    q = _load_tile(Q_ptr, offs_m, stride_qs, m_ok, offs_d, D, DP, ROPE_Q, q_pos0 + offs_m, COS, SIN, ROTARY_DIM,
                   INTERLEAVED, True)  # (M, DP)

    acc = tl.zeros([BLOCK_M, DP], dtype=tl.float32)
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    split_lo = pid_split * split_len
    lo, mid, hi = _fwd_block_range(start_m, sq, sk, diag, split_lo, split_lo + split_len, CAUSAL,
                                   BLOCK_M, BLOCK_N)
    acc, m_i, l_i = _fwd_inner(acc, m_i, l_i, q, K_ptr, V_ptr, stride_ks, stride_vs, offs_m, offs_d, lo, mid,
                               sq, sk, diag, KPM_row, k_pos0, COS, SIN, scale_log2, D, DP, BLOCK_N, CAUSAL, False,
                               HAS_KPM, ROPE_K, ROTARY_DIM, INTERLEAVED, PREC)
    acc, m_i, l_i = _fwd_inner(acc, m_i, l_i, q, K_ptr, V_ptr, stride_ks, stride_vs, offs_m, offs_d, mid, hi,
                               sq, sk, diag, KPM_row, k_pos0, COS, SIN, scale_log2, D, DP, BLOCK_N, CAUSAL, True,
                               HAS_KPM, ROPE_K, ROTARY_DIM, INTERLEAVED, PREC)

    dead = l_i == 0.0  # no visible key (or an empty split): output 0, LSE -inf
    out = acc / tl.where(dead, 1.0, l_i)[:, None]
    lse = tl.where(dead, float("-inf"), (m_i + tl.math.log2(tl.where(dead, 1.0, l_i))) * 0.6931471805599453)
    split64 = pid_split.to(tl.int64)
    O_ptr = O + split64 * stride_osplit + b64 * stride_ob + q0.to(tl.int64) * stride_os + h * stride_oh
    tl.store(O_ptr + offs_m[:, None] * stride_os + offs_d[None, :], out.to(O.dtype.element_ty),
             mask=m_ok[:, None] & (offs_d[None, :] < D))
    L_ptr = LSE + split64 * stride_lsplit + b64 * stride_lb + h * stride_lh + q0.to(tl.int64) * stride_ls
    tl.store(L_ptr + offs_m * stride_ls, lse, mask=m_ok)


@triton.jit
def _dkdv_inner(dk, dv, k, v, Q_ptr, DO_ptr, L_ptr, D_ptr, stride_qs, stride_os, stride_ls, offs_n, offs_d,
                lo, hi, sq, sk, diag, KPM_row, q_pos0, COS, SIN, scale_log2,
                D: tl.constexpr, DP: tl.constexpr, BLOCK_M: tl.constexpr, CAUSAL: tl.constexpr,
                BOUNDS: tl.constexpr, HAS_KPM: tl.constexpr, ROPE_Q: tl.constexpr, ROTARY_DIM: tl.constexpr,
                INTERLEAVED: tl.constexpr, PREC: tl.constexpr):
    """dV += P^T dO and dK += dS^T Q over the Q blocks [lo, hi) of one query head. dk, dv (N, DP) f32."""
    for start_m in range(lo, hi, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        m_ok = offs_m < sq
        q = _load_tile(Q_ptr, offs_m, stride_qs, m_ok, offs_d, D, DP, ROPE_Q, q_pos0 + offs_m, COS, SIN,
                       ROTARY_DIM, INTERLEAVED, BOUNDS)  # (M, DP)
        do = _load_tile(DO_ptr, offs_m, stride_os, m_ok, offs_d, D, DP, False, offs_m, COS, SIN, ROTARY_DIM,
                        INTERLEAVED, BOUNDS)  # (M, DP)
        if BOUNDS:
            lse2 = tl.load(L_ptr + offs_m * stride_ls, mask=m_ok, other=0.0) * 1.4426950408889634
            delta = tl.load(D_ptr + offs_m * stride_ls, mask=m_ok, other=0.0)
        else:
            lse2 = tl.load(L_ptr + offs_m * stride_ls) * 1.4426950408889634
            delta = tl.load(D_ptr + offs_m * stride_ls)
        lse2 = tl.where(lse2 == float("-inf"), float("inf"), lse2)  # dead rows: P = 0
        sT = tl.dot(k, tl.trans(q), input_precision=PREC) * scale_log2  # (N, M)
        sT = _score_mask(sT, offs_m, offs_n, sq, sk, diag, KPM_row, HAS_KPM, CAUSAL, BOUNDS, True)
        pT = tl.math.exp2(sT - lse2[None, :])  # (N, M)
        dv = tl.dot(pT.to(do.dtype), do, dv, input_precision=PREC)  # (N, DP)
        dpT = tl.dot(v, tl.trans(do), input_precision=PREC)  # (N, M)
        dsT = pT * (dpT - delta[None, :])
        dk = tl.dot(dsT.to(q.dtype), q, dk, input_precision=PREC)  # (N, DP)
    return dk, dv


@triton.jit
def attn_bwd_kernel(
    Q, K, V, O, DO, LSE, DELTA, DQ, DK, DV, KPM, CU_Q, CU_K, COS, SIN, ROPE_Q_OFF, ROPE_K_OFF,
    scale_log2, scale,
    stride_qb, stride_qs, stride_qh, stride_kb, stride_ks, stride_kh, stride_vb, stride_vs, stride_vh,
    stride_ob, stride_os, stride_oh, stride_gb, stride_gs, stride_gh,
    stride_lb, stride_lh, stride_ls, stride_mb,
    SEQ_Q, SEQ_K, H, GROUP, SEQ_BUCKET,
    MODE: tl.constexpr, D: tl.constexpr, DP: tl.constexpr, CAUSAL: tl.constexpr, VARLEN: tl.constexpr,
    HAS_KPM: tl.constexpr, ROPE_Q: tl.constexpr, ROPE_K: tl.constexpr, ROTARY_DIM: tl.constexpr,
    INTERLEAVED: tl.constexpr, PREC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    # O, DO and DQ share strides stride_o*; DK and DV share strides stride_g*. LSE and DELTA share stride_l*.
    pid = tl.program_id(0)
    pid_bh = tl.program_id(1)
    if MODE == 1:  # MODE_DKDV programs run per KV head
        Hg = H // GROUP
    else:
        Hg = H
    b = pid_bh // Hg
    hh = pid_bh % Hg
    q0, sq, k0, sk = _seq_info(CU_Q, CU_K, CU_Q, b, SEQ_Q, SEQ_K, VARLEN, False)
    diag = sk - sq
    b64 = b.to(tl.int64)
    offs_d = tl.arange(0, DP)
    d_ok = offs_d[None, :] < D
    q_pos0 = 0
    k_pos0 = 0
    if ROPE_Q:
        q_pos0 = tl.load(ROPE_Q_OFF + b)
    if ROPE_K:
        k_pos0 = tl.load(ROPE_K_OFF + b)
    KPM_row = KPM + b64 * stride_mb
    qrow = b64 * stride_qb + q0.to(tl.int64) * stride_qs
    orow = b64 * stride_ob + q0.to(tl.int64) * stride_os
    lrow = b64 * stride_lb + q0.to(tl.int64) * stride_ls
    if MODE == 0:
        # ---- dQ for one (Q block, b, h) ----------------------------------------------------------------------
        h = hh
        kvh = h // GROUP
        start_m = _q_block(pid, CAUSAL) * BLOCK_M
        if start_m >= sq:
            return
        offs_m = start_m + tl.arange(0, BLOCK_M)
        m_ok = offs_m < sq
        md = m_ok[:, None] & d_ok
        q = _load_tile(Q + qrow + h * stride_qh, offs_m, stride_qs, m_ok, offs_d, D, DP, ROPE_Q, q_pos0 + offs_m,
                       COS, SIN, ROTARY_DIM, INTERLEAVED, True)  # (M, DP)
        o_off = orow + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :]
        do = tl.load(DO + o_off, mask=md, other=0.0)  # (M, DP)
        o = tl.load(O + o_off, mask=md, other=0.0)
        delta = tl.sum(do.to(tl.float32) * o.to(tl.float32), 1)  # (M,)
        l_off = lrow + h * stride_lh + offs_m * stride_ls
        tl.store(DELTA + l_off, delta, mask=m_ok)
        lse2 = tl.load(LSE + l_off, mask=m_ok, other=0.0) * 1.4426950408889634
        lse2 = tl.where(lse2 == float("-inf"), float("inf"), lse2)  # dead rows: P = 0
        K_ptr = K + b64 * stride_kb + k0.to(tl.int64) * stride_ks + kvh * stride_kh
        V_ptr = V + b64 * stride_vb + k0.to(tl.int64) * stride_vs + kvh * stride_vh
        dq = tl.zeros([BLOCK_M, DP], dtype=tl.float32)
        # One loop, with the seqlen/causal mask switched on at runtime from `mid` on. Rejected alternative: two
        # loops with a constexpr mask flag, as in the forward -- kernels/aot.py shows it raising the registers
        # of this kernel from 177 to 240 per thread (D = 128, sm_90): q, dO and the accumulator stay live
        # across both loops, each with its own pipelined copies.
        lo, mid, hi = _fwd_block_range(start_m, sq, sk, diag, 0, sk, CAUSAL, BLOCK_M, BLOCK_N)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            n_ok = offs_n < sk
            k = _load_tile(K_ptr, offs_n, stride_ks, n_ok, offs_d, D, DP, ROPE_K, k_pos0 + offs_n, COS, SIN,
                           ROTARY_DIM, INTERLEAVED, True)  # (N, DP)
            v = _load_tile(V_ptr, offs_n, stride_vs, n_ok, offs_d, D, DP, False, offs_n, COS, SIN, ROTARY_DIM,
                           INTERLEAVED, True)
            s = tl.dot(q, tl.trans(k), input_precision=PREC) * scale_log2  # (M, N)
            s = _score_mask(s, offs_m, offs_n, sq, sk, diag, KPM_row, HAS_KPM, CAUSAL, start_n >= mid, False)
            p = tl.math.exp2(s - lse2[:, None])  # (M, N)
            dp = tl.dot(do, tl.trans(v), input_precision=PREC)  # (M, N)
            ds = p * (dp - delta[:, None])
            dq = tl.dot(ds.to(k.dtype), k, dq, input_precision=PREC)  # (M, DP)
        dq = dq * scale
        tl.store(DQ + orow + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :],
                 dq.to(DQ.dtype.element_ty), mask=md)
    else:
        # ---- dK, dV for one (KV block, b, kv head), summed over the G query heads of the group -------------
        kvh = hh
        start_n = pid * BLOCK_N
        if start_n >= sk:
            return
        offs_n = start_n + tl.arange(0, BLOCK_N)
        n_ok = offs_n < sk
        K_ptr = K + b64 * stride_kb + k0.to(tl.int64) * stride_ks + kvh * stride_kh
        V_ptr = V + b64 * stride_vb + k0.to(tl.int64) * stride_vs + kvh * stride_vh
        k = _load_tile(K_ptr, offs_n, stride_ks, n_ok, offs_d, D, DP, ROPE_K, k_pos0 + offs_n, COS, SIN,
                       ROTARY_DIM, INTERLEAVED, True)  # (N, DP)
        v = _load_tile(V_ptr, offs_n, stride_vs, n_ok, offs_d, D, DP, False, offs_n, COS, SIN, ROTARY_DIM,
                       INTERLEAVED, True)
        dk = tl.zeros([BLOCK_N, DP], dtype=tl.float32)
        dv = tl.zeros([BLOCK_N, DP], dtype=tl.float32)
        # One loop per query head, masked everywhere (a mask is a few selects per element, next to 4 dots).
        # Rejected alternative: separate masked / unmasked Q-block ranges with a constexpr flag -- kernels/aot.py
        # shows it spilling here (D = 128, sm_90, every block config tried), where one loop does not.
        lo_m = 0
        if CAUSAL:  # rows i < start_n - diag see none of these keys
            lo_m = tl.maximum(start_n - diag, 0) // BLOCK_M * BLOCK_M
        for g in range(0, GROUP):
            h = kvh * GROUP + g
            dk, dv = _dkdv_inner(dk, dv, k, v, Q + qrow + h * stride_qh, DO + orow + h * stride_oh,
                                 LSE + lrow + h * stride_lh, DELTA + lrow + h * stride_lh, stride_qs, stride_os,
                                 stride_ls, offs_n, offs_d, lo_m, sq, sq, sk, diag, KPM_row, q_pos0, COS, SIN,
                                 scale_log2, D, DP, BLOCK_M, CAUSAL, True, HAS_KPM, ROPE_Q, ROTARY_DIM,
                                 INTERLEAVED, PREC)
        dk = dk * scale
        nd = n_ok[:, None] & d_ok
        g_off = b64 * stride_gb + k0.to(tl.int64) * stride_gs + kvh * stride_gh + offs_n[:, None] * stride_gs \
            + offs_d[None, :]
        tl.store(DK + g_off, dk.to(DK.dtype.element_ty), mask=nd)
        tl.store(DV + g_off, dv.to(DV.dtype.element_ty), mask=nd)
