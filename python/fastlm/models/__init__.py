"""fastlm models: encoder-only, decoder-only and encoder-decoder transformers on fastlm.attention.

    ModelConfig                      the one config dataclass
    EncoderModel / MaskedLMModel     BERT-like (EncoderModel(cfg).for_masked_lm())
    DecoderModel                     GPT / Llama-like
    EncoderDecoderModel              T5 / BART-like
    GenerationConfig, generate       greedy / sampling with a KV cache
    from_hf                          import GPT-2, Llama, BERT, RoFormer, BART, T5 weights from transformers
    objectives                       CLM, MLM, T5 span corruption, DPO
    set_gradient_checkpointing       recompute each block in the backward pass (less activation memory)
"""
from . import objectives
from .config import ModelConfig
from .decoder import DecoderModel
from .encoder import EncoderModel, MaskedLMModel
from .encoder_decoder import EncoderDecoderModel
from .generation import GenerationConfig, generate
from .hf import config_from_hf, from_hf
from .layers import KVCache, set_gradient_checkpointing

__all__ = ["ModelConfig", "EncoderModel", "MaskedLMModel", "DecoderModel", "EncoderDecoderModel",
           "GenerationConfig", "generate", "from_hf", "config_from_hf", "KVCache", "objectives",
           "set_gradient_checkpointing"]
