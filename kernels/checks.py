"""Input validation for the attention / RoPE entry points. Every error is a ValueError that says what was expected.

Dimension legend: B batch, Sq/Sk query/key tokens, T packed tokens, H query heads, Hkv key/value heads,
D head dim, R rotary dim.

The kernels need a unit stride on the feature dim (D); any other stride is passed through. A tensor whose feature
dim is strided is copied once here rather than rejected.
"""
from __future__ import annotations

from typing import Optional

import torch



class Checked:
    """The validated (and possibly re-strided) arguments of one call."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


DTYPES = (torch.float16, torch.bfloat16, torch.float32)
MAX_HEAD_DIM = 256


def _unit_feature_stride(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


def _tensor(name: str, t) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    return t


def _same_device_dtype(ref_name: str, ref: torch.Tensor, **others) -> None:
    if ref.dtype not in DTYPES and not (ref.dtype == torch.float64 and ref.device.type == "cpu"):
        raise ValueError(f"{ref_name} must be float16, bfloat16 or float32 (or float64 on CPU), got {ref.dtype}")
    for name, t in others.items():
        if t.device != ref.device:
            raise ValueError(f"{name} is on {t.device} but {ref_name} is on {ref.device}; move them to one device")
        if t.dtype != ref.dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but {ref_name} has {ref.dtype}; they must match")


def _head_dims(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: str) -> None:
    H, Hkv, D = q.shape[-2], k.shape[-2], q.shape[-1]
    if k.shape[-1] != D or v.shape[-1] != D:
        raise ValueError(f"head_dim mismatch: q has {D}, k has {k.shape[-1]}, v has {v.shape[-1]} "
                         f"(expected q {layout} with the same D everywhere)")
    if not 1 <= D <= MAX_HEAD_DIM:
        raise ValueError(f"head_dim must be between 1 and {MAX_HEAD_DIM}, got {D}")
    if v.shape[-2] != Hkv:
        raise ValueError(f"k has {Hkv} heads but v has {v.shape[-2]}; they must match")
    if Hkv == 0 or H % Hkv:
        raise ValueError(f"q has {H} heads, which is not a multiple of the {Hkv} key/value heads (GQA needs "
                         "heads % kv_heads == 0)")


def _cu(name: str, cu, device) -> torch.Tensor:
    cu = _tensor(name, cu)
    if cu.dim() != 1 or cu.numel() < 1 or cu.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"{name} must be a 1-D int32 tensor of B + 1 prefix sums, got shape {tuple(cu.shape)} "
                         f"and dtype {cu.dtype}")
    if cu.device != device:
        raise ValueError(f"{name} is on {cu.device} but q is on {device}")
    return cu.to(torch.int32).contiguous()


def _cu_bounds(name: str, cu: torch.Tensor, total: int, given_max: Optional[int]) -> None:
    """cu must start at 0, never decrease and end inside the packed tensor, or the kernel reads past its end.
    Checked on CPU always; on a GPU only when max_seqlen is omitted (that call syncs anyway): a check would cost
    a host sync per call, which the explicit max_seqlen exists to avoid."""
    if cu.device.type != "cpu" and given_max is not None:
        return
    if cu.numel() == 0:
        return
    d = cu.diff()
    if int(cu[0]) != 0 or (d.numel() and int(d.min()) < 0) or int(cu[-1]) > total:
        raise ValueError(f"{name} must start at 0, never decrease and end at most at the {total} packed rows; "
                         f"got {cu.tolist()[:8]}{'...' if cu.numel() > 8 else ''} (last {int(cu[-1])})")
    if given_max is not None and d.numel() and int(d.max()) > given_max:
        raise ValueError(f"a sequence in {name} has {int(d.max())} tokens, more than max_seqlen={given_max}")


def _max_len(cu: torch.Tensor, given: Optional[int], name: str) -> int:
    if given is not None:
        if not isinstance(given, int) or given < 0:
            raise ValueError(f"{name} must be a non-negative int, got {given!r}")
        return given
    return int(cu.diff().max()) if cu.numel() > 1 else 0  # host sync; pass it explicitly to avoid


def _scale(softmax_scale, D: int) -> float:
    if softmax_scale is None:
        return D ** -0.5
    if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
        raise ValueError(f"softmax_scale must be a float or None, got {softmax_scale!r}")
    return float(softmax_scale)


def check_attention(q, k, v, *, causal, softmax_scale, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                    key_padding_mask) -> Checked:
    q, k, v = _tensor("q", q), _tensor("k", k), _tensor("v", v)
    _same_device_dtype("q", q, k=k, v=v)
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be a bool, got {causal!r}")
    varlen = cu_seqlens_q is not None or cu_seqlens_k is not None
    c = Checked(kpm=None, cu_q=None, cu_k=None)
    if varlen:
        if cu_seqlens_q is None or cu_seqlens_k is None:
            raise ValueError("packed (varlen) attention needs both cu_seqlens_q and cu_seqlens_k")
        if q.dim() != 3 or k.dim() != 3 or v.dim() != 3:
            raise ValueError("with cu_seqlens, q must be (total_q, heads, head_dim) and k, v (total_k, kv_heads, "
                             f"head_dim); got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
        if k.shape[0] != v.shape[0]:
            raise ValueError(f"k has {k.shape[0]} tokens but v has {v.shape[0]}")
        c.cu_q, c.cu_k = _cu("cu_seqlens_q", cu_seqlens_q, q.device), _cu("cu_seqlens_k", cu_seqlens_k, q.device)
        if c.cu_q.numel() != c.cu_k.numel():
            raise ValueError(f"cu_seqlens_q has {c.cu_q.numel()} entries but cu_seqlens_k has {c.cu_k.numel()}; "
                             "both must be B + 1")
        if key_padding_mask is not None:
            raise ValueError("key_padding_mask cannot be combined with cu_seqlens: packed sequences have no padding")
        _head_dims(q, k, v, "(total_q, heads, head_dim)")
        c.batch = c.cu_q.numel() - 1
        _cu_bounds("cu_seqlens_q", c.cu_q, q.shape[0], max_seqlen_q)
        _cu_bounds("cu_seqlens_k", c.cu_k, k.shape[0], max_seqlen_k)
        c.max_seqlen_q = _max_len(c.cu_q, max_seqlen_q, "max_seqlen_q")
        c.max_seqlen_k = _max_len(c.cu_k, max_seqlen_k, "max_seqlen_k")
    else:
        if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
            raise ValueError("q must be (batch, seqlen_q, heads, head_dim) and k, v (batch, seqlen_k, kv_heads, "
                             f"head_dim); got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} "
                             "(for packed sequences pass cu_seqlens_q/cu_seqlens_k)")
        if not (q.shape[0] == k.shape[0] == v.shape[0]):
            raise ValueError(f"batch mismatch: q {q.shape[0]}, k {k.shape[0]}, v {v.shape[0]}")
        if k.shape[1] != v.shape[1]:
            raise ValueError(f"k has seqlen {k.shape[1]} but v has {v.shape[1]}")
        _head_dims(q, k, v, "(batch, seqlen_q, heads, head_dim)")
        c.batch, c.max_seqlen_q, c.max_seqlen_k = q.shape[0], q.shape[1], k.shape[1]
        if key_padding_mask is not None:
            m = _tensor("key_padding_mask", key_padding_mask)
            if m.dtype != torch.bool or tuple(m.shape) != (q.shape[0], k.shape[1]):
                raise ValueError(f"key_padding_mask must be a bool tensor of shape (batch, seqlen_k) = "
                                 f"{(q.shape[0], k.shape[1])} with True = attend; got {m.dtype} {tuple(m.shape)}")
            if m.device != q.device:
                raise ValueError(f"key_padding_mask is on {m.device} but q is on {q.device}")
            c.kpm = m if m.stride(-1) == 1 else m.contiguous()
    c.q, c.k, c.v = _unit_feature_stride(q), _unit_feature_stride(k), _unit_feature_stride(v)
    c.head_dim = q.shape[-1]
    c.scale = _scale(softmax_scale, c.head_dim)
    return c


def offsets_tensor(off, batch: int, device, name: str) -> torch.Tensor:
    """An int or a (B,) integer tensor -> (B,) int32 tensor on `device`."""
    if isinstance(off, bool) or not isinstance(off, (int, torch.Tensor)):
        raise ValueError(f"{name} must be an int or a (batch,) integer tensor, got {type(off).__name__}")
    if isinstance(off, int):
        if off < 0:
            raise ValueError(f"{name} must be >= 0, got {off}")
        return torch.full((batch,), off, dtype=torch.int32, device=device)
    if off.dtype not in (torch.int32, torch.int64) or tuple(off.shape) != (batch,):
        raise ValueError(f"{name} must be an integer tensor of shape ({batch},), got {off.dtype} "
                         f"{tuple(off.shape)}")
    if off.device != torch.device(device):
        raise ValueError(f"{name} is on {off.device} but the inputs are on {device}")
    return off.to(torch.int32).contiguous()


def check_rope_input(x, rotary_dim: int, cu_seqlens, max_seqlen) -> Checked:
    x = _tensor("x", x)
    if x.dtype not in DTYPES and not (x.dtype == torch.float64 and x.device.type == "cpu"):
        raise ValueError(f"x must be float16, bfloat16 or float32 (or float64 on CPU), got {x.dtype}")
    c = Checked(cu=None)
    if cu_seqlens is not None:
        if x.dim() != 3:
            raise ValueError(f"with cu_seqlens, x must be (total, heads, head_dim), got {tuple(x.shape)}")
        c.cu = _cu("cu_seqlens", cu_seqlens, x.device)
        _cu_bounds("cu_seqlens", c.cu, x.shape[0], max_seqlen)
        c.batch = c.cu.numel() - 1
        c.max_seqlen = _max_len(c.cu, max_seqlen, "max_seqlen")
    else:
        if x.dim() != 4:
            raise ValueError(f"x must be (batch, seqlen, heads, head_dim), got {tuple(x.shape)} "
                             "(for packed sequences pass cu_seqlens)")
        c.batch, c.max_seqlen = x.shape[0], x.shape[1]
    if rotary_dim > x.shape[-1]:
        raise ValueError(f"rope: rotary dim {rotary_dim} is larger than head_dim {x.shape[-1]}")
    c.x = _unit_feature_stride(x)
    return c


def check_kvcache(q, k_cache, v_cache, k_new, v_new, cache_seqlens, softmax_scale) -> Checked:
    q, kc, vc = _tensor("q", q), _tensor("k_cache", k_cache), _tensor("v_cache", v_cache)
    _same_device_dtype("q", q, k_cache=kc, v_cache=vc)
    if q.dim() != 4 or kc.dim() != 4 or vc.shape != kc.shape:
        raise ValueError("q must be (batch, seqlen_q, heads, head_dim) and k_cache, v_cache both (batch, "
                         f"max_seqlen, kv_heads, head_dim); got q {tuple(q.shape)}, k_cache {tuple(kc.shape)}, "
                         f"v_cache {tuple(vc.shape)}")
    if kc.shape[0] != q.shape[0]:
        raise ValueError(f"batch mismatch: q {q.shape[0]}, k_cache {kc.shape[0]}")
    if kc.stride(-1) != 1 or vc.stride(-1) != 1:
        raise ValueError("k_cache and v_cache are updated in place and need a unit stride on head_dim")
    _head_dims(q, kc, vc, "(batch, seqlen_q, heads, head_dim)")
    B, Smax = kc.shape[0], kc.shape[1]
    c = Checked(snew=0)
    if (k_new is None) != (v_new is None):
        raise ValueError("pass both k_new and v_new, or neither")
    if k_new is not None:
        kn, vn = _tensor("k_new", k_new), _tensor("v_new", v_new)
        _same_device_dtype("q", q, k_new=kn, v_new=vn)
        want = (B, kn.shape[1] if kn.dim() == 4 else -1, kc.shape[2], kc.shape[3])
        if kn.dim() != 4 or tuple(kn.shape) != want or tuple(vn.shape) != want:
            raise ValueError(f"k_new and v_new must be (batch, seqlen_new, kv_heads, head_dim) matching the cache "
                             f"= {want}; got {tuple(kn.shape)} and {tuple(vn.shape)}")
        c.snew = kn.shape[1]
    c.cache_seqlens = offsets_tensor(cache_seqlens, B, q.device, "cache_seqlens")
    if isinstance(cache_seqlens, int) or not q.is_cuda:  # free to check without a GPU sync
        top = int(c.cache_seqlens.max()) + c.snew if B else 0
        if top > Smax:
            raise ValueError(f"the cache holds {Smax} positions but cache_seqlens + seqlen_new reaches {top}")
    c.q = _unit_feature_stride(q)
    c.head_dim = q.shape[-1]
    c.scale = _scale(softmax_scale, c.head_dim)
    return c
