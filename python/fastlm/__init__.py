"""fastlm: fast tokenizers (byte-level BPE, WordPiece, Unigram) and fused attention for language models.

Tokenizer API (numpy only):   load, tokenize, Tokenizer, Encoding, BatchEncoding
Attention and models (torch): attention, apply_rope, RotaryEmbedding, attention_with_kvcache, models
"""
from __future__ import annotations

from typing import Any

from .api import load, tokenize
from .encoding import BatchEncoding, Encoding
from .pipelines import TokenizeBatch as TokenizeBatch, datasets_map_fn as datasets_map_fn
from .postprocess import TemplateProcessing
from .tokenizer import Tokenizer
from .train import train

__version__ = "0.1.0"

# Names that need torch are imported on first use, so `import fastlm` works without torch.
_LAZY = {
    "attention": "fastlm.ops",
    "apply_rope": "fastlm.ops",
    "RotaryEmbedding": "fastlm.ops",
    "attention_with_kvcache": "fastlm.ops",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'fastlm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)


__all__ = [
    "load",
    "tokenize",
    "Tokenizer",
    "Encoding",
    "BatchEncoding",
    "TemplateProcessing",
    "train",
    *_LAZY,
]
