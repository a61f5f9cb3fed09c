"""`from_hf(hf_model)`: copy the weights of a transformers model into the equivalent fastlm model.

Supported: GPT-2 and Llama (-> DecoderModel), BERT and RoFormer (-> EncoderModel, or MaskedLMModel for the
*ForMaskedLM classes), BART and T5 (-> EncoderDecoderModel). The HF config is translated into a ModelConfig;
options of a family that fastlm does not implement raise ValueError instead of importing a model that would
silently compute something else. Every fastlm parameter must receive a weight (checked at the end).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Set, Union

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .decoder import DecoderModel
from .encoder import EncoderModel, MaskedLMModel
from .encoder_decoder import EncoderDecoderModel

__all__ = ["from_hf", "config_from_hf"]

_ACT = {"gelu": "gelu", "gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "relu": "relu", "silu": "swiglu"}


def _act(name: str, family: str) -> str:
    if name not in _ACT:
        raise ValueError(f"from_hf: {family} activation {name!r} is not supported (supported: {', '.join(_ACT)})")
    return _ACT[name]


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(f"from_hf: {msg}")


def _rope_theta(c: Any) -> float:
    params = getattr(c, "rope_parameters", None) or {}
    kind = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    _require(kind == "default", f"RoPE type {kind!r} is not supported (only the default rotary embedding)")
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta if theta is not None else getattr(c, "rope_theta", 10000.0))


def config_from_hf(hf_config: Any) -> ModelConfig:
    """Translate a transformers config (gpt2, llama, bert, roformer, bart, t5) into a ModelConfig."""
    c, t = hf_config, hf_config.model_type
    if t == "gpt2":
        _require(not c.scale_attn_by_inverse_layer_idx and not c.reorder_and_upcast_attn and c.scale_attn_weights,
                 "GPT-2 attention-scaling variants are not supported")
        return ModelConfig(vocab_size=c.vocab_size, d_model=c.n_embd, n_layers=c.n_layer, n_heads=c.n_head,
                           d_ff=c.n_inner or 4 * c.n_embd, max_seq_len=c.n_positions, position="learned",
                           norm="layer", norm_position="pre", activation=_act(c.activation_function, t),
                           tie_embeddings=True, bias=True, norm_eps=c.layer_norm_epsilon)
    if t == "llama":
        _require(bool(c.attention_bias) == bool(getattr(c, "mlp_bias", False)),
                 "Llama with attention_bias != mlp_bias is not supported")
        _require(c.hidden_act == "silu", f"Llama activation {c.hidden_act!r} is not supported")
        return ModelConfig(vocab_size=c.vocab_size, d_model=c.hidden_size, n_layers=c.num_hidden_layers,
                           n_heads=c.num_attention_heads, n_kv_heads=c.num_key_value_heads, d_ff=c.intermediate_size,
                           max_seq_len=c.max_position_embeddings, position="rope", rope_base=_rope_theta(c),
                           norm="rms", norm_position="pre", activation="swiglu", norm_eps=c.rms_norm_eps,
                           tie_embeddings=bool(c.tie_word_embeddings), bias=bool(c.attention_bias),
                           head_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
                           pad_token_id=c.pad_token_id or 0)
    if t in ("bert", "roformer"):
        if t == "bert":
            _require(getattr(c, "position_embedding_type", "absolute") == "absolute",
                     "BERT position_embedding_type must be 'absolute'")
        else:
            _require(c.embedding_size == c.hidden_size, "RoFormer with embedding_size != hidden_size")
            _require(not c.rotary_value, "RoFormer rotary_value=True is not supported")
        return ModelConfig(vocab_size=c.vocab_size, d_model=c.hidden_size, n_layers=c.num_hidden_layers,
                           n_heads=c.num_attention_heads, d_ff=c.intermediate_size,
                           max_seq_len=c.max_position_embeddings,
                           position="learned" if t == "bert" else "rope", rope_interleaved=True,
                           norm="layer", norm_position="post", activation=_act(c.hidden_act, t),
                           tie_embeddings=True, bias=True, norm_eps=c.layer_norm_eps, embedding_norm=True,
                           type_vocab_size=c.type_vocab_size, mlm_transform=True, lm_head_bias=True,
                           pad_token_id=c.pad_token_id or 0)
    if t == "bart":
        _require(c.encoder_attention_heads == c.decoder_attention_heads and c.encoder_ffn_dim == c.decoder_ffn_dim,
                 "BART with different encoder/decoder heads or FFN sizes is not supported")
        return ModelConfig(vocab_size=c.vocab_size, d_model=c.d_model, n_layers=c.encoder_layers,
                           n_decoder_layers=c.decoder_layers, n_heads=c.encoder_attention_heads,
                           d_ff=c.encoder_ffn_dim, max_seq_len=c.max_position_embeddings, position="learned",
                           position_offset=2, norm="layer", norm_position="post",
                           activation=_act(c.activation_function, t), tie_embeddings=True, bias=True,
                           embedding_norm=True, embed_scale=math.sqrt(c.d_model) if c.scale_embedding else 1.0,
                           lm_head_bias=True, pad_token_id=c.pad_token_id,
                           decoder_start_token_id=getattr(c, "decoder_start_token_id", None))
    if t == "t5":
        gated = c.is_gated_act
        act = c.dense_act_fn
        _require(act in (("gelu_new", "gelu_pytorch_tanh") if gated else ("relu",)),
                 f"T5 feed_forward_proj {c.feed_forward_proj!r} is not supported (relu or gated-gelu)")
        tie = bool(c.tie_word_embeddings)
        # Newer transformers always tie T5's head and keep the v1.0 output scaling as a separate flag.
        scale = bool(getattr(c, "scale_decoder_outputs", tie))
        return ModelConfig(vocab_size=c.vocab_size, d_model=c.d_model, n_layers=c.num_layers,
                           n_decoder_layers=c.num_decoder_layers, n_heads=c.num_heads, head_dim=c.d_kv,
                           d_ff=c.d_ff, max_seq_len=getattr(c, "n_positions", 512) or 512, position="relative",
                           relative_buckets=c.relative_attention_num_buckets,
                           relative_max_distance=c.relative_attention_max_distance, norm="rms",
                           norm_position="pre", norm_eps=c.layer_norm_epsilon,
                           activation="geglu" if gated else "relu", tie_embeddings=tie, bias=False, attn_scale=1.0,
                           logit_scale=c.d_model ** -0.5 if scale else 1.0, pad_token_id=c.pad_token_id,
                           decoder_start_token_id=getattr(c, "decoder_start_token_id", None))
    raise ValueError(f"from_hf: model type {t!r} is not supported (gpt2, llama, bert, roformer, bart, t5)")


class _Copier:
    """Copies HF tensors into the fastlm model by name and checks that every fastlm parameter was set."""

    def __init__(self, model: nn.Module, hf_state: Dict[str, Tensor]):
        self.params = dict(model.named_parameters(remove_duplicate=False))
        self.hf = hf_state
        self.done: Set[int] = set()

    def __call__(self, dst: str, src: Union[str, Tensor], fn: Callable[[Tensor], Tensor] = lambda t: t) -> None:
        t = fn(self.hf[src] if isinstance(src, str) else src)
        p = self.params[dst]
        if p.shape != t.shape:
            raise ValueError(f"from_hf: shape mismatch for {dst}: fastlm {tuple(p.shape)} vs HF {tuple(t.shape)}")
        with torch.no_grad():
            p.copy_(t)
        self.done.add(id(p))

    def linear(self, dst: str, src: str, bias: bool = True, transpose: bool = False) -> None:
        self(f"{dst}.weight", f"{src}.weight", (lambda w: w.t()) if transpose else (lambda w: w))
        if bias:
            self(f"{dst}.bias", f"{src}.bias")

    def norm(self, dst: str, src: str, bias: bool = True) -> None:
        self(f"{dst}.weight", f"{src}.weight")
        if bias:
            self(f"{dst}.bias", f"{src}.bias")

    def check(self) -> None:
        missing = sorted(n for n, p in self.params.items() if id(p) not in self.done)
        if missing:
            raise ValueError(f"from_hf: no HF weight for {', '.join(missing[:8])}")


State = Dict[str, Tensor]


def _gpt2(m: nn.Module, cfg: ModelConfig, s: State, cp: _Copier) -> None:
    d = cfg.d_model
    cp("body.embed.tokens.weight", "transformer.wte.weight")
    cp("body.embed.positions.weight", "transformer.wpe.weight")
    for i in range(cfg.n_layers):
        f, h = f"body.blocks.{i}", f"transformer.h.{i}"
        w, b = s[f"{h}.attn.c_attn.weight"], s[f"{h}.attn.c_attn.bias"]  # Conv1D: (d, 3d), x @ w
        for j, n in enumerate("qkv"):
            cp(f"{f}.attn.{n}.weight", w[:, j * d:(j + 1) * d].t())
            cp(f"{f}.attn.{n}.bias", b[j * d:(j + 1) * d])
        cp.linear(f"{f}.attn.o", f"{h}.attn.c_proj", transpose=True)
        cp.norm(f"{f}.norm1", f"{h}.ln_1")
        cp.norm(f"{f}.norm2", f"{h}.ln_2")
        cp.linear(f"{f}.mlp.fc1", f"{h}.mlp.c_fc", transpose=True)
        cp.linear(f"{f}.mlp.fc2", f"{h}.mlp.c_proj", transpose=True)
    cp.norm("body.norm", "transformer.ln_f")


def _llama(m: nn.Module, cfg: ModelConfig, s: State, cp: _Copier) -> None:
    b = cfg.bias
    cp("body.embed.tokens.weight", "model.embed_tokens.weight")
    for i in range(cfg.n_layers):
        f, h = f"body.blocks.{i}", f"model.layers.{i}"
        for n in "qkvo":
            cp.linear(f"{f}.attn.{n}", f"{h}.self_attn.{n}_proj", bias=b)
        cp.linear(f"{f}.mlp.fc1", f"{h}.mlp.gate_proj", bias=b)
        cp.linear(f"{f}.mlp.up", f"{h}.mlp.up_proj", bias=b)
        cp.linear(f"{f}.mlp.fc2", f"{h}.mlp.down_proj", bias=b)
        cp.norm(f"{f}.norm1", f"{h}.input_layernorm", bias=False)
        cp.norm(f"{f}.norm2", f"{h}.post_attention_layernorm", bias=False)
    cp.norm("body.norm", "model.norm", bias=False)
    if not cfg.tie_embeddings:
        cp("lm_head.out.weight", "lm_head.weight")


def _bert_like(cfg: ModelConfig, s: State, cp: _Copier, pre: str, dst: str, t: str) -> None:
    e = f"{pre}.embeddings"
    cp(f"{dst}.embed.tokens.weight", f"{e}.word_embeddings.weight")
    if t == "bert":
        cp(f"{dst}.embed.positions.weight", f"{e}.position_embeddings.weight")
    cp(f"{dst}.embed.types.weight", f"{e}.token_type_embeddings.weight")
    cp.norm(f"{dst}.embed.norm", f"{e}.LayerNorm")
    for i in range(cfg.n_layers):
        f, h = f"{dst}.blocks.{i}", f"{pre}.encoder.layer.{i}"
        for n, hn in zip("qkv", ("query", "key", "value")):
            cp.linear(f"{f}.attn.{n}", f"{h}.attention.self.{hn}")
        cp.linear(f"{f}.attn.o", f"{h}.attention.output.dense")
        cp.norm(f"{f}.norm1", f"{h}.attention.output.LayerNorm")
        cp.linear(f"{f}.mlp.fc1", f"{h}.intermediate.dense")
        cp.linear(f"{f}.mlp.fc2", f"{h}.output.dense")
        cp.norm(f"{f}.norm2", f"{h}.output.LayerNorm")


def _mlm_head(cp: _Copier, dst: str) -> None:
    cp.linear(f"{dst}.dense", "cls.predictions.transform.dense")
    cp.norm(f"{dst}.norm", "cls.predictions.transform.LayerNorm")
    cp(f"{dst}.out.bias", "cls.predictions.bias")


def _bart(m: nn.Module, cfg: ModelConfig, s: State, cp: _Copier) -> None:
    cp("tokens.weight", "model.shared.weight")
    assert cfg.n_decoder_layers is not None  # resolved by ModelConfig.__post_init__
    for side, n_layers in (("encoder", cfg.n_layers), ("decoder", cfg.n_decoder_layers)):
        p = f"model.{side}"
        cp(f"{side}.embed.positions.weight", f"{p}.embed_positions.weight")
        cp.norm(f"{side}.embed.norm", f"{p}.layernorm_embedding")
        for i in range(n_layers):
            f, h = f"{side}.blocks.{i}", f"{p}.layers.{i}"
            for n in "qkv":
                cp.linear(f"{f}.attn.{n}", f"{h}.self_attn.{n}_proj")
            cp.linear(f"{f}.attn.o", f"{h}.self_attn.out_proj")
            cp.norm(f"{f}.norm1", f"{h}.self_attn_layer_norm")
            if side == "decoder":
                for n in "qkv":
                    cp.linear(f"{f}.cross.{n}", f"{h}.encoder_attn.{n}_proj")
                cp.linear(f"{f}.cross.o", f"{h}.encoder_attn.out_proj")
                cp.norm(f"{f}.norm_cross", f"{h}.encoder_attn_layer_norm")
            cp.linear(f"{f}.mlp.fc1", f"{h}.fc1")
            cp.linear(f"{f}.mlp.fc2", f"{h}.fc2")
            cp.norm(f"{f}.norm2", f"{h}.final_layer_norm")
    cp("lm_head.out.bias", "final_logits_bias", lambda t: t.reshape(-1))


def _t5(m: nn.Module, cfg: ModelConfig, s: State, cp: _Copier) -> None:
    cp("tokens.weight", "shared.weight")
    assert cfg.n_decoder_layers is not None  # resolved by ModelConfig.__post_init__
    for side, n_layers in (("encoder", cfg.n_layers), ("decoder", cfg.n_decoder_layers)):
        cp(f"{side}.rel.embedding.weight", f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        for i in range(n_layers):
            f, h = f"{side}.blocks.{i}", f"{side}.block.{i}.layer"
            for n in "qkvo":
                cp.linear(f"{f}.attn.{n}", f"{h}.0.SelfAttention.{n}", bias=False)
            cp.norm(f"{f}.norm1", f"{h}.0.layer_norm", bias=False)
            j = 1
            if side == "decoder":
                for n in "qkvo":
                    cp.linear(f"{f}.cross.{n}", f"{h}.1.EncDecAttention.{n}", bias=False)
                cp.norm(f"{f}.norm_cross", f"{h}.1.layer_norm", bias=False)
                j = 2
            ff = f"{h}.{j}.DenseReluDense"
            if cfg.gated:
                cp.linear(f"{f}.mlp.fc1", f"{ff}.wi_0", bias=False)
                cp.linear(f"{f}.mlp.up", f"{ff}.wi_1", bias=False)
            else:
                cp.linear(f"{f}.mlp.fc1", f"{ff}.wi", bias=False)
            cp.linear(f"{f}.mlp.fc2", f"{ff}.wo", bias=False)
            cp.norm(f"{f}.norm2", f"{h}.{j}.layer_norm", bias=False)
        cp.norm(f"{side}.norm", f"{side}.final_layer_norm", bias=False)
    if not cfg.tie_embeddings:
        cp("lm_head.out.weight", "lm_head.weight")


def from_hf(hf_model: nn.Module) -> nn.Module:
    """A fastlm model with the weights of `hf_model` (a transformers PreTrainedModel), in float32, eval mode."""
    hf_config: Any = hf_model.config
    cfg = config_from_hf(hf_config)
    t: str = hf_config.model_type
    s = {k: v.detach().float().cpu() for k, v in hf_model.state_dict().items()}
    model: nn.Module
    if t in ("gpt2", "llama"):
        model = DecoderModel(cfg)
        cp = _Copier(model, s)
        if t == "gpt2":
            # transformer-only GPT2Model: keys lack the "transformer." prefix
            if "wte.weight" in s:
                s.update({f"transformer.{k}": v for k, v in list(s.items())})
            _gpt2(model, cfg, s, cp)
        else:
            if "embed_tokens.weight" in s:
                s.update({f"model.{k}": v for k, v in list(s.items())})
            if "lm_head.weight" not in s and not cfg.tie_embeddings:
                raise ValueError("from_hf: a bare LlamaModel has no LM head; pass LlamaForCausalLM")
            _llama(model, cfg, s, cp)
    elif t in ("bert", "roformer"):
        enc = EncoderModel(cfg)
        mlm = "cls.predictions.bias" in s
        model = MaskedLMModel(enc) if mlm else enc
        if not any(k.startswith(f"{t}.") for k in s):
            s.update({f"{t}.{k}": v for k, v in list(s.items())})
        cp = _Copier(model, s)
        dst = "encoder.body" if mlm else "body"
        _bert_like(cfg, s, cp, t, dst, t)
        if mlm:
            _mlm_head(cp, "lm_head")
        else:  # the pooler is not part of fastlm's encoder
            pass
    elif t in ("bart", "t5"):
        model = EncoderDecoderModel(cfg)
        cp = _Copier(model, s)
        (_bart if t == "bart" else _t5)(model, cfg, s, cp)
    else:  # pragma: no cover - config_from_hf already raised
        raise ValueError(t)
    cp.check()
    return model.eval()
