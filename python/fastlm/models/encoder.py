"""Encoder-only model (BERT / RoFormer style): bidirectional self-attention, plus a masked-LM head.

Dimension legend: B batch, S tokens, d model width, V vocabulary.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from .config import ModelConfig
from .decoder import LMHead
from .layers import Stack, init_weights


class EncoderModel(nn.Module):
    """input_ids (B, S) [+ attention_mask (B, S), 1 = real; token_type_ids (B, S)] -> hidden states (B, S, d)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.body = Stack(cfg, cfg.n_layers, causal=False)
        init_weights(self, cfg.initializer_range)

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                token_type_ids: Optional[Tensor] = None) -> Tensor:
        hidden: Tensor = self.body(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return hidden

    def for_masked_lm(self) -> "MaskedLMModel":
        """A masked-LM model that shares this encoder's weights (the head is new, tied to the embeddings when
        cfg.tie_embeddings)."""
        return MaskedLMModel(self)


class MaskedLMModel(nn.Module):
    """EncoderModel + LM head: same inputs as EncoderModel -> logits (B, S, V)."""

    def __init__(self, encoder: EncoderModel):
        super().__init__()
        self.cfg = encoder.cfg
        self.encoder = encoder
        self.lm_head = LMHead(encoder.cfg, encoder.body.embed.tokens)
        init_weights(self.lm_head, self.cfg.initializer_range)
        if self.lm_head.out.bias is not None:
            nn.init.zeros_(self.lm_head.out.bias)

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                token_type_ids: Optional[Tensor] = None) -> Tensor:
        logits: Tensor = self.lm_head(self.encoder(input_ids, attention_mask, token_type_ids))
        return logits
