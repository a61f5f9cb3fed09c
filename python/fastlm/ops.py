"""Attention and rotary embeddings: the public entry points.

    attention(q, k, v, ...)                 fused (FlashAttention-2 style) attention, RoPE optionally fused in
    apply_rope(x, rope, ...)                standalone rotary embedding
    RotaryEmbedding(dim, ...)               cos/sin tables for RoPE
    attention_with_kvcache(q, k_cache, ...) decoding step: append to a KV cache in place, then attend

Dimension legend: B batch, Sq/Sk query/key tokens, T packed tokens, H query heads, Hkv key/value heads,
D head dim, R rotary dim, P table positions.

Dispatch: CUDA tensors run the Triton kernels (fastlm.kernels); CPU tensors run the readable PyTorch reference
(fastlm.kernels.reference), with the same semantics. With TRITON_INTERPRET=1 in the environment, CPU tensors
run the Triton kernels through Triton's interpreter instead (that is how the kernels are tested without a GPU).
Each op is a `torch.library.custom_op` with a fake implementation and a registered autograd formula, so autograd
works and torch.compile(fullgraph=True) traces through it without a graph break. Rejected alternative:
`torch.library.triton_op`, which lets Inductor see the Triton kernel but only covers the CUDA path; the CPU
reference would then need a second op, and attention cannot be fused with its neighbours anyway.

Mixed precision: under torch.autocast (CUDA or CPU) the attention op casts q, k and v to the autocast dtype
together (registered on the op's Autocast dispatch keys, so direct calls of torch.ops.fastlm.attn_fwd and traced
graphs behave the same); the RoPE tables stay float32, and the softmax statistics (LSE) are float32 on every
path. The CPU reference computes float16/bfloat16 inputs in float32 and rounds the result once, as the Triton
kernels accumulate in float32. The KV-cache step keeps the cache's dtype instead (the cache is written in place,
so casting it would copy it on every step): its q / k_new / v_new are cast to the cache dtype.
Rejected alternative: `torch.library.register_autocast`, which casts EVERY floating input to one fixed dtype --
the RoPE tables too (precision loss at large positions), and bfloat16 or float16 chosen once at import time
rather than the dtype of the enclosing autocast region.
"""
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from .kernels import launch as _launch
from .kernels import reference as _ref
from .kernels.checks import check_attention, check_kvcache, check_rope_input, offsets_tensor

__all__ = ["attention", "apply_rope", "RotaryEmbedding", "attention_with_kvcache"]

Tensor = torch.Tensor


