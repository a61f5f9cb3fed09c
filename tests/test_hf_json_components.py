"""The general tokenizer.json pipeline, one component at a time, against HF tokenizers on the shared text.

Every normalizer and pre-tokenizer runs in front of the GPT-2 BPE model (which can spell any text), so ids AND
offsets (the alignment back to the original text) are compared; decoders are compared on decoded text and through
the streaming decoder; the regex engine is compared match for match with HF's Split; added tokens with every flag
combination; unsupported components raise errors that name them.
"""
from __future__ import annotations

import json
import random

import pytest

from conftest import data_path, sample_lines

import fastlm
from fastlm.formats import hf_json

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers  # noqa: E402
from tokenizers import Tokenizer as HF  # noqa: E402

import _hf_convert as conv  # noqa: E402


@pytest.fixture(scope="module")
def lines():
    out = sample_lines(60, nonempty=True)
    norm = data_path("unicode", "NormalizationTest.txt").read_text(encoding="utf-8").split("\n")
    rng = random.Random(0)
    for ln in rng.sample([x for x in norm if x and not x.startswith(("#", "@"))], 300):
        cols = ln.split(";")[:5]
        out.append(" ".join("".join(chr(int(c, 16)) for c in col.split()) for col in cols) + " x\u0301y")
    out += ["", " ", "   leading and trailing   ", "a\r\nb", "\t\tTabs\tand\nnewlines\n", "Ụ̈̄ ẹ́ ﬁ ① Ⅻ ㈎",
            "e\u0301\u0323 x", "IJ İstanbul ΣΑΣ", "１２３ abc １", "a  b   c", "1234567890 12 3.14"]
    return out


def gpt2_hf():
    vocab, merges = conv._gpt2_files()
    return HF(tokenizers.models.BPE(vocab, merges))


def check(hf, lines, name, allowed=False):
    tok = fastlm.Tokenizer.from_hf(hf)
    assert type(tok._core.encoder).__name__ == "PipelineEncoder", name
    for text in lines:
        h = hf.encode(text, add_special_tokens=False)
        ids, st, en = tok._core.encode_with_offsets(text, b"\x01" * len(tok.special_tokens) if allowed else None, None)
        assert ids.tolist() == h.ids, (name, text[:80])
        assert list(zip(st.tolist(), en.tolist())) == h.offsets, (name, text[:80])
    return tok


NORMALIZERS = {
    "NFC": normalizers.NFC, "NFD": normalizers.NFD, "NFKC": normalizers.NFKC, "NFKD": normalizers.NFKD,
    "Lowercase": normalizers.Lowercase, "StripAccents": normalizers.StripAccents,
    "NFD+StripAccents+Lowercase": lambda: normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                                                normalizers.Lowercase()]),
    "Bert": normalizers.BertNormalizer,
    "Bert-cased-no-clean": lambda: normalizers.BertNormalizer(clean_text=False, lowercase=False,
                                                             handle_chinese_chars=False),
    "Bert-strip-only": lambda: normalizers.BertNormalizer(lowercase=False, strip_accents=True),
    "Replace-string": lambda: normalizers.Replace("  ", "\u2581"),
    "Replace-regex": lambda: normalizers.Sequence([normalizers.Replace(Regex(r"\A +| +\z"), ""),
                                                   normalizers.Replace(Regex(" {2,}"), " "),
                                                   normalizers.Replace(Regex(r"\d+"), "<num>")]),
    "Prepend": lambda: normalizers.Prepend("\u2581"),
    "Strip": normalizers.Strip,
    "Strip-left": lambda: normalizers.Strip(left=True, right=False),
    "NFKC+Strip+Prepend": lambda: normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(),
                                                        normalizers.Prepend("\u2581")]),
}


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_normalizer_ids_and_offsets_like_hf(name, lines):
    hf = gpt2_hf()
    hf.normalizer = NORMALIZERS[name]()
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    check(hf, lines, name)


