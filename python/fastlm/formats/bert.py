"""BERT WordPiece tokenizers: `vocab.txt` files, the BERT normalizer options and the [CLS]/[SEP] post-processor.

`load_vocab_txt(path, lowercase=...)` gives what HF's `BertWordPieceTokenizer(vocab, lowercase=...)` gives:
BERT normalizer (clean text, spaces around CJK ideographs, strip accents = `lowercase` unless set, lowercase),
BERT pre-tokenizer, WordPiece with "##" and [UNK], the WordPiece decoder, and the template
`[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` (type ids 0 for A and its [SEP], 1 for B and its [SEP]).

Every WordPiece tokenizer (vocab.txt, tokenizer.json, trained) is built by `build_wordpiece` from one state dict,
which is also what pickling and saving use (`Tokenizer._state`, kind "wordpiece").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

State = Dict[str, Any]

from .. import _core
from ..postprocess import TemplateProcessing
from ..tokenizer import Tokenizer

DEFAULT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def bert_normalizer(*, lowercase: bool = True, strip_accents: Optional[bool] = None, clean_text: bool = True,
                    handle_chinese_chars: bool = True) -> State:
    """The BERT normalizer's options. strip_accents=None follows lowercase (as the reference does)."""
    for k, v in (("lowercase", lowercase), ("clean_text", clean_text), ("handle_chinese_chars", handle_chinese_chars)):
        if not isinstance(v, bool):
            raise TypeError(f"{k} must be a bool, not {type(v).__name__}")
    if strip_accents is not None and not isinstance(strip_accents, bool):
        raise TypeError(f"strip_accents must be None or a bool, not {type(strip_accents).__name__}")
    return {"clean_text": clean_text, "handle_chinese_chars": handle_chinese_chars, "strip_accents": strip_accents,
            "lowercase": lowercase}


def bert_template(special_tokens: Dict[str, int], cls_token: str = "[CLS]", sep_token: str = "[SEP]") -> TemplateProcessing:
    for t in (cls_token, sep_token):
        if t not in special_tokens:
            raise ValueError(f"the BERT post-processor needs {t!r}, which is not in the vocabulary")
    return TemplateProcessing(
        single=((cls_token, 0), ("A", 0), (sep_token, 0)),
        pair=((cls_token, 0), ("A", 0), (sep_token, 0), ("B", 1), (sep_token, 1)),
        special_tokens={cls_token: special_tokens[cls_token], sep_token: special_tokens[sep_token]},
    )


def build_wordpiece(state: State) -> Tokenizer:
    """Build a WordPiece tokenizer from its state:
    vocab [(token, id)], unk_token, prefix, max_input_chars_per_word, normalizer (dict from bert_normalizer, or
    None), pretokenizer ("bert" | "whitespace"), decoder ({"prefix", "cleanup"} or None), special_tokens
    {token: id}, post_processor (TemplateProcessing.to_json() or None), name."""
    vocab = state["vocab"]
    model = _core.WordPieceModel(vocab, state["unk_token"], state["prefix"], int(state["max_input_chars_per_word"]))
    nz = state.get("normalizer")
    lower = bool(nz["lowercase"]) if nz else False
    strip = (lower if nz["strip_accents"] is None else bool(nz["strip_accents"])) if nz else False
    dec = state.get("decoder")
    enc = _core.WordPieceEncoder(
        model, normalize=nz is not None, clean_text=bool(nz and nz["clean_text"]),
        handle_chinese_chars=bool(nz and nz["handle_chinese_chars"]), strip_accents=strip, lowercase=lower,
        pretokenize=state.get("pretokenizer", "bert") == "bert", wordpiece_decoder=dec is not None,
        decoder_prefix=dec["prefix"] if dec else "##", decoder_cleanup=bool(dec["cleanup"]) if dec else False)
    specials = dict(state.get("special_tokens") or {})
    core = _core.Tokenizer(enc, sorted(specials.items(), key=lambda kv: int(kv[1])))
    post = state.get("post_processor")
    pp = _template_from_json(post) if post else None
    tok = Tokenizer(core, name=state.get("name", ""), post_processor=pp, state=dict(state, kind="wordpiece"),
                    pad_token=state.get("pad_token"))
    return tok


