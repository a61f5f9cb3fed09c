"""Building blocks shared by the encoder, decoder and encoder-decoder models.

Dimension legend: B batch, S tokens (Sq queries, Sk keys, Smax cache rows), d model width, H query heads,
Hkv key/value heads, D head dim, F MLP hidden width, V vocabulary, NB relative-position buckets.

Every attention call goes through `_attend` (fastlm.attention: Triton on CUDA, the PyTorch reference on CPU,
RoPE rotated inside the kernel) or `_attend_cached` (fastlm.attention_with_kvcache). Padding is passed as a
(B, Sk) key-padding mask, never as a dense (S x S) mask.

The one exception is T5's relative position bias: an additive (H, Sq, Sk) bias that the fused kernel does not
take. Layers with `position="relative"` go through `_attend_with_bias`, a plain PyTorch path (the rejected
alternative, a bias operand in the kernel, would read an extra H*Sq*Sk tensor per call and is only needed by T5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .. import ops as _ops
from .config import ModelConfig

Rope = Optional[_ops.RotaryEmbedding]


# ----------------------------------------------------------------------------------------------------------------
# Attention entry points (switching the backend is a change here only)
# ----------------------------------------------------------------------------------------------------------------
def _attend(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, scale: Optional[float], rope: Rope = None,
            key_padding_mask: Optional[Tensor] = None) -> Tensor:
    """q (B, Sq, H, D), k/v (B, Sk, Hkv, D), key_padding_mask (B, Sk) bool True=attend -> (B, Sq, H, D)."""
    out = _ops.attention(q, k, v, causal=causal, softmax_scale=scale, rope=rope, key_padding_mask=key_padding_mask)
    assert isinstance(out, Tensor)  # return_lse=False
    return out


def _attend_cached(q: Tensor, k_cache: Tensor, v_cache: Tensor, k_new: Tensor, v_new: Tensor, seqlens: Tensor, *,
                   scale: Optional[float], rope: Rope = None) -> Tensor:
    """Append k_new/v_new (B, Snew, Hkv, D) to the caches (B, Smax, Hkv, D) at rows seqlens[b].., then causal
    attention of q (B, Snew, H, D) over the first seqlens[b] + Snew rows."""
    out = _ops.attention_with_kvcache(q, k_cache, v_cache, k_new=k_new, v_new=v_new, cache_seqlens=seqlens,
                                      rope=rope, causal=True, softmax_scale=scale)
    assert isinstance(out, Tensor)  # return_lse=False
    return out


def _attend_with_bias(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, *, causal: bool, scale: Optional[float],
                      key_padding_mask: Optional[Tensor] = None) -> Tensor:
    """Reference attention with an additive bias (T5). bias broadcasts to (B, H, Sq, Sk).

    causal aligns bottom-right (as fastlm.attention). Rows with no visible key give 0, never NaN.
    """
    B, Sq, H, D = q.shape
    Sk, Hkv = k.shape[1], k.shape[2]
    if Hkv != H:  # GQA: expand KV heads to query heads
        k, v = k.repeat_interleave(H // Hkv, dim=2), v.repeat_interleave(H // Hkv, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) * (D ** -0.5 if scale is None else scale)
    s = s + bias.float()  # (B, H, Sq, Sk)
    allowed = torch.ones(Sq, Sk, dtype=torch.bool, device=q.device)
    if causal:
        allowed = torch.ones(Sq, Sk, dtype=torch.bool, device=q.device).tril(Sk - Sq)
    allowed = allowed[None, None]
    if key_padding_mask is not None:
        allowed = allowed & key_padding_mask[:, None, None, :].bool()
    s = s.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # fully masked rows: NaN -> 0
    return torch.einsum("bhqk,bkhd->bqhd", p, v.float()).to(q.dtype)


# ----------------------------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class LayerCache:
    k: Tensor  # (B, Smax, Hkv, D) self-attention keys (RoPE-rotated when position="rope")
    v: Tensor  # (B, Smax, Hkv, D)
    cross_k: Optional[Tensor] = None  # (B, Senc, Hkv, D): encoder-decoder cross-attention, computed once
    cross_v: Optional[Tensor] = None


class KVCache:
    """Per-layer caches plus `seqlens` (B,) int32: how many tokens of each row are already cached.

    Rows are left-aligned: row b holds its own tokens at cache rows 0..seqlens[b]-1, so rows of different lengths
    need no padding mask (the kernel reads only the first seqlens[b] + Snew rows).
    """

    def __init__(self, n_layers: int, batch: int, max_len: int, n_kv_heads: int, head_dim: int, *,
                 dtype: torch.dtype, device: Union[torch.device, str, None]):
        shape = (batch, max_len, n_kv_heads, head_dim)
        self.layers: List[LayerCache] = [
            LayerCache(torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))
            for _ in range(n_layers)]
        self.seqlens = torch.zeros(batch, dtype=torch.int32, device=device)
        self.max_len = max_len


# ----------------------------------------------------------------------------------------------------------------
# Norms, MLP, embeddings
# ----------------------------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32 (Llama, T5)."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(self.weight.dtype)


def make_norm(cfg: ModelConfig) -> nn.Module:
    return RMSNorm(cfg.d_model, cfg.norm_eps) if cfg.norm == "rms" else nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)


def _gelu_tanh(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


def activation_fn(name: str) -> Callable[[Tensor], Tensor]:
    if name in ("gelu",):
        return F.gelu
    if name in ("gelu_new", "geglu"):
        return _gelu_tanh
    if name == "swiglu":
        return F.silu
    return F.relu


class MLP(nn.Module):
    """(B, S, d) -> (B, S, d). Plain: fc2(act(fc1 x)). Gated (swiglu/geglu): down(act(gate x) * up x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gated = cfg.gated
        self.act = activation_fn(cfg.activation)
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)  # the gate when gated
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias) if cfg.gated else None
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.fc1(x))  # (B, S, F)
        if self.up is not None:  # gated
            h = h * self.up(x)
        out: Tensor = self.fc2(self.drop(h))
        return out