@pytest.mark.parametrize("model", ["xlnet_spiece.model", "kyoto_ja_unigram_8000.model",
                                   "botchan_en_unigram_1000.model"])
def test_precompiled_charsmap_like_hf(model, lines):
    """SentencePiece charsmaps, applied per grapheme cluster as HF does (CR LF, combining marks, emoji)."""
    t5 = json.loads(conv.spm_json("spm", model))
    charsmap = next(n for n in t5["normalizer"]["normalizers"] if n["type"] == "Precompiled")
    hf = gpt2_hf()
    hf.normalizer = normalizers.Precompiled(__import__("base64").b64decode(charsmap["precompiled_charsmap"]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    extra = ["a\r\nb\r\n", "e\u0301 ｶﾞ ｶ\u3099 ❤️ 👩‍👩‍👧 🇯🇵🇫🇷 A\u200db ①②", "\u3000full\u3000width ＡＢ"]
    check(hf, lines + extra, model)


PRE_TOKENIZERS = {
    "Whitespace": pre_tokenizers.Whitespace, "WhitespaceSplit": pre_tokenizers.WhitespaceSplit,
    "BertPreTokenizer": pre_tokenizers.BertPreTokenizer,
    "Digits": lambda: pre_tokenizers.Digits(individual_digits=False),
    "Digits-individual": lambda: pre_tokenizers.Digits(individual_digits=True),
    "Metaspace-always": lambda: pre_tokenizers.Metaspace(prepend_scheme="always"),
    "Metaspace-first-nosplit": lambda: pre_tokenizers.Metaspace(prepend_scheme="first", split=False),
    "Metaspace-never": lambda: pre_tokenizers.Metaspace(prepend_scheme="never"),
    "Split-llama3": lambda: pre_tokenizers.Split(Regex(
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
        r"\s+(?!\S)|\s+"), "isolated"),
    "Split-qwen-digits": lambda: pre_tokenizers.Split(Regex(r"\p{N}"), "isolated"),
    "Split-string-removed": lambda: pre_tokenizers.Split(" ", "removed"),
    "Split-merged-prev": lambda: pre_tokenizers.Split(Regex(r"[.,!?]"), "merged_with_previous"),
    "Split-merged-next": lambda: pre_tokenizers.Split(Regex(r"\s"), "merged_with_next"),
    "Split-contiguous-invert": lambda: pre_tokenizers.Split(Regex(r"[a-z]"), "contiguous", invert=True),
    "Split-cjk-scripts": lambda: pre_tokenizers.Split(Regex(r"\p{Han}+|\p{Hiragana}+|\p{Katakana}+"), "isolated"),
    "Punctuation": pre_tokenizers.Punctuation,
    "Punctuation-removed": lambda: pre_tokenizers.Punctuation("removed"),
    "ByteLevel-prefix": lambda: pre_tokenizers.ByteLevel(add_prefix_space=True),
    "ByteLevel-noregex": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    "Sequence-ws-digits-meta": lambda: pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                                pre_tokenizers.Digits(True),
                                                                pre_tokenizers.Metaspace(prepend_scheme="first")]),
}


@pytest.mark.parametrize("name", sorted(PRE_TOKENIZERS))
def test_pre_tokenizer_ids_and_offsets_like_hf(name, lines):
    hf = gpt2_hf()
    pre = PRE_TOKENIZERS[name]()
    if name.startswith("ByteLevel"):
        hf.pre_tokenizer = pre
    else:  # map the pieces to the byte alphabet the GPT-2 vocabulary is spelled in
        hf.pre_tokenizer = pre_tokenizers.Sequence([pre, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                   use_regex=False)])
    hf.normalizer = normalizers.Strip() if "first" in name else None
    check(hf, lines, name)


