"""ModelConfig: the one configuration dataclass of every fastlm model (encoder, decoder, encoder-decoder).

The core fields describe a transformer; the "family" fields below them exist because published models differ in
small ways (BART offsets learned positions by 2, BERT adds token types, T5 does not scale scores...). `from_hf`
sets them; a model built from scratch can leave them at their defaults.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional

_CHOICES = {
    "position": ("rope", "learned", "sinusoidal", "relative", "none"),
    "norm": ("layer", "rms"),
    "norm_position": ("pre", "post"),
    "activation": ("gelu", "gelu_new", "relu", "swiglu", "geglu"),
}


@dataclass
class ModelConfig:
    """Shape and flavour of a transformer.

    vocab_size, d_model, n_layers, n_heads: the usual; n_kv_heads (None = n_heads) < n_heads gives GQA/MQA.
    d_ff: hidden size of the MLP (for swiglu/geglu, of each of the gate and up projections).
    max_seq_len: longest sequence (sizes learned/sinusoidal position tables and the generation cache).
    dropout: on embeddings, residual branches and the MLP hidden layer. Attention probabilities are not dropped:
        the fused kernel has no dropout (rejected: a second kernel just for attention dropout, which modern
        recipes leave at 0).
    position: "rope" (rotary, applied inside the attention kernel), "learned", "sinusoidal", "relative" (T5
        bucketed bias per head) or "none".
    norm: "layer" | "rms"; norm_position: "pre" (norm before each sublayer, plus a final norm) | "post" (BERT/BART).
    activation: "gelu" (erf), "gelu_new" (tanh approximation), "relu", "swiglu", "geglu" (gated, tanh gelu).
    tie_embeddings: the LM head reuses the token embedding matrix. bias: biases on linear layers.
    rope_base, rope_interleaved, rotary_dim: RoPE frequencies base, GPT-J pair layout, partial rotary (None = all).
    gradient_checkpointing: in training, recompute each block's activations in the backward pass instead of
        storing them (less memory, about one more forward pass of compute; same gradients). Switch it on an
        existing model with fastlm.models.set_gradient_checkpointing(model, True).
    """

    vocab_size: int = 32000
    d_model: int = 512
    n_layers: int = 6
    n_heads: int = 8
    n_kv_heads: Optional[int] = None
    d_ff: int = 2048
    max_seq_len: int = 1024
    dropout: float = 0.0
    position: str = "rope"
    norm: str = "rms"
    norm_position: str = "pre"
    activation: str = "swiglu"
    tie_embeddings: bool = True
    bias: bool = False
    rope_base: float = 10000.0
    gradient_checkpointing: bool = False
    # ---- family details (set by from_hf; defaults suit a model trained from scratch) ----
    head_dim: Optional[int] = None          # None = d_model // n_heads (T5's d_kv and Llama's head_dim may differ)
    rope_interleaved: bool = False          # RoFormer / GPT-J pair layout
    rotary_dim: Optional[int] = None        # partial rotary: rotate only the first rotary_dim features per head
    norm_eps: float = 1e-5
    attn_scale: Optional[float] = None      # softmax scale; None = head_dim ** -0.5 (T5 uses 1.0)
    embedding_norm: bool = False            # a norm right after the embeddings (BERT, BART, RoFormer)
    embed_scale: float = 1.0                # token embeddings multiplied by this (BART scale_embedding: sqrt(d))
    position_offset: int = 0                # learned position ids start here (BART: 2)
    type_vocab_size: int = 0                # token-type (segment) embeddings, BERT/RoFormer; 0 = none
    final_norm: Optional[bool] = None       # None = True for pre-norm, False for post-norm
    logit_scale: float = 1.0                # LM-head input multiplied by this (T5 with tied embeddings: d**-0.5)
    lm_head_bias: bool = False              # a bias on the LM head (BERT's MLM decoder bias, BART final_logits_bias)
    mlm_transform: bool = False             # BERT-style MLM head: dense + activation + norm before the decoder
    relative_buckets: int = 32              # T5 relative attention: number of buckets
    relative_max_distance: int = 128        # T5 relative attention: distances beyond this share the last bucket
    n_decoder_layers: Optional[int] = None  # encoder-decoder: decoder depth (None = n_layers)
    pad_token_id: int = 0
    decoder_start_token_id: Optional[int] = None  # encoder-decoder: first decoder token (None = pad_token_id)
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            val = getattr(self, name)
            if val not in allowed:
                raise ValueError(f"ModelConfig.{name} must be one of {', '.join(map(repr, allowed))}; got {val!r}")
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len"):
            val = getattr(self, name)
            if not isinstance(val, int) or val <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive int; got {val!r}")
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads:
            raise ValueError(f"ModelConfig: n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                             f"({self.n_kv_heads})")
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise ValueError(f"ModelConfig: d_model ({self.d_model}) must be divisible by n_heads "
                                 f"({self.n_heads}), or set head_dim")
            self.head_dim = self.d_model // self.n_heads
        if self.position == "rope":
            rd = self.rotary_dim or self.head_dim
            if rd % 2 or rd > self.head_dim:
                raise ValueError(f"ModelConfig: rotary_dim must be even and <= head_dim ({self.head_dim}); "
                                 f"got {rd}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1); got {self.dropout!r}")
        if self.final_norm is None:
            self.final_norm = self.norm_position == "pre"
        if self.n_decoder_layers is None:
            self.n_decoder_layers = self.n_layers
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.pad_token_id

    @property
    def gated(self) -> bool:
        return self.activation in ("swiglu", "geglu")

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict (JSON-serializable); ModelConfig(**d) rebuilds the config."""
        return dataclasses.asdict(self)