class RotaryEmbedding:
    """Rotary position embedding tables: cos/sin of shape (P, R/2), float32, grown on demand per device.

    dim: the rotary dim R (even). When R < head_dim, the FIRST R features of each head are rotated and the rest
    pass through unchanged (contiguous-block partial rotary, as GPT-NeoX's `rotary_pct` and GPT-J's
    `rotary_dim`). interleaved=False pairs feature i with i + R/2 (GPT-NeoX/Llama "half-split");
    interleaved=True pairs 2i with 2i + 1 (GPT-J). Frequencies: base ** (-2i / R), i < R/2.
    scaling: None, {"type": "linear", "factor": f} (position interpolation: positions divided by f) or
    {"type": "ntk", "factor": f} (base multiplied by f ** (R / (R - 2))).
    """

    def __init__(self, dim: int, base: float = 10000.0, interleaved: bool = False,
                 scaling: Optional[Dict[str, Any]] = None, *, max_position: int = 2048):
        if not isinstance(dim, int) or dim <= 0 or dim % 2:
            raise ValueError(f"RotaryEmbedding: dim must be a positive even int, got {dim!r}")
        if base <= 0:
            raise ValueError(f"RotaryEmbedding: base must be > 0, got {base!r}")
        factor = 1.0
        if scaling is not None:
            kind = scaling.get("type") if isinstance(scaling, dict) else None
            factor = float(scaling.get("factor", 0)) if isinstance(scaling, dict) else 0.0
            if kind not in ("linear", "ntk") or factor <= 0:
                raise ValueError("RotaryEmbedding: scaling must be None, {'type': 'linear', 'factor': f} or "
                                 f"{{'type': 'ntk', 'factor': f}} with f > 0; got {scaling!r}")
            if kind == "ntk":
                base = base * factor ** (dim / (dim - 2)) if dim > 2 else base
                factor = 1.0
        self.dim, self.base, self.interleaved, self.scaling = dim, float(base), bool(interleaved), scaling
        self._pos_scale = 1.0 / factor
        self.max_position = int(max_position)
        self._tables: Dict[str, Tuple[Tensor, Tensor]] = {}
        self._explicit: Optional[Tuple[Tensor, Tensor]] = None

    @classmethod
    def from_tables(cls, cos: Tensor, sin: Tensor, interleaved: bool = False) -> "RotaryEmbedding":
        """Use explicit tables cos, sin of shape (P, R/2): entry [p, i] is cos/sin of position p, frequency i."""
        if cos.dim() != 2 or cos.shape != sin.shape:
            raise ValueError(f"rope tables: cos and sin must both be (positions, rotary_dim / 2), got "
                             f"{tuple(cos.shape)} and {tuple(sin.shape)}")
        self = cls(cos.shape[1] * 2, interleaved=interleaved, max_position=cos.shape[0])
        self._explicit = (cos.detach().float().contiguous(), sin.detach().float().contiguous())
        return self

    def tables(self, length: int, device: Union[torch.device, str]) -> Tuple[Tensor, Tensor]:
        """(cos, sin), each (P, R/2) float32 on `device`, with P >= length."""
        if self._explicit is not None:
            cos, sin = self._explicit
            if cos.shape[0] < length:
                raise ValueError(f"rope tables cover {cos.shape[0]} positions but position {length - 1} is needed")
            if cos.device != torch.device(device):
                self._explicit = cos, sin = cos.to(device), sin.to(device)
            return cos, sin
        key = str(device)
        have = self._tables.get(key)
        if have is None or have[0].shape[0] < length:
            n = max(length, self.max_position, 2 * have[0].shape[0] if have is not None else 0)
            # Angles in float64, so positions in the 100k range keep full float32 accuracy.
            inv = self.base ** (-torch.arange(0, self.dim, 2, dtype=torch.float64, device=device) / self.dim)
            ang = torch.arange(n, dtype=torch.float64, device=device)[:, None] * self._pos_scale * inv  # (P, R/2)
            have = (ang.cos().float().contiguous(), ang.sin().float().contiguous())
            self._tables[key] = have
        return have

    def __repr__(self) -> str:
        return (f"RotaryEmbedding(dim={self.dim}, base={self.base}, interleaved={self.interleaved}, "
                f"scaling={self.scaling})")


RopeLike = Union[RotaryEmbedding, Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, bool]]


def _as_rotary(rope: object) -> RotaryEmbedding:
    if isinstance(rope, RotaryEmbedding):
        return rope
    if isinstance(rope, (tuple, list)) and len(rope) in (2, 3) and all(isinstance(t, Tensor) for t in rope[:2]):
        return RotaryEmbedding.from_tables(rope[0], rope[1], interleaved=bool(rope[2]) if len(rope) == 3 else False)
    raise ValueError("rope must be a fastlm.RotaryEmbedding or a (cos, sin[, interleaved]) tuple of "
                     f"(positions, rotary_dim / 2) tensors; got {type(rope).__name__}")


def _use_triton(t: Tensor) -> bool:
    """CUDA tensors, or CPU tensors under TRITON_INTERPRET=1; float64 (CPU only) always takes the reference."""
    return t.is_cuda or (_launch.interpreting() and t.dtype != torch.float64)


# ----------------------------------------------------------------------------------------------------------------
# torch.library ops
# ----------------------------------------------------------------------------------------------------------------
RopeTables = Optional[Tuple[Tensor, Tensor, bool]]
_HALF = (torch.float16, torch.bfloat16)