def sinusoidal_table(n: int, d: int) -> Tensor:
    """(n, d) fixed position table: sin in the first half of the features, cos in the second."""
    inv = 10000.0 ** (-torch.arange(0, d // 2, dtype=torch.float64) / max(d // 2, 1))
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None]
    tab = torch.cat([ang.sin(), ang.cos()], dim=-1)
    return F.pad(tab, (0, d - tab.shape[1])).float()


class Embeddings(nn.Module):
    """ids (B, S) -> (B, S, d): token (optionally shared), + learned/sinusoidal positions, + token types, norm."""

    def __init__(self, cfg: ModelConfig, tokens: Optional[nn.Embedding] = None):
        super().__init__()
        self.cfg = cfg
        self.tokens = tokens if tokens is not None else nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = (nn.Embedding(cfg.max_seq_len + cfg.position_offset, cfg.d_model)
                          if cfg.position == "learned" else None)
        if cfg.position == "sinusoidal":
            self.register_buffer("sinusoid", sinusoidal_table(cfg.max_seq_len, cfg.d_model), persistent=False)
        self.types = nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        self.norm = make_norm(cfg) if cfg.embedding_norm else None
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: Tensor, positions: Optional[Tensor] = None,
                token_type_ids: Optional[Tensor] = None) -> Tensor:
        x = self.tokens(ids)  # (B, S, d)
        if self.cfg.embed_scale != 1.0:
            x = x * self.cfg.embed_scale
        if self.cfg.position in ("learned", "sinusoidal"):
            if positions is None:
                # Checked here (no device sync); explicit positions are checked by the embedding lookup itself.
                if ids.shape[1] > self.cfg.max_seq_len:
                    raise ValueError(f"sequence of {ids.shape[1]} tokens exceeds max_seq_len "
                                     f"({self.cfg.max_seq_len}) of this model")
                positions = torch.arange(ids.shape[1], device=ids.device)[None]  # (1, S)
            if self.positions is not None:
                x = x + self.positions(positions + self.cfg.position_offset)
            else:
                x = x + self.get_buffer("sinusoid")[positions].to(x.dtype)
        if self.types is not None:
            tt = token_type_ids if token_type_ids is not None else torch.zeros_like(ids)
            x = x + self.types(tt)
        if self.norm is not None:
            x = self.norm(x)
        out: Tensor = self.drop(x)
        return out