REGEXES = [
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"\p{N}{1,3}+",  # Ruby syntax: a repetition of the interval, not possessive
    r"\w+|[^\w\s]+", r"\d+(?:\.\d+)?", r"(?<=\p{L})\d", r"(?<![a-z])[A-Z]{2,}", r"\b\w", r"(?>a+)b|\S+",
    r"[[:digit:]]+|[[:space:]]+", r"[\u3040-\u309F]+|[一-龥]+", r"^\s*\S|\S\s*$", r"x*", r".{2,5}?\s",
    r"\A +| +\z", r"(?i)[a-f]+", r"[^\p{P}\p{S}\s]+", r"\p{Zs}|\p{Cc}+", r"a|ab|abc",
]


@pytest.mark.parametrize("pattern", REGEXES)
def test_regex_engine_matches_like_hf(pattern, lines):
    ours = fastlm._core.Regex(pattern)
    split = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)
    for text in lines:
        want = [(s, e) for _, (s, e) in split.pre_tokenize_str(text)]
        raw = text.encode("utf-8")
        starts = [len(raw[:i].decode("utf-8", "ignore")) for i in range(len(raw) + 1)]
        got = [(starts[b], starts[e]) for b, e in ours.find_all(text) if e > b]
        assert got == want, (pattern, text[:60])


def test_unsupported_regex_constructs_raise():
    for bad, what in [(r"(a)\1", "backreference"), (r"(?<=a+)b", "lookbehind"), (r"[a&&b]", "intersection"),
                      (r"\X", r"\\X"), (r"(?x) a", r"\(\?x\)"), (r"\p{Alpha}", "Alpha"), (r"(", r"missing '\)'")]:
        with pytest.raises(ValueError, match=what):
            fastlm._core.Regex(bad)


DECODERS = {
    "ByteLevel": decoders.ByteLevel, "WordPiece": lambda: decoders.WordPiece("##", cleanup=True),
    "Metaspace": lambda: decoders.Metaspace(prepend_scheme="always"),
    "Metaspace-never": lambda: decoders.Metaspace(prepend_scheme="never"),
    "Strip": lambda: decoders.Strip(" ", 1, 1), "Replace": lambda: decoders.Replace("Ġ", " "),
    "Replace-regex+Fuse": lambda: decoders.Sequence([decoders.Replace(Regex("Ġ+"), "_"), decoders.Fuse()]),
    "Sequence": lambda: decoders.Sequence([decoders.Replace("Ġ", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)]),
    "none": lambda: None,
}


def stream_all(tok, ids):
    s = tok.decode_stream()
    return "".join(s.step(i) for i in ids) + s.finish()


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_like_hf_and_streaming(name, lines):
    hf = gpt2_hf()
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    dec = DECODERS[name]()
    if dec is not None:
        hf.decoder = dec
    tok = fastlm.Tokenizer.from_hf(hf)
    rng = random.Random(3)
    for text in lines[::3]:
        ids = hf.encode(text).ids
        assert tok.decode(ids) == hf.decode(ids), (name, text[:60])
        assert stream_all(tok, ids) == tok.decode(ids), (name, text[:60])
    for _ in range(50):
        ids = [rng.randrange(50257) for _ in range(rng.randrange(1, 12))]
        assert tok.decode(ids) == hf.decode(ids), (name, ids)
        assert stream_all(tok, ids) == tok.decode(ids), (name, ids)


def test_byte_fallback_decoding_and_streaming(lines):
    """Llama: ByteFallback + Fuse + Strip; a character split over <0xNN> pieces streams without U+FFFD."""
    hf = HF.from_str(conv.spm_json("llama", "llama2_tokenizer.model"))
    tok = fastlm.Tokenizer.from_hf(hf)
    for text in lines[::2] + ["🫠 emoji ❤️ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ﷽"]:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids) == hf.decode(ids), text[:60]
        assert stream_all(tok, ids) == hf.decode(ids), text[:60]
    ids = hf.encode("🫠", add_special_tokens=False).ids
    assert len(ids) == 5  # "▁" and four <0xNN> pieces
    s = tok.decode_stream()
    parts = [s.step(i) for i in ids]
    assert parts == ["", "", "", "", "🫠"]