def _rope_tuple(cos: Optional[Tensor], sin: Optional[Tensor], interleaved: bool) -> RopeTables:
    return None if cos is None or sin is None else (cos, sin, interleaved)


def _f32(t: Optional[Tensor]) -> Optional[Tensor]:
    """The CPU reference runs half-precision inputs in float32 (see the module docstring)."""
    return t.float() if t is not None and t.dtype in _HALF else t


@torch.library.custom_op("fastlm::attn_fwd", mutates_args=())
def _attn_fwd(q: Tensor, k: Tensor, v: Tensor, kpm: Optional[Tensor], cu_q: Optional[Tensor],
              cu_k: Optional[Tensor], seqused_k: Optional[Tensor], cos: Optional[Tensor], sin: Optional[Tensor],
              q_off: Optional[Tensor], k_off: Optional[Tensor], max_seqlen_q: int, max_seqlen_k: int,
              causal: bool, scale: float, interleaved: bool, num_splits: int) -> Tuple[Tensor, Tensor]:
    rope = _rope_tuple(cos, sin, interleaved)
    out: Tensor
    lse: Tensor
    if _use_triton(q):
        out, lse = _launch.attention_forward(
            q, k, v, causal=causal, scale=scale, kpm=None if kpm is None else kpm.view(torch.uint8),
            cu_q=cu_q, cu_k=cu_k, seqused_k=seqused_k, max_seqlen_q=max_seqlen_q, max_seqlen_k=max_seqlen_k,
            rope=rope, q_off=q_off, k_off=k_off, num_splits=num_splits)
        return out, lse
    out, lse = _ref.attention(_f32(q), _f32(k), _f32(v), causal=causal, softmax_scale=scale, rope=rope,
                              rope_q_offsets=q_off, rope_k_offsets=k_off, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k,
                              seqused_k=seqused_k, key_padding_mask=kpm)
    return out.to(q.dtype), lse


@_attn_fwd.register_fake
def _attn_fwd_fake(q: Tensor, k: Tensor, v: Tensor, kpm: Optional[Tensor], cu_q: Optional[Tensor],
                   cu_k: Optional[Tensor], seqused_k: Optional[Tensor], cos: Optional[Tensor],
                   sin: Optional[Tensor], q_off: Optional[Tensor], k_off: Optional[Tensor], max_seqlen_q: int,
                   max_seqlen_k: int, causal: bool, scale: float, interleaved: bool,
                   num_splits: int) -> Tuple[Tensor, Tensor]:
    H = q.shape[-2]
    lse_shape = (H, q.shape[0]) if cu_q is not None else (q.shape[0], H, q.shape[1])
    return torch.empty_like(q, memory_format=torch.contiguous_format), q.new_empty(lse_shape, dtype=torch.float32)


@torch.library.custom_op("fastlm::attn_bwd", mutates_args=())
def _attn_bwd(do: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, kpm: Optional[Tensor],
              cu_q: Optional[Tensor], cu_k: Optional[Tensor], cos: Optional[Tensor], sin: Optional[Tensor],
              q_off: Optional[Tensor], k_off: Optional[Tensor], max_seqlen_q: int, max_seqlen_k: int,
              causal: bool, scale: float, interleaved: bool) -> Tuple[Tensor, Tensor, Tensor]:
    rope = _rope_tuple(cos, sin, interleaved)
    dq: Tensor
    dk: Tensor
    dv: Tensor
    if _use_triton(q):
        dq, dk, dv = _launch.attention_backward(
            do, q, k, v, out, lse, causal=causal, scale=scale, kpm=None if kpm is None else kpm.view(torch.uint8),
            cu_q=cu_q, cu_k=cu_k, max_seqlen_q=max_seqlen_q, max_seqlen_k=max_seqlen_k, rope=rope,
            q_off=q_off, k_off=k_off)
        return dq, dk, dv
    dq, dk, dv = _ref.attention_backward(_f32(do), _f32(q), _f32(k), _f32(v), causal=causal, softmax_scale=scale,
                                         rope=rope, rope_q_offsets=q_off, rope_k_offsets=k_off, cu_seqlens_q=cu_q,
                                         cu_seqlens_k=cu_k, key_padding_mask=kpm)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