# ----------------------------------------------------------------------------------------------------------------
# T5 relative position bias
# ----------------------------------------------------------------------------------------------------------------
class RelativePositionBias(nn.Module):
    """Learned scalar per (bucket, head); bucket of (key position - query position), log-spaced beyond NB/2."""

    def __init__(self, cfg: ModelConfig, *, bidirectional: bool):
        super().__init__()
        self.bidirectional = bidirectional
        self.n_buckets, self.max_distance = cfg.relative_buckets, cfg.relative_max_distance
        self.embedding = nn.Embedding(cfg.relative_buckets, cfg.n_heads)

    def bucket(self, rel: Tensor) -> Tensor:
        nb, out = self.n_buckets, torch.zeros_like(rel)
        if self.bidirectional:
            nb //= 2
            out = out + (rel > 0).long() * nb
            n = rel.abs()
        else:
            n = (-rel).clamp(min=0)
        exact = nb // 2
        large = exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(self.max_distance / exact)
                         * (nb - exact)).long()
        large = large.clamp(max=nb - 1)
        return out + torch.where(n < exact, n, large)

    def forward(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """q_pos (..., Sq), k_pos (..., Sk) long -> bias (..., H, Sq, Sk)."""
        rel = k_pos[..., None, :] - q_pos[..., :, None]  # (..., Sq, Sk)
        b: Tensor = self.embedding(self.bucket(rel))  # (..., Sq, Sk, H)
        return b.movedim(-1, -3)


# ----------------------------------------------------------------------------------------------------------------
# Attention and blocks
# ----------------------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head (GQA) self- or cross-attention. x (B, Sq, d) [, memory (B, Sk, d)] -> (B, Sq, d)."""

    def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool = False):
        super().__init__()
        self.cfg, self.causal, self.cross = cfg, causal, cross
        assert cfg.n_kv_heads is not None and cfg.head_dim is not None  # resolved by ModelConfig.__post_init__
        H, Hkv, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = H, Hkv, D
        self.q = nn.Linear(cfg.d_model, H * D, bias=cfg.bias)
        self.k = nn.Linear(cfg.d_model, Hkv * D, bias=cfg.bias)
        self.v = nn.Linear(cfg.d_model, Hkv * D, bias=cfg.bias)
        self.o = nn.Linear(H * D, cfg.d_model, bias=cfg.bias)

    def _heads(self, t: Tensor, n: int) -> Tensor:
        return t.reshape(*t.shape[:-1], n, self.head_dim)  # (B, S, n*D) -> (B, S, n, D)

    def kv(self, src: Tensor) -> Tuple[Tensor, Tensor]:
        Hkv = self.n_kv_heads
        return self._heads(self.k(src), Hkv), self._heads(self.v(src), Hkv)  # (B, Sk, Hkv, D) each

    def forward(self, x: Tensor, *, key_padding_mask: Optional[Tensor] = None, rope: Rope = None,
                bias: Optional[Tensor] = None, memory: Optional[Tensor] = None,
                cache: Optional[LayerCache] = None, seqlens: Optional[Tensor] = None) -> Tensor:
        cfg = self.cfg
        q = self._heads(self.q(x), self.n_heads)  # (B, Sq, H, D)
        if self.cross:
            if cache is not None and cache.cross_k is not None and cache.cross_v is not None:
                k, v = cache.cross_k, cache.cross_v  # encoder output projected once per generation
            else:
                if memory is None:
                    raise ValueError("cross-attention needs the encoder output (memory=)")
                k, v = self.kv(memory)
                if cache is not None:
                    cache.cross_k, cache.cross_v = k, v
            out = _attend(q, k, v, causal=False, scale=cfg.attn_scale, key_padding_mask=key_padding_mask)
        elif cache is not None:
            if seqlens is None:
                raise ValueError("a KV-cache step needs seqlens (the cached length of each row)")
            k, v = self.kv(x)
            if bias is not None:
                out = _cached_with_bias(q, k, v, cache, seqlens, bias, scale=cfg.attn_scale)
            else:
                out = _attend_cached(q, cache.k, cache.v, k, v, seqlens, scale=cfg.attn_scale, rope=rope)
        else:
            k, v = self.kv(x)
            if bias is not None:
                out = _attend_with_bias(q, k, v, bias, causal=self.causal, scale=cfg.attn_scale,
                                        key_padding_mask=key_padding_mask)
            else:
                out = _attend(q, k, v, causal=self.causal, scale=cfg.attn_scale, rope=rope,
                              key_padding_mask=key_padding_mask)
        y: Tensor = self.o(out.flatten(-2))  # (B, Sq, H*D) -> (B, Sq, d)
        return y


