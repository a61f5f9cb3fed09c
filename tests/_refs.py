"""Reference tokenizers built offline from the shared files (no network)."""
from __future__ import annotations

from functools import lru_cache

from conftest import data_path

from fastlm.formats.patterns import ENCODINGS


@lru_cache(maxsize=None)
def tiktoken_encoding(name: str):
    import tiktoken
    import tiktoken.load

    spec = ENCODINGS[name]
    fname = spec.get("file", name)
    ranks = tiktoken.load.load_tiktoken_bpe(str(data_path("tokenizers", "tiktoken", fname + ".tiktoken")))
    return tiktoken.Encoding(name, pat_str=spec["pattern"], mergeable_ranks=ranks,
                             special_tokens=spec["special_tokens"], explicit_n_vocab=spec.get("explicit_n_vocab"))


@lru_cache(maxsize=None)
def fastlm_encoding(name: str):
    import fastlm

    spec = ENCODINGS[name]
    fname = spec.get("file", name)
    return fastlm.load(data_path("tokenizers", "tiktoken", fname + ".tiktoken"))