@_attn_bwd.register_fake
def _attn_bwd_fake(do: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, kpm: Optional[Tensor],
                   cu_q: Optional[Tensor], cu_k: Optional[Tensor], cos: Optional[Tensor], sin: Optional[Tensor],
                   q_off: Optional[Tensor], k_off: Optional[Tensor], max_seqlen_q: int, max_seqlen_k: int,
                   causal: bool, scale: float, interleaved: bool) -> Tuple[Tensor, Tensor, Tensor]:
    return (torch.empty_like(q, memory_format=torch.contiguous_format),
            torch.empty_like(k, memory_format=torch.contiguous_format),
            torch.empty_like(v, memory_format=torch.contiguous_format))


_FWD_TENSORS = ("q", "k", "v", "kpm", "cu_q", "cu_k", "seqused_k", "cos", "sin", "q_off", "k_off")


def _attn_setup(ctx: Any, inputs: Tuple[Any, ...], output: Tuple[Tensor, Tensor]) -> None:
    (q, k, v, kpm, cu_q, cu_k, seqused_k, cos, sin, q_off, k_off, max_sq, max_sk, causal, scale, inter,
     _splits) = inputs
    ctx.save_for_backward(q, k, v, output[0], output[1], kpm, cu_q, cu_k, cos, sin, q_off, k_off)
    ctx.meta = (max_sq, max_sk, causal, scale, inter)
    ctx.has_seqused = seqused_k is not None
    ctx.mark_non_differentiable(output[1])


def _attn_backward(ctx: Any, dout: Tensor, _dlse: Optional[Tensor]) -> Tuple[Optional[Tensor], ...]:
    if ctx.has_seqused:
        raise NotImplementedError("attention_with_kvcache is inference-only: it has no backward pass")
    q, k, v, out, lse, kpm, cu_q, cu_k, cos, sin, q_off, k_off = ctx.saved_tensors
    dq, dk, dv = _attn_bwd(dout, q, k, v, out, lse, kpm, cu_q, cu_k, cos, sin, q_off, k_off, *ctx.meta)
    return (dq, dk, dv) + (None,) * 14


_attn_fwd.register_autograd(_attn_backward, setup_context=_attn_setup)


@torch.library.custom_op("fastlm::rope", mutates_args=())
def _rope(x: Tensor, cos: Tensor, sin: Tensor, pos_off: Tensor, cu: Optional[Tensor], max_seqlen: int,
          interleaved: bool, conjugate: bool) -> Tensor:
    out: Tensor
    if _use_triton(x):
        out = _launch.rope_launch(x, cos, sin, pos_off, interleaved=interleaved, conjugate=conjugate,
                                  cu_seqlens=cu, max_seqlen=max_seqlen)
        return out
    out = _ref.apply_rope(_f32(x), cos, sin, interleaved=interleaved, pos_offsets=pos_off, cu_seqlens=cu,
                          conjugate=conjugate)
    return out.to(x.dtype)


@_rope.register_fake
def _rope_fake(x: Tensor, cos: Tensor, sin: Tensor, pos_off: Tensor, cu: Optional[Tensor], max_seqlen: int,
               interleaved: bool, conjugate: bool) -> Tensor:
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _rope_setup(ctx: Any, inputs: Tuple[Any, ...], output: Tensor) -> None:
    x, cos, sin, pos_off, cu, max_seqlen, interleaved, conjugate = inputs
    ctx.save_for_backward(cos, sin, pos_off, cu)
    ctx.meta = (max_seqlen, interleaved, not conjugate)


def _rope_backward(ctx: Any, g: Tensor) -> Tuple[Optional[Tensor], ...]:
    cos, sin, pos_off, cu = ctx.saved_tensors
    return (_rope(g.contiguous(), cos, sin, pos_off, cu, *ctx.meta),) + (None,) * 7