def test_added_tokens_every_flag_like_hf():
    hf = gpt2_hf()
    hf.normalizer = normalizers.Lowercase()
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False), AddedToken("[SEP]", rstrip=True,
                                                                                            normalized=False)])
    hf.add_tokens([AddedToken("cat", single_word=True), AddedToken("DOG", normalized=True),
                   AddedToken("Raw", normalized=False), AddedToken("ab", normalized=False),
                   AddedToken("abc", normalized=False, lstrip=True, rstrip=True)])
    texts = ["the cat sat", "concatenate cats", "a <mask> b   <mask>c", "x [SEP]   y[SEP]", "my dog and DOG Dog",
             "Raw raw RAW", "xabcx ab abc  abab", "cat", "<mask>", "  <mask>  ", "cat-dog_cat.cat", "ÄBC abc Abc"]
    tok = check(hf, texts, "added", allowed=True)
    assert set(tok.special_tokens) == {"<mask>", "[SEP]"}
    # non-special added tokens always match; special ones only when allowed (fastlm's rule), else they raise
    assert tok.encode("the cat", disallowed_special=()) == hf.encode("the cat").ids
    with pytest.raises(ValueError, match="disallowed special token"):
        tok.encode("a <mask>")
    assert tok.decode(hf.encode("x <mask> DOG y").ids) == hf.decode(hf.encode("x <mask> DOG y").ids,
                                                                     skip_special_tokens=False)


@pytest.mark.parametrize("field, value, msg", [
    ("normalizer", {"type": "Nmt"}, r"normalizer.type' = 'Nmt' is not supported"),
    ("normalizer", {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "ByteLevel"}]},
     r"normalizer.normalizers\[1\].type"),
    ("normalizer", {"type": "Replace", "pattern": {"Regex": "(a)\\1"}, "content": ""}, "backreference"),
    ("normalizer", {"type": "Precompiled", "precompiled_charsmap": "!!"}, "base64"),
    ("pre_tokenizer", {"type": "UnicodeScripts"}, "UnicodeScripts"),
    ("pre_tokenizer", {"type": "Split", "pattern": {"String": "x"}, "behavior": "Weird"}, "behavior"),
    ("pre_tokenizer", {"type": "Metaspace", "prepend_scheme": "sometimes"}, "prepend_scheme"),
    ("decoder", {"type": "CTC"}, "CTC"),
    ("decoder", {"type": "BPEDecoder"}, "BPEDecoder"),
    ("post_processor", {"type": "Foo"}, "post_processor.type"),
    ("truncation", {"max_length": 4, "strategy": "Sometimes"}, "truncation.strategy"),
    ("padding", {"strategy": "Whatever"}, "padding.strategy"),
    ("model", {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "model.type' = 'WordLevel'"),
    ("model", {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"], "dropout": 0.3}, "dropout"),
    ("model", {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}, "merged token 'ab'"),
    ("model", {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 3}, "unk_id"),
    ("added_tokens", [{"id": 1, "content": ""}], r"added_tokens\[0\].content"),
    ("pre_tokenzier", None, r"bad.json: unknown field\(s\) 'pre_tokenzier'"),  # HF refuses the file too
])
def test_unsupported_components_raise_naming_them(field, value, msg):
    obj = json.loads(conv.gpt2_json(True))
    obj[field] = value
    with pytest.raises(ValueError, match=msg):
        fastlm.formats.hf_json.load_obj(obj, "bad.json")


def test_unigram_without_unk_raises_on_uncovered_text():
    obj = {"model": {"type": "Unigram", "vocab": [["a", -1.0], ["b", -2.0]], "unk_id": None}}
    tok = fastlm.formats.hf_json.load_obj(obj)
    assert tok.encode("ab") == [0, 1]
    with pytest.raises(ValueError, match="no unk_id"):
        tok.encode("abc")


def test_adversarial_input_like_hf():
    """One repeated character, no whitespace, only spaces: the general pipeline's regex split and BPE give HF's ids
    (the time per MB is measured in bench/bench_hf_json.py)."""
    hf = gpt2_hf()
    hf.pre_tokenizer = pre_tokenizers.Sequence([PRE_TOKENIZERS["Split-llama3"](),
                                                pre_tokenizers.ByteLevel(use_regex=False, add_prefix_space=False)])
    llama = HF.from_str(conv.spm_json("llama", "llama2_tokenizer.model"))
    for ref in (hf, llama):
        tok = fastlm.Tokenizer.from_hf(ref)
        for text in ["a" * 200_000, " " * 200_000, "ab1." * 50_000, "\n" * 100_000 + "x", "\u00e9" * 100_000]:
            assert tok.encode_ordinary(text) == ref.encode(text, add_special_tokens=False).ids


def _word_level_json(vocab, added):
    """A WordPiece file whose added tokens carry `added` = [(content, written id, special)]."""
    return {"version": "1.0", "truncation": None, "padding": None, "normalizer": None,
            "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
            "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": s} for c, i, s in added],
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}}


