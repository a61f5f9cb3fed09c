"""Fuzz targets for the file loaders (one function per format), raw bytes and structure-aware.

Property: `fastlm.load(path)` on any bytes either returns a working tokenizer or raises ValueError / OSError /
TypeError / KeyError whose message names the file. A tokenizer that loads must encode and decode without
crashing, give ids below n_vocab, and (byte-level BPE) decode what it encoded back to the same text.

The raw targets mutate whole files (seeds: tiny models from fuzz/make_seeds.py). The *_struct targets mutate a
parsed seed (a JSON tree, a SentencePiece ModelProto) along a path the input picks: wrong types, deleted keys,
huge and negative numbers, NaN scores, invalid piece types, a truncated charsmap, deep nesting. Byte mutation
alone rarely gets past the JSON or protobuf syntax, so the struct targets are where the semantic checks are hit.
"""
from __future__ import annotations

import functools
import json
import math
from typing import Any, List

from common import CORPUS, EXPECTED, expect_error, fix_surrogates, scratch_file, target, text_of

PROBES = ["hello world", "Héllo, wörld! 123 <|endoftext|>", "", " ", "日本語 😀", "\x00\ufeff\r\n", "a" * 50]


def _exercise(tok: Any, data: bytes) -> None:
    """A tokenizer that loaded must work: no crash, ids in range, BPE round-trips."""
    if tok is None:
        return
    texts = PROBES + [text_of(data[-64:])]
    for text in texts:
        ids = expect_error(lambda: tok.encode(text, disallowed_special=()))
        if ids is None:
            continue
        assert all(0 <= i < tok.n_vocab for i in ids), "id out of range"
        out = expect_error(lambda: tok.decode(ids))
        # Byte-level BPE covers every byte; a tokenizer.json BPE on the general pipeline drops what its vocabulary
        # cannot spell (no unk token), as HF does, so there the oracle is HF itself (_like_hf).
        byte_level = type(tok._core.encoder).__name__ == "BpeEncoder"
        if tok.model_type == "BPE" and byte_level and out is not None and not tok.special_tokens:
            assert out == fix_surrogates(text), f"BPE decode(encode({text!r})) = {out!r}"
    expect_error(lambda: tok.encode_batch(texts, num_threads=2, disallowed_special=()))
    expect_error(lambda: tok(texts[1], pair=texts[2], truncation=True, max_length=8))
    expect_error(lambda: tok.decode(list(range(min(tok.n_vocab, 300)))))


def _load(name: str, data: bytes, **options: Any) -> Any:
    import fastlm

    p = scratch_file(name, data)
    return expect_error(lambda: fastlm.load(p, **options), names=str(p))


@target("load_tiktoken", max_len=16384)
def fuzz_load_tiktoken(data: bytes) -> None:
    _exercise(_load("ranks.tiktoken", data, pattern="cl100k"), data)


@target("load_gpt2", max_len=16384)
def fuzz_load_gpt2(data: bytes) -> None:
    """encoder.json and vocab.bpe in one input, separated by a marker line (all JSON if the marker is gone)."""
    import fastlm

    enc, _, merges = data.partition(b"\n#--merges--\n")
    a = scratch_file("gpt2/encoder.json", enc)
    b = scratch_file("gpt2/vocab.bpe", merges)
    try:
        tok = fastlm.Tokenizer.from_gpt2(a, b)
    except EXPECTED as e:
        assert str(a) in str(e) or str(b) in str(e) or not isinstance(e, (ValueError, OSError)), \
            f"error does not name a file: {e!r}"
        return
    _exercise(tok, data)


@target("load_vocab_txt", max_len=16384)
def fuzz_load_vocab_txt(data: bytes) -> None:
    _exercise(_load("vocab.txt", data), data)


def _like_hf(tok: Any, text: str) -> None:
    """A tokenizer.json that both fastlm and HF tokenizers load encodes the probes to the same ids."""
    if tok is None:
        return
    try:
        import tokenizers
    except ImportError:
        return
    try:
        hf = tokenizers.Tokenizer.from_str(text)
    except Exception:  # HF refuses the file (fastlm may still read it: e.g. a null where HF wants a value)
        return
    except BaseException as e:  # a Rust panic in HF (pyo3 PanicException is a BaseException)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return
    for probe in PROBES:
        try:
            want = hf.encode(probe, add_special_tokens=False).ids
        except BaseException as e:
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            continue
        got = expect_error(lambda: tok.encode(probe, allowed_special="all"))
        if got is not None:
            assert got == want, f"ids differ from HF tokenizers on {probe!r}: {got[:12]} vs {want[:12]}"


@target("load_hf_json", max_len=16384)
def fuzz_load_hf_json(data: bytes) -> None:
    tok = _load("tokenizer.json", data)
    _exercise(tok, data)
    _like_hf(tok, data.decode("utf-8", "replace"))


@target("load_sp_model", max_len=32768)
def fuzz_load_sp_model(data: bytes) -> None:
    tok = _load("fuzz.model", data)
    _exercise(tok, data)
    if tok is not None and not tok._enc.is_bpe:
        expect_error(lambda: tok.nbest("hello world", 3))
        expect_error(lambda: tok.encode("hello world", sample=True, seed=1))