_rope.register_autograd(_rope_backward, setup_context=_rope_setup)


# ----------------------------------------------------------------------------------------------------------------
# Autocast
# ----------------------------------------------------------------------------------------------------------------
_AUTOCAST_DEVICES = ("cpu", "cuda")
_AUTOCAST_KEYS = {"cpu": "AutocastCPU", "cuda": "AutocastCUDA"}  # the dispatch keys of those autocast modes


def _autocast_target(device_type: str) -> Optional[torch.dtype]:
    """The dtype of the enclosing torch.autocast region for this device type, or None outside one."""
    if device_type not in _AUTOCAST_DEVICES or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def _cast_to(dtype: Optional[torch.dtype], *ts: Tensor) -> List[Tensor]:
    """Autocast's eligibility rule: floating tensors other than float64 are cast; the rest pass unchanged."""
    if dtype is None:
        return list(ts)
    return [t.to(dtype) if t.is_floating_point() and t.dtype != torch.float64 else t for t in ts]


def _register_autocast(device_type: str) -> None:
    key = _AUTOCAST_KEYS[device_type]

    def attn_fwd_autocast(q: Tensor, k: Tensor, v: Tensor, *rest: Any) -> Tuple[Tensor, Tensor]:
        seqused_k = rest[3]
        if seqused_k is None:  # KV-cache steps keep the cache's dtype (attention_with_kvcache casts q to it)
            q, k, v = _cast_to(torch.get_autocast_dtype(device_type), q, k, v)
        with torch.autocast(device_type, enabled=False):  # the op itself runs outside autocast
            out: Tuple[Tensor, Tensor] = _attn_fwd(q, k, v, *rest)
        return out

    torch.library.impl("fastlm::attn_fwd", key, attn_fwd_autocast)


# attn_bwd runs in the backward pass on the dtypes saved by the forward (already consistent), and rope keeps the
# dtype of x (an elementwise rotation, like autocast's "run in the input dtype" ops): both fall through.
for _device_type in _AUTOCAST_DEVICES:
    _register_autocast(_device_type)