@pytest.mark.parametrize("vocab, added", [
    ({"[UNK]": 0, "a": 1, "b": 2}, [("X", 7, True)]),                    # written past a gap: HF numbers it 3
    ({"[UNK]": 0, "a": 1, "b": 2}, [("Y", 9, True), ("X", 7, False)]),   # file order, not id order
    ({"[UNK]": 0, "a": 1, "b": 2}, [("a", 9, True), ("X", 1, False)]),   # in the vocabulary: the vocabulary's id
    ({"[UNK]": 0, "a": 1, "b": 5}, [("X", 2, True), ("Z", 3, True)]),    # vocabulary with a gap
])
def test_added_token_ids_are_read_as_hf_reads_them(vocab, added):
    obj = _word_level_json(vocab, added)
    hf = tokenizers.Tokenizer.from_str(json.dumps(obj))
    tok = hf_json.load_obj(obj)
    for c, _, _ in added:
        assert tok.token_to_id(c) == hf.token_to_id(c), c
    text = " ".join(c for c, _, _ in added) + " a b " + added[0][0]
    assert tok.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids
    assert tok.decode(hf.encode(text).ids) == hf.decode(hf.encode(text).ids, skip_special_tokens=False)


def test_added_token_read_onto_another_tokens_id_raises():
    obj = _word_level_json({"[UNK]": 0, "a": 1, "b": 3}, [("X", 2, True), ("Y", 5, True)])  # HF: X=3, Y=4
    with pytest.raises(ValueError, match=r"added_tokens\[0\].*'X'.*id 3.*'b'"):
        hf_json.load_obj(obj, "t.json")


def test_saver_puts_specials_with_gapped_ids_into_the_vocabulary():
    tok = fastlm.load(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken"))
    obj = tok.to_json()
    vocab = obj["model"]["vocab"]
    for s, i in tok.special_tokens.items():
        assert vocab[s] == i
    assert 100256 not in set(vocab.values())  # the gap stays a gap
    hf = tokenizers.Tokenizer.from_str(json.dumps(obj))
    assert {s: hf.token_to_id(s) for s in tok.special_tokens} == tok.special_tokens


@pytest.mark.parametrize("pattern", [r"\h+", r"[[:xdigit:]]+", r"[\h_]+"])
def test_regex_hex_digit_classes(pattern):
    # \h and [:xdigit:] are [0-9a-fA-F]: digits, a-f and A-F, nothing past them (g, G, x).
    got = fastlm._core.Regex(pattern).find_all("zz0aF9g_Gx-f")
    want = [(2, 6), (7, 8), (11, 12)] if "_" in pattern else [(2, 6), (11, 12)]
    assert got == want