# ------------------------------------------------------------------------------------------------ structure-aware
class Bytes:
    """Reads choices from the fuzz input; past the end every read is 0 (so any input is a valid program)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def int(self, n: int) -> int:
        return int.from_bytes(bytes(self.byte() for _ in range(n)), "little", signed=True)

    def choice(self, seq: List[Any]) -> Any:
        return seq[self.byte() % len(seq)]

    def rest(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def _value(r: Bytes) -> Any:
    k = r.byte() % 12
    if k == 0:
        return None
    if k == 1:
        return bool(r.byte() & 1)
    if k == 2:
        return r.int(1)
    if k == 3:
        return r.int(8) * (2 ** 40 if r.byte() & 1 else 1)
    if k == 4:
        return r.choice([math.nan, math.inf, -math.inf, -0.0, 1e308, 0.5, -1.5])
    if k == 5:
        return text_of(r.rest(r.byte() % 16))
    if k == 6:
        return []
    if k == 7:
        return {}
    if k == 8:
        return r.choice(["BPE", "WordPiece", "Unigram", "ByteLevel", "Sequence", "Split", "BertNormalizer",
                         "BertPreTokenizer", "TemplateProcessing", "RobertaProcessing", "WordPiece", "Metaspace"])
    if k == 9:
        return [_value(r)]
    if k == 10:
        deep: Any = 0
        for _ in range(r.choice([10, 100, 3000, 100000])):
            deep = [deep]
        return deep
    return {"id": r.int(2), "content": text_of(r.rest(4)), "special": True}


def _mutate_json(node: Any, r: Bytes, depth: int = 0) -> Any:
    """Walk to a child the input picks (or stop here) and replace, delete or duplicate something."""
    children = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    if children and depth < 8 and r.byte() % 4 != 0:
        key = r.choice(children)
        op = r.byte() % 6
        if op == 0:
            del node[key]
        elif op == 1:
            node[key] = _value(r)
        elif op == 2 and isinstance(node, list):
            node.insert(key, node[key])
        else:
            node[key] = _mutate_json(node[key], r, depth + 1)
        return node
    return _value(r)


@functools.lru_cache(maxsize=1)
def _json_seeds() -> List[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((CORPUS / "load_hf_json").glob("*.json"))]


@target("hf_json_struct", max_len=256)
def fuzz_hf_json_struct(data: bytes) -> None:
    r = Bytes(data)
    obj = json.loads(r.choice(_json_seeds()))
    for _ in range(1 + r.byte() % 4):
        obj = _mutate_json(obj, r)
    try:
        text = json.dumps(obj, ensure_ascii=False)
    except (RecursionError, ValueError):
        return  # not representable as JSON
    tok = _load("tokenizer.json", text.encode("utf-8", "surrogatepass"))
    _exercise(tok, data)
    _like_hf(tok, text)


@functools.lru_cache(maxsize=1)
def _sp_seeds() -> List[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / "load_sp_model").glob("*.model"))]


def _mutate_proto(proto: Any, r: Bytes) -> None:
    op = r.byte() % 8
    if op <= 2:
        pieces = list(proto.pieces)
        if not pieces:
            return
        i = r.byte() % len(pieces)
        piece, score, kind = pieces[i]
        what = r.byte() % 6
        if what == 0:
            del pieces[i]
        elif what == 1:
            pieces.insert(r.byte() % len(pieces), pieces[i])
        elif what == 2:
            pieces[i] = (piece, r.choice([math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0]), kind)
        elif what == 3:
            pieces[i] = (piece, score, r.byte() % 8)
        elif what == 4:
            pieces[i] = (text_of(r.rest(r.byte() % 8)).encode("utf-8", "surrogatepass"), score, kind)
        else:
            pieces[i] = (r.rest(r.byte() % 8), score, kind)  # maybe invalid UTF-8
        proto.pieces = pieces
    elif op == 3:  # trainer: model_type, vocab_size, byte_fallback, treat_ws_as_suffix, unk/bos/eos/pad ids
        proto.set_int("trainer", r.choice([3, 4, 35, 24, 40, 41, 42, 43]), r.int(4))
    elif op == 4:  # normalizer: name, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces
        f = r.choice([1, 3, 4, 5])
        if f == 1:
            proto.set_bytes("normalizer", 1, r.choice([b"identity", b"nfkc", b"nmt_nfkc", b"bogus", b""]))
        else:
            proto.set_bool("normalizer", f, bool(r.byte() & 1))
    elif op == 5:  # the precompiled charsmap: truncated, bit-flipped or replaced
        cm = proto.get_bytes("normalizer", 2, b"")
        how = r.byte() % 3
        if how == 0:
            cm = cm[: r.int(3) % (len(cm) + 1)]
        elif how == 1 and cm:
            i = r.int(3) % len(cm)
            cm = cm[:i] + bytes([cm[i] ^ (1 << (r.byte() % 8))]) + cm[i + 1:]
        else:
            cm = r.rest(r.byte())
        proto.set_bytes("normalizer", 2, cm)
    elif op == 6:
        proto.pieces = []
    else:
        proto.set_bytes(r.choice(["trainer", "normalizer"]), r.byte() % 64, r.rest(r.byte() % 8))


@target("sp_model_struct", max_len=256)
def fuzz_sp_model_struct(data: bytes) -> None:
    from fastlm import _core

    r = Bytes(data)
    proto = _core.SpModelProto.parse(r.choice(_sp_seeds()), "<seed>")
    for _ in range(1 + r.byte() % 4):
        expect_error(lambda: _mutate_proto(proto, r))
    tok = _load("fuzz.model", bytes(proto.serialize()))
    _exercise(tok, data)