# ----------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------
def attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False, softmax_scale: Optional[float] = None,
              rope: Optional[RopeLike] = None, seqlen_offsets: Union[int, Tensor] = 0,
              cu_seqlens_q: Optional[Tensor] = None, cu_seqlens_k: Optional[Tensor] = None,
              max_seqlen_q: Optional[int] = None, max_seqlen_k: Optional[int] = None,
              key_padding_mask: Optional[Tensor] = None, return_lse: bool = False,
              deterministic: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Scaled dot-product attention softmax(scale * Q K^T + mask) V, fused in one kernel on CUDA.

    Layout (as flash-attention): q (B, Sq, H, D); k, v (B, Sk, Hkv, D) with H % Hkv == 0 (GQA / MQA: query head h
    uses KV head h // (H / Hkv)). Packed variable-length batches: q (Tq, H, D), k/v (Tk, Hkv, D) with
    cu_seqlens_q / cu_seqlens_k (B + 1,) int32 prefix sums (sequence b is rows cu[b]:cu[b+1]) and
    max_seqlen_q / max_seqlen_k (computed from cu_seqlens if omitted, which syncs with the GPU).
    Any strides; the feature dim should have stride 1 (it is copied otherwise). fp16, bf16 or fp32 (float64 too
    on CPU); D from 16 to 256, powers of two or not.

    causal: query i sees key j iff j <= i + Sk - Sq. With Sq != Sk the diagonal is aligned BOTTOM-RIGHT (the
    last query sees every key), as in flash-attention >= 2.1 -- not top-left as in torch's SDPA.
    key_padding_mask: (B, Sk) bool, True = attend (not allowed with cu_seqlens). A query row that can see no key
    at all returns 0 (and LSE -inf), with gradient 0 -- never NaN.
    softmax_scale: defaults to D ** -0.5.

    rope: a RotaryEmbedding or (cos, sin[, interleaved]) tables, applied by the kernels: each Q tile is rotated
    as the kernel loads it; K is rotated once by the rope kernel into a temporary that the attention kernel
    reads (FASTLM_ATTN_ROPE_K=tile rotates every K tile inside the loop instead; fastlm.kernels.launch.rope_k_mode
    says why the pass is the default). The backward rotates dQ / dK back with the inverse rotation. Positions:
    key j of sequence b is at
    seqlen_offsets[b] + j; query i at seqlen_offsets[b] + (Sk_b - Sq_b) + i, i.e. the queries are the last tokens
    of the key sequence (the same alignment as the causal mask; with Sq > Sk the first queries get negative
    positions, a rotation by a negative angle). seqlen_offsets is an int or a (B,) int tensor.
    If rotary dim R < D, only the first R features of each head are rotated (contiguous block).

    Returns out (shaped like q), and with return_lse=True also lse: (B, H, Sq) float32 natural-log
    logsumexp of each row's scaled scores ((H, Tq) when packed). lse is not differentiable.
    deterministic: accepted for API compatibility; the backward pass is always deterministic: dQ comes from its
    own pass over the KV blocks, never from atomic adds (kernels/attention.py says why).
    Under torch.autocast, q, k and v are cast to the autocast dtype together (out has that dtype; lse stays
    float32).
    """
    del deterministic  # always deterministic, see docstring
    if isinstance(q, Tensor) and isinstance(k, Tensor) and isinstance(v, Tensor):
        q, k, v = _cast_to(_autocast_target(q.device.type), q, k, v)
    c = check_attention(q, k, v, causal=causal, softmax_scale=softmax_scale, cu_seqlens_q=cu_seqlens_q,
                        cu_seqlens_k=cu_seqlens_k, max_seqlen_q=max_seqlen_q, max_seqlen_k=max_seqlen_k,
                        key_padding_mask=key_padding_mask)
    cos = sin = q_off = k_off = None
    interleaved = False
    if rope is not None:
        rot = _as_rotary(rope)
        if rot.dim > c.head_dim:
            raise ValueError(f"rope: rotary dim {rot.dim} is larger than head_dim {c.head_dim}")
        k_off = offsets_tensor(seqlen_offsets, c.batch, q.device, "seqlen_offsets")
        # Per-sequence lengths (B,) without a host sync: from cu_seqlens, or the padded sizes.
        if c.cu_q is not None:
            sq_b, sk_b = c.cu_q.diff(), c.cu_k.diff()
        else:
            sq_b, sk_b = q.shape[1], k.shape[1]
        q_off = (k_off + sk_b - sq_b).to(torch.int32)
        need = max(c.max_seqlen_q, c.max_seqlen_k) + (seqlen_offsets if isinstance(seqlen_offsets, int) else
                                 _max_offset(k_off, rot))
        cos, sin = rot.tables(need, q.device)
        interleaved = rot.interleaved
    out, lse = _attn_fwd(c.q, c.k, c.v, c.kpm, c.cu_q, c.cu_k, None, cos, sin, q_off, k_off, c.max_seqlen_q,
                         c.max_seqlen_k, causal, c.scale, interleaved, 1)
    return (out, lse) if return_lse else out


def _max_offset(off: Tensor, rot: RotaryEmbedding) -> int:
    """Largest offset, for sizing the tables. Under torch.compile (no host sync) the tables' size is trusted."""
    if torch.compiler.is_compiling():
        return 0
    return int(off.max()) if off.numel() else 0


def apply_rope(x: Tensor, rope: RopeLike, *, seqlen_offsets: Union[int, Tensor] = 0,
               cu_seqlens: Optional[Tensor] = None, max_seqlen: Optional[int] = None) -> Tensor:
    """Rotate x (B, S, H, D), or packed (T, H, D) with cu_seqlens (B + 1,), by RoPE; returns a new tensor.

    Token s of sequence b is at position seqlen_offsets[b] + s (an int or a (B,) tensor). Conventions as in
    RotaryEmbedding (half-split or interleaved; partial rotary rotates the first R features). Differentiable:
    the gradient is the conjugate (inverse) rotation of the incoming gradient.
    """
    rot = _as_rotary(rope)
    c = check_rope_input(x, rot.dim, cu_seqlens, max_seqlen)
    off = offsets_tensor(seqlen_offsets, c.batch, x.device, "seqlen_offsets")
    need = c.max_seqlen + (seqlen_offsets if isinstance(seqlen_offsets, int) else _max_offset(off, rot))
    cos, sin = rot.tables(need, x.device)
    out: Tensor = _rope(c.x, cos, sin, off, c.cu, c.max_seqlen, rot.interleaved, False)
    return out


def attention_with_kvcache(q: Tensor, k_cache: Tensor, v_cache: Tensor, *, k_new: Optional[Tensor] = None,
                           v_new: Optional[Tensor] = None, cache_seqlens: Union[int, Tensor],
                           rope: Optional[RopeLike] = None, causal: bool = True,
                           softmax_scale: Optional[float] = None, num_splits: int = 0,
                           return_lse: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """One decoding step over a KV cache (inference only, no backward).

    q (B, Sq, H, D); k_cache, v_cache (B, Smax, Hkv, D) hold cache_seqlens[b] valid tokens per row (an int or a
    (B,) int tensor). k_new, v_new (B, Snew, Hkv, D), if given, are first written IN PLACE into the caches at
    rows cache_seqlens[b] .. cache_seqlens[b] + Snew - 1 (k_new rotated by `rope` at those positions, so the
    cache stores rotated keys). Then q (rotated at positions L_b - Sq .. L_b - 1, where L_b = cache_seqlens[b] +
    Snew) attends to the first L_b cache rows, causal bottom-right. The caller advances cache_seqlens.
    Long caches are split across programs (flash-decoding); num_splits=0 picks the split count automatically.
    Under torch.autocast, q, k_new and v_new are cast to the cache's dtype (the cache is updated in place and
    keeps its dtype; allocate it in the autocast dtype to compute in that precision).
    """
    if (isinstance(q, Tensor) and isinstance(k_cache, Tensor) and k_cache.is_floating_point()
            and _autocast_target(q.device.type) is not None):
        q = _cast_to(k_cache.dtype, q)[0]
        if k_new is not None and v_new is not None:
            k_new, v_new = _cast_to(k_cache.dtype, k_new, v_new)
    c = check_kvcache(q, k_cache, v_cache, k_new, v_new, cache_seqlens, softmax_scale)
    lens = c.cache_seqlens
    cos = sin = q_off = None
    interleaved = False
    if rope is not None:
        rot = _as_rotary(rope)
        if rot.dim > c.head_dim:
            raise ValueError(f"rope: rotary dim {rot.dim} is larger than head_dim {c.head_dim}")
        cos, sin = rot.tables(k_cache.shape[1], q.device)
        interleaved = rot.interleaved
    if k_new is not None:
        kn = k_new
        if rope is not None:
            kn = _rope(k_new if k_new.stride(-1) == 1 else k_new.contiguous(), cos, sin, lens, None,
                       k_new.shape[1], interleaved, False)
        _launch.kv_scatter(k_cache, kn, lens)
        _launch.kv_scatter(v_cache, v_new, lens)
    used = (lens + c.snew).to(torch.int32)  # (B,) keys present after the append
    if rope is not None:
        q_off = (used - q.shape[1]).to(torch.int32)
    splits = num_splits if num_splits > 0 else _launch.default_num_splits(
        q, q.shape[1], k_cache.shape[1], q.shape[0], q.shape[2])
    out, lse = _attn_fwd(c.q, k_cache, v_cache, None, None, None, used, cos, sin, q_off, None, q.shape[1],
                         k_cache.shape[1], causal, c.scale, interleaved, splits)
    return (out, lse) if return_lse else out
