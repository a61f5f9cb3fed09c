"""Decoder-only language model (GPT-2 / Llama style): causal self-attention and an LM head.

Dimension legend: B batch, S tokens, d model width, V vocabulary, Smax cache rows.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .layers import KVCache, Stack, activation_fn, init_weights, make_norm


class LMHead(nn.Module):
    """hidden (B, S, d) -> logits (B, S, V). Optional BERT-style transform (dense, activation, norm) first; the
    output matrix is the token embedding when cfg.tie_embeddings (it is then the same Parameter)."""

    def __init__(self, cfg: ModelConfig, tokens: nn.Embedding):
        super().__init__()
        self.cfg = cfg
        self.dense = nn.Linear(cfg.d_model, cfg.d_model) if cfg.mlm_transform else None
        self.act = activation_fn(cfg.activation) if cfg.mlm_transform else None
        self.norm = make_norm(cfg) if cfg.mlm_transform else None
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size, bias=cfg.lm_head_bias)
        if cfg.tie_embeddings:
            self.out.weight = tokens.weight

    def forward(self, h: Tensor) -> Tensor:
        if self.dense is not None and self.act is not None and self.norm is not None:
            h = self.norm(self.act(self.dense(h)))
        if self.cfg.logit_scale != 1.0:
            h = h * self.cfg.logit_scale
        logits: Tensor = self.out(h)
        return logits


def cache_dtype(param: Tensor, dtype: Optional[torch.dtype]) -> torch.dtype:
    """The KV-cache dtype: `dtype` if given, else the autocast dtype inside a torch.autocast region of the
    parameters' device type (what the attention layers then produce), else the parameters' dtype."""
    if dtype is not None:
        return dtype
    dev = param.device.type
    if dev in ("cpu", "cuda") and torch.is_autocast_enabled(dev) and param.dtype == torch.float32:
        return torch.get_autocast_dtype(dev)
    return param.dtype


class DecoderModel(nn.Module):
    """input_ids (B, S) [+ attention_mask (B, S), 1 = real token] -> logits (B, S, V).

    Batches for training are right-padded (padding keys are masked; outputs at padding positions are garbage and
    must be ignored by the loss). Generation (fastlm.models.generate) takes left-padded prompts.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.body = Stack(cfg, cfg.n_layers, causal=True)
        self.lm_head = LMHead(cfg, self.body.embed.tokens)
        init_weights(self, cfg.initializer_range)

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None, *,
                cache: Optional[KVCache] = None) -> Tensor:
        logits: Tensor = self.lm_head(self.body(input_ids, attention_mask=attention_mask, cache=cache))
        return logits

    def new_cache(self, batch: int, max_len: int, *, dtype: Optional[torch.dtype] = None,
                  device: Union[torch.device, str, None] = None) -> KVCache:
        """An empty KV cache for `batch` rows of up to `max_len` tokens (dtype: see `cache_dtype`)."""
        p = self.lm_head.out.weight
        cfg = self.cfg
        assert cfg.n_kv_heads is not None and cfg.head_dim is not None  # resolved by ModelConfig.__post_init__
        return KVCache(cfg.n_layers, batch, max_len, cfg.n_kv_heads, cfg.head_dim,
                       dtype=cache_dtype(p, dtype), device=device or p.device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
