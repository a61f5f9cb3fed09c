"""Encoder-decoder model (T5 / BART style): an encoder, and a decoder with causal self-attention plus
cross-attention to the encoder output (non-causal, Lq != Lk), sharing one token embedding.

Dimension legend: B batch, Senc encoder tokens, Sdec decoder tokens, d model width, V vocabulary.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .decoder import LMHead, cache_dtype
from .layers import KVCache, Stack, init_weights


class EncoderDecoderModel(nn.Module):
    """forward(input_ids (B, Senc), attention_mask, decoder_input_ids (B, Sdec), ...) -> logits (B, Sdec, V).

    decoder_input_ids start with cfg.decoder_start_token_id (see objectives.shift_right). Decoder batches are
    right-padded; pass decoder_attention_mask when they contain padding.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        assert cfg.n_decoder_layers is not None  # resolved by ModelConfig.__post_init__
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Stack(cfg, cfg.n_layers, causal=False, tokens=self.tokens)
        self.decoder = Stack(cfg, cfg.n_decoder_layers, causal=True, cross=True, tokens=self.tokens)
        self.lm_head = LMHead(cfg, self.tokens)
        init_weights(self, cfg.initializer_range)

    def encode(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        """(B, Senc) -> encoder output (B, Senc, d); compute once and reuse for every decoding step."""
        memory: Tensor = self.encoder(input_ids, attention_mask=attention_mask)
        return memory

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, memory_mask: Optional[Tensor] = None, *,
               decoder_attention_mask: Optional[Tensor] = None, cache: Optional[KVCache] = None) -> Tensor:
        """(B, Sdec) + encoder output (B, Senc, d) -> logits (B, Sdec, V)."""
        h = self.decoder(decoder_input_ids, attention_mask=decoder_attention_mask, memory=memory,
                         memory_mask=memory_mask, cache=cache)
        logits: Tensor = self.lm_head(h)
        return logits

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                decoder_input_ids: Optional[Tensor] = None,
                decoder_attention_mask: Optional[Tensor] = None) -> Tensor:
        if decoder_input_ids is None:
            raise ValueError("EncoderDecoderModel.forward needs decoder_input_ids (use "
                             "fastlm.models.objectives.shift_right(labels, ...) to build them from targets)")
        memory = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask=decoder_attention_mask)

    def new_cache(self, batch: int, max_len: int, *, dtype: Optional[torch.dtype] = None,
                  device: Union[torch.device, str, None] = None) -> KVCache:
        """An empty decoder KV cache for `batch` rows of up to `max_len` tokens (dtype: see `cache_dtype`)."""
        p = self.tokens.weight
        cfg = self.cfg
        assert cfg.n_decoder_layers is not None and cfg.n_kv_heads is not None and cfg.head_dim is not None
        return KVCache(cfg.n_decoder_layers, batch, max_len, cfg.n_kv_heads, cfg.head_dim,
                       dtype=cache_dtype(p, dtype), device=device or p.device)
