"""Reference tokenizer.json files built offline from the shared tokenizer files with transformers' converters
(`transformers.convert_slow_tokenizer`), nothing downloaded.

The converters read the SentencePiece protobuf themselves (`vocab_file`); the few attributes of the original slow
tokenizer they consult are given by a namespace (transformers 5 no longer ships the SentencePiece slow classes).
GPT-2 / RoBERTa-style files come from encoder.json + vocab.bpe, BERT ones from vocab.txt.
"""
from __future__ import annotations

import json
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

try:
    from conftest import data_path
except ImportError:  # imported from bench/, whose conftest has no data_path
    from pathlib import Path

    def data_path(*parts: str) -> Path:  # type: ignore[misc]
        p = Path(__file__).resolve().parents[1].parent.joinpath("shared", "data", *parts)
        if not p.exists():
            raise FileNotFoundError(p)
        return p

SP = ("tokenizers", "sentencepiece")
# (name, converter kind, .model file)
SPM_CASES = [
    ("llama2", "llama", "llama2_tokenizer.model"),
    ("xlnet", "xlnet", "xlnet_spiece.model"),
    ("t5_botchan", "t5", "botchan_en_unigram_1000.model"),
    ("albert_botchan", "albert", "botchan_en_unigram_1000.model"),
    ("pegasus_kyoto", "pegasus", "kyoto_ja_unigram_8000.model"),
    ("spm_kyoto", "spm", "kyoto_ja_unigram_8000.model"),
    ("spm_botchan_bpe", "spm", "botchan_en_bpe_1000.model"),
]


def _proto(path: str) -> Any:
    from transformers.convert_slow_tokenizer import import_protobuf

    m = import_protobuf().ModelProto()
    with open(path, "rb") as f:
        m.ParseFromString(f.read())
    return m


@lru_cache(maxsize=None)
def spm_json(kind: str, model_file: str) -> str:
    """tokenizer.json text for a SentencePiece model, as transformers' converter for `kind` writes it."""
    import transformers.convert_slow_tokenizer as c

    path = str(data_path(*SP, model_file))
    proto = _proto(path)
    piece_ids = {p.piece: i for i, p in enumerate(proto.pieces)}
    if kind == "spm":
        if proto.trainer_spec.model_type == 1:
            vocab: Any = [(p.piece, p.score) for p in proto.pieces]
        else:
            vocab = dict(piece_ids)
        tok = c.SpmConverter.build_tokenizer_from_spm_proto(proto=proto, vocab=vocab, legacy=True)
        return str(tok.to_str())
    if kind == "llama":  # transformers 5's LlamaTokenizer builds its pipeline itself from the .model file
        return _from_pretrained("LlamaTokenizer", path, "tokenizer.model")
    ns = SimpleNamespace(vocab_file=path, keep_accents=False, do_lower_case=True, add_prefix_space=True, legacy=True)
    conv: Any
    if kind == "xlnet":
        ns.do_lower_case = False
        ns.convert_tokens_to_ids = lambda t: piece_ids[t]
        conv = c.XLNetConverter(ns)
    elif kind == "albert":
        extra = {"[CLS]": len(proto.pieces), "[SEP]": len(proto.pieces) + 1}
        ns.convert_tokens_to_ids = lambda t: piece_ids.get(t, extra.get(t))
        conv = c.AlbertConverter(ns)
    elif kind == "t5":
        ns._extra_ids = 100
        ns.convert_tokens_to_ids = lambda t: piece_ids[t]
        conv = c.T5Converter(ns)
    elif kind == "pegasus":
        ns.pad_token, ns.eos_token, ns.mask_token_sent, ns.mask_token = "<pad>", "</s>", "<mask_2>", "<mask_1>"
        ns.offset, ns.mask_token_id, ns.eos_token_id = 103, 2, 1
        conv = c.PegasusConverter(ns)
    else:
        raise ValueError(kind)
    tok = conv.converted()
    if kind == "albert":  # the ALBERT template's [CLS] / [SEP] are added tokens of the tokenizer class
        from tokenizers import AddedToken

        tok.add_special_tokens([AddedToken("[CLS]", normalized=False), AddedToken("[SEP]", normalized=False),
                                AddedToken("[MASK]", lstrip=True, rstrip=False, normalized=False)])
    return str(tok.to_str())


def _from_pretrained(cls_name: str, model_path: str, file_name: str) -> str:
    import os
    import tempfile

    import transformers

    with tempfile.TemporaryDirectory() as d:
        os.symlink(model_path, os.path.join(d, file_name))
        tok = getattr(transformers, cls_name).from_pretrained(d, local_files_only=True)
        return str(tok.backend_tokenizer.to_str())


def _gpt2_files() -> Tuple[Dict[str, int], List[Tuple[str, str]]]:
    vocab = json.loads(data_path("tokenizers", "gpt2", "encoder.json").read_text(encoding="utf-8"))
    lines = data_path("tokenizers", "gpt2", "vocab.bpe").read_text(encoding="utf-8").split("\n")
    merges = [tuple(ln.split(" ")) for ln in lines[1:] if ln]
    return vocab, merges  # type: ignore[return-value]


@lru_cache(maxsize=None)
def gpt2_json(add_prefix_space: bool = False) -> str:
    import transformers.convert_slow_tokenizer as c
    from tokenizers import AddedToken

    vocab, merges = _gpt2_files()
    tok = c.GPT2Converter(SimpleNamespace(add_prefix_space=add_prefix_space)).converted(vocab, merges)
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False)])
    return str(tok.to_str())


@lru_cache(maxsize=None)
def roberta_json() -> str:
    """RoBERTa-style: the GPT-2 files with RobertaProcessing (<|endoftext|> as both <s> and </s>) and a <mask>
    that strips the space before it, as RoBERTa's does."""
    import transformers.convert_slow_tokenizer as c
    from tokenizers import AddedToken

    vocab, merges = _gpt2_files()
    eot = vocab["<|endoftext|>"]
    ns = SimpleNamespace(encoder=vocab, bpe_ranks={m: i for i, m in enumerate(merges)}, add_prefix_space=False,
                         sep_token="<|endoftext|>", sep_token_id=eot, cls_token="<|endoftext|>", cls_token_id=eot)
    tok = c.RobertaConverter(ns).converted()
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False),
                            AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False)])
    return str(tok.to_str())


@lru_cache(maxsize=None)
def bert_json(name: str, lowercase: bool) -> str:
    import transformers.convert_slow_tokenizer as c

    lines = data_path("tokenizers", name, "vocab.txt").read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {ln.rstrip(): i for i, ln in enumerate(lines)}
    basic = SimpleNamespace(tokenize_chinese_chars=True, strip_accents=None, do_lower_case=lowercase)
    ns = SimpleNamespace(vocab=vocab, unk_token="[UNK]", basic_tokenizer=basic, cls_token="[CLS]", sep_token="[SEP]",
                         cls_token_id=vocab["[CLS]"], sep_token_id=vocab["[SEP]"])
    tok = c.BertConverter(ns).converted()
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, normalized=False) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")])
    return str(tok.to_str())