def _cached_with_bias(q: Tensor, k: Tensor, v: Tensor, cache: LayerCache, seqlens: Tensor, bias: Tensor, *,
                      scale: Optional[float]) -> Tensor:
    """KV-cache step for layers with a relative bias (T5 decoder): the reference path, as `_attend_with_bias`.

    bias (B, H, Snew, Smax) already covers the cache rows; rows at or beyond seqlens[b] + Snew are masked here.
    """
    B, Snew = k.shape[0], k.shape[1]
    rows = seqlens.long()[:, None] + torch.arange(Snew, device=k.device)[None]  # (B, Snew)
    bidx = torch.arange(B, device=k.device)[:, None]
    cache.k[bidx, rows] = k.to(cache.k.dtype)
    cache.v[bidx, rows] = v.to(cache.v.dtype)
    Smax = cache.k.shape[1]
    kpos = torch.arange(Smax, device=k.device)
    allowed = kpos[None, None, :] <= rows[:, :, None]  # (B, Snew, Smax): causal, and only filled rows
    big = torch.where(allowed[:, None], 0.0, float("-inf"))
    return _attend_with_bias(q, cache.k, cache.v, bias + big, causal=False, scale=scale)


class Block(nn.Module):
    """One transformer layer: self-attention [+ cross-attention] + MLP, each with a residual and a norm."""

    def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool = False):
        super().__init__()
        self.pre = cfg.norm_position == "pre"
        self.attn = Attention(cfg, causal=causal)
        self.norm1 = make_norm(cfg)
        self.cross = Attention(cfg, causal=False, cross=True) if cross else None
        self.norm_cross = make_norm(cfg) if cross else None
        self.mlp = MLP(cfg)
        self.norm2 = make_norm(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def _sub(self, x: Tensor, norm: nn.Module, fn: Callable[[Tensor], Tensor]) -> Tensor:
        y: Tensor
        if self.pre:
            y = x + self.drop(fn(norm(x)))
        else:
            y = norm(x + self.drop(fn(x)))
        return y

    def forward(self, x: Tensor, *, key_padding_mask: Optional[Tensor] = None, rope: Rope = None,
                bias: Optional[Tensor] = None, memory: Optional[Tensor] = None,
                memory_mask: Optional[Tensor] = None, cache: Optional[LayerCache] = None,
                seqlens: Optional[Tensor] = None) -> Tensor:
        x = self._sub(x, self.norm1, lambda h: self.attn(h, key_padding_mask=key_padding_mask, rope=rope,
                                                          bias=bias, cache=cache, seqlens=seqlens))
        if self.cross is not None and self.norm_cross is not None:
            cross = self.cross
            x = self._sub(x, self.norm_cross, lambda h: cross(h, key_padding_mask=memory_mask, memory=memory,
                                                              cache=cache))
        return self._sub(x, self.norm2, self.mlp)


class Stack(nn.Module):
    """ids (B, S) -> hidden (B, S, d): embeddings, n_layers blocks, optional final norm.

    causal: decoder self-attention. cross: blocks also attend to `memory` (B, Senc, d) (encoder-decoder).
    tokens: a token embedding shared with another stack (encoder-decoder) or None for a new one.
    gradient_checkpointing (from cfg; see `set_gradient_checkpointing`): in training, each block's activations
    are recomputed in the backward pass instead of kept (torch.utils.checkpoint, non-reentrant; the RNG state
    is replayed, so dropout masks and gradients are the same as without it). Rejected alternative: the
    reentrant variant, which drops gradients of inputs that do not require grad and breaks with FSDP2 hooks.
    """

    def __init__(self, cfg: ModelConfig, n_layers: int, *, causal: bool, cross: bool = False,
                 tokens: Optional[nn.Embedding] = None):
        super().__init__()
        self.cfg = cfg
        self.embed = Embeddings(cfg, tokens)
        self.blocks = nn.ModuleList(Block(cfg, causal=causal, cross=cross) for _ in range(n_layers))
        self.norm = make_norm(cfg) if cfg.final_norm else None
        self.rel = RelativePositionBias(cfg, bidirectional=not causal) if cfg.position == "relative" else None
        self.gradient_checkpointing = bool(cfg.gradient_checkpointing)
        rotary_dim = cfg.rotary_dim or cfg.head_dim
        assert rotary_dim is not None  # resolved by ModelConfig.__post_init__
        self.rope = (_ops.RotaryEmbedding(rotary_dim, base=cfg.rope_base, interleaved=cfg.rope_interleaved,
                                          max_position=cfg.max_seq_len)
                     if cfg.position == "rope" else None)

    def forward(self, ids: Tensor, *, attention_mask: Optional[Tensor] = None,
                token_type_ids: Optional[Tensor] = None, memory: Optional[Tensor] = None,
                memory_mask: Optional[Tensor] = None, cache: Optional[KVCache] = None) -> Tensor:
        """attention_mask (B, S): 1 = real token (ignored with a cache, whose rows are left-aligned).
        memory_mask (B, Senc): 1 = real encoder token. With a cache, ids are the next tokens of each row, placed
        at positions cache.seqlens[b] + s; the caller advances cache.seqlens afterwards."""
        B, S = ids.shape
        positions = None
        if cache is not None:
            positions = cache.seqlens.long()[:, None] + torch.arange(S, device=ids.device)[None]  # (B, S)
        x: Tensor = self.embed(ids, positions, token_type_ids)  # (B, S, d)
        kpm = None if (attention_mask is None or cache is not None) else attention_mask.bool()
        mkpm = None if memory_mask is None else memory_mask.bool()
        bias = None
        if self.rel is not None:
            if cache is not None:
                kpos = torch.arange(cache.max_len, device=ids.device)[None]
                bias = self.rel(positions, kpos)  # (B, H, S, Smax)
            else:
                pos = torch.arange(S, device=ids.device)
                bias = self.rel(pos, pos)[None]  # (1, H, S, S)
        recompute = self.gradient_checkpointing and self.training and cache is None and torch.is_grad_enabled()
        for i, blk in enumerate(self.blocks):
            if recompute:
                x = checkpoint(blk, x, use_reentrant=False, key_padding_mask=kpm, rope=self.rope, bias=bias,
                               memory=memory, memory_mask=mkpm)
            else:
                x = blk(x, key_padding_mask=kpm, rope=self.rope, bias=bias, memory=memory, memory_mask=mkpm,
                        cache=None if cache is None else cache.layers[i],
                        seqlens=None if cache is None else cache.seqlens)
        if self.norm is not None:
            out: Tensor = self.norm(x)
            return out
        return x


def set_gradient_checkpointing(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn activation checkpointing of every transformer block of `model` on or off (the runtime switch for
    ModelConfig.gradient_checkpointing; works on wrapped models too: DDP, FSDP2, torch.compile). Returns model."""
    found = False
    for m in model.modules():
        if isinstance(m, Stack):
            m.gradient_checkpointing = bool(enabled)
            found = True
    if not found:
        raise TypeError(f"set_gradient_checkpointing: {type(model).__name__} contains no fastlm model")
    return model


def init_weights(module: nn.Module, std: float) -> None:
    """Normal(0, std) linear/embedding weights, zero biases, unit norms (the GPT-2/BERT recipe)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            bias = getattr(m, "bias", None)
            if isinstance(bias, Tensor):
                nn.init.zeros_(bias)
        elif isinstance(m, (nn.LayerNorm, RMSNorm)):
            nn.init.ones_(m.weight)
            bias = getattr(m, "bias", None)
            if isinstance(bias, Tensor):
                nn.init.zeros_(bias)