def _template_from_json(obj: State) -> TemplateProcessing:
    def conv(items: List[Any]) -> Tuple[Tuple[str, int], ...]:
        out: List[Tuple[str, int]] = []
        for it in items:
            if "Sequence" in it:
                out.append((it["Sequence"]["id"], int(it["Sequence"].get("type_id", 0))))
            else:
                out.append((it["SpecialToken"]["id"], int(it["SpecialToken"].get("type_id", 0))))
        return tuple(out)

    sp: Dict[str, int] = {}
    for name, v in obj.get("special_tokens", {}).items():
        ids = v.get("ids") or []
        if len(ids) != 1:
            raise ValueError(f"post_processor.special_tokens[{name!r}] must map to exactly one id")
        sp[name] = int(ids[0])
    return TemplateProcessing(single=conv(obj["single"]), pair=conv(obj["pair"]), special_tokens=sp)


def read_vocab_txt(path: Union[str, os.PathLike[str]]) -> List[Tuple[str, int]]:
    """One token per line; the line number is the id; trailing whitespace is removed (as the reference does)."""
    p = Path(path)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: vocab.txt is not UTF-8 (byte {e.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = [(line.rstrip(), i) for i, line in enumerate(lines)]
    if not vocab:
        raise ValueError(f"{p}: the vocabulary is empty (expected one token per line)")
    return vocab


def wordpiece_state(vocab: Sequence[Tuple[str, int]], *, normalizer: Optional[State], unk_token: str = "[UNK]",
                    prefix: str = "##", max_input_chars_per_word: int = 100,
                    special_tokens: Sequence[str] = DEFAULT_SPECIALS, post: bool = True, name: str = "") -> State:
    """State of a BERT-style tokenizer over `vocab`: the listed special tokens that the vocabulary holds become
    special tokens, and the [CLS]/[SEP] template is used when both are present (post=True)."""
    ids = dict(vocab)
    if unk_token not in ids:
        raise ValueError(f"the unknown token {unk_token!r} is not in the vocabulary; add it, or pass unk_token= naming "
                         f"the vocabulary's unknown token")
    specials = {t: ids[t] for t in special_tokens if t in ids}
    pp = bert_template(specials).to_json() if post and "[CLS]" in specials and "[SEP]" in specials else None
    return {"kind": "wordpiece", "vocab": list(vocab), "unk_token": unk_token, "prefix": prefix,
            "max_input_chars_per_word": max_input_chars_per_word, "normalizer": normalizer, "pretokenizer": "bert",
            "decoder": {"prefix": prefix, "cleanup": True}, "special_tokens": specials, "post_processor": pp,
            "name": name, "pad_token": "[PAD]" if "[PAD]" in specials else None}


def load_vocab_txt(path: Union[str, os.PathLike[str]], *, lowercase: bool = True, strip_accents: Optional[bool] = None,
                   clean_text: bool = True, handle_chinese_chars: bool = True, unk_token: str = "[UNK]",
                   wordpieces_prefix: str = "##", max_input_chars_per_word: int = 100, name: str = "") -> Tokenizer:
    """Load a BERT vocab.txt. Options as HF's BertWordPieceTokenizer (lowercase=True by default; pass
    lowercase=False for cased vocabularies such as bert-base-cased)."""
    vocab = read_vocab_txt(path)
    nz = bert_normalizer(lowercase=lowercase, strip_accents=strip_accents, clean_text=clean_text,
                         handle_chinese_chars=handle_chinese_chars)
    st = wordpiece_state(vocab, normalizer=nz, unk_token=unk_token, prefix=wordpieces_prefix,
                         max_input_chars_per_word=max_input_chars_per_word, name=name or Path(path).parent.name)
    return build_wordpiece(st)


def is_vocab_txt(p: Path) -> bool:
    if p.is_dir():
        return (p / "vocab.txt").exists() and not (p / "tokenizer.json").exists()
    return p.name.endswith("vocab.txt")


def load_detected(p: Path, **options: Any) -> Tokenizer:
    return load_vocab_txt(p / "vocab.txt" if p.is_dir() else p, **options)


def rebuild(state: State) -> Tokenizer:
    return build_wordpiece(state)
