"""tokenizer.json round trips on every shared tokenizer file.

* A file written by HF (bert-base-uncased/tokenizer.json, and the GPT-2, RoBERTa-style, BERT vocab.txt and
  SentencePiece files converted with transformers' converters, tests/_hf_convert.py) loads in fastlm and encodes
  exactly as HF tokenizers does: ids, offsets, type ids, special-token and attention masks, for single texts and
  pairs, with and without special tokens; decoding gives HF's text.
* A file written by fastlm (trained tokenizers, vocab.txt and .model tokenizers, re-saved HF files) loads in HF
  tokenizers with the same encodings, and `transformers.PreTrainedTokenizerFast(tokenizer_file=...)` works on it.
* to_hf / from_hf convert in memory; pickling keeps the pipeline.
"""
from __future__ import annotations

import json
import pickle
from fractions import Fraction

import pytest

from conftest import DATA, data_path, sample_lines

import fastlm
from fastlm.formats import hf_json

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

import _hf_convert as conv  # noqa: E402

LINES_PER_FILE = 150


@pytest.fixture(scope="module")
def lines():
    return sample_lines(LINES_PER_FILE)


def _cases():
    cases = {
        "bert-base-uncased": lambda: data_path("tokenizers", "bert-base-uncased", "tokenizer.json").read_text(
            encoding="utf-8"),
        "bert-base-uncased-vocab": lambda: conv.bert_json("bert-base-uncased", True),
        "bert-base-cased": lambda: conv.bert_json("bert-base-cased", False),
        "bert-base-chinese": lambda: conv.bert_json("bert-base-chinese", True),
        "gpt2": lambda: conv.gpt2_json(False),
        "gpt2-prefix-space": lambda: conv.gpt2_json(True),
        "roberta-style": conv.roberta_json,
    }
    for name, kind, f in conv.SPM_CASES:
        cases[name] = (lambda kind=kind, f=f: conv.spm_json(kind, f))
    return cases


CASES = _cases()


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    text = CASES[request.param]()
    p = tmp_path_factory.mktemp(request.param.replace("/", "_")) / "tokenizer.json"
    p.write_text(text, encoding="utf-8")
    return request.param, p


def hf_from(path):
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_padding()
    hf.no_truncation()
    return hf


def fastlm_from(path):
    tok = fastlm.load(path)
    tok.no_padding()
    tok.no_truncation()
    return tok


def same(f, h, where):
    assert f.ids == h.ids, where
    assert [tuple(o) for o in f.offsets] == h.offsets, where
    assert f.type_ids == h.type_ids, where
    assert f.special_tokens_mask == h.special_tokens_mask, where
    assert f.attention_mask == h.attention_mask, where


def assert_encodes_like(tok, hf, lines, name):
    for add in (True, False):
        for k, (f, h) in enumerate(zip(tok(lines, add_special_tokens=add), hf.encode_batch(lines, add_special_tokens=add))):
            same(f, h, f"{name} add_special_tokens={add} line {k}: {lines[k][:60]!r}")
    a = [x for x in lines if x.strip()][:200]
    left, right = a[0::2], a[1::2][: len(a[0::2])]
    left = left[: len(right)]
    for k, (f, h) in enumerate(zip(tok(left, right), hf.encode_batch(list(zip(left, right))))):
        same(f, h, f"{name} pair {k}")
    for text in lines[::20]:
        ids = hf.encode(text).ids
        assert tok.decode(ids) == hf.decode(ids, skip_special_tokens=False), (name, text[:60])
        assert tok.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True), (name, text[:60])


def test_hf_file_loads_in_fastlm_and_encodes_identically(case, lines):
    name, path = case
    assert_encodes_like(fastlm_from(path), hf_from(path), lines, name)


def test_fastlm_file_loads_in_hf_and_encodes_identically(case, lines, tmp_path):
    name, path = case
    tok = fastlm.load(path)
    out = tmp_path / "resaved.json"
    tok.save(out)
    assert_encodes_like(fastlm_from(out), hf_from(out), lines, name)
    assert_encodes_like(fastlm_from(out), hf_from(path), lines[:500], name + " vs original")


@pytest.mark.parametrize("name", ["bert-base-uncased", "gpt2", "bert-base-cased"])
def test_general_pipeline_equals_the_fast_path(name, lines, monkeypatch, tmp_path):
    """The specialised encoders and the general pipeline give the same encodings for the files both can run."""
    p = tmp_path / "tokenizer.json"
    p.write_text(CASES[name](), encoding="utf-8")
    fast = fastlm_from(p)
    assert type(fast._core.encoder).__name__ in ("BpeEncoder", "WordPieceEncoder")
    monkeypatch.setattr(hf_json, "FAST_PATHS", {})
    general = fastlm_from(p)
    assert type(general._core.encoder).__name__ == "PipelineEncoder"
    for f, g in zip(fast(lines), general(lines)):
        assert (f.ids, f.offsets, f.type_ids) == (g.ids, g.offsets, g.type_ids)


def test_file_truncation_and_padding_apply_like_hf(lines):
    path = data_path("tokenizers", "bert-base-uncased", "tokenizer.json")
    tok, hf = fastlm.load(path), tokenizers.Tokenizer.from_file(str(path))
    assert tok.truncation is not None and tok.truncation.max_length == 128
    assert tok.padding is not None and tok.padding.length == 128
    long = [x for x in lines if 100 < len(x) < 400][:20] + lines[:50]
    for f, h in zip(tok(long), hf.encode_batch(long)):
        same(f, h, "file settings")
        assert len(f.overflowing) == len(h.overflowing)
    for setting in [dict(max_length=17, stride=3, strategy="longest_first", direction="left"),
                    dict(max_length=9, stride=0, strategy="only_second", direction="right")]:
        tok.enable_truncation(**setting)
        hf.enable_truncation(setting["max_length"], stride=setting["stride"], strategy=setting["strategy"],
                             direction=setting["direction"])
        tok.enable_padding(direction="left", pad_to_multiple_of=8)
        hf.enable_padding(direction="left", pad_to_multiple_of=8, pad_id=0, pad_token="[PAD]")
        pairs = [(a, b) for a, b in zip(long[0::2], long[1::2]) if a.strip() and b.strip()]
        ok = []
        for a, b in pairs:
            try:
                h = hf.encode(a, b)
            except Exception:  # HF refuses (e.g. only_second cannot fit): so must fastlm
                with pytest.raises(ValueError, match="truncation cannot fit"):
                    tok(a, b)
                continue
            ok.append((a, b))
            f = tok(a, b)
            same(f, h, f"{setting} {a[:40]!r}")
            assert len(f.overflowing) == len(h.overflowing)
            for fo, ho in zip(f.overflowing, h.overflowing):
                same(fo, ho, "overflow")
        assert ok
        batch = tok([a for a, _ in ok], [b for _, b in ok])
        for f, h in zip(batch, hf.encode_batch(ok)):
            same(f, h, "batch")
    saved = tok.to_json()
    assert saved["truncation"] == {"direction": "Right", "max_length": 9, "strategy": "OnlySecond", "stride": 0}
    assert saved["padding"]["strategy"] == "BatchLongest" and saved["padding"]["direction"] == "Left"
    tok.no_padding()
    tok.no_truncation()
    assert tok.to_json()["padding"] is None
    assert len(tok(lines[0] * 50).ids) > 128


# ------------------------------------------------------------------------------------------------ SentencePiece
@pytest.mark.parametrize("model", sorted(p.name for p in (DATA / "tokenizers" / "sentencepiece").glob("*.model"))
                         or ["llama2_tokenizer.model"])
def test_sentencepiece_model_saves_a_tokenizer_json_hf_reads_identically(model, lines, tmp_path):
    """A .model tokenizer written as tokenizer.json: HF encodes it as fastlm (= sentencepiece) does, except where
    two segmentations have exactly the same score (HF sums in double precision, sentencepiece in float, so such a
    tie may break the other way); and fastlm reading the file is HF exactly."""
    sp = fastlm.load(data_path("tokenizers", "sentencepiece", model))
    out = tmp_path / "tokenizer.json"
    sp.save(out)
    hf = tokenizers.Tokenizer.from_file(str(out))
    back = fastlm.load(out)
    text = [x for x in lines if x]
    want = sp.encode_batch(text)
    got = [e.ids for e in hf.encode_batch(text, add_special_tokens=False)]
    ties = 0
    for line, a, b in zip(text, want, got):
        if a != b:
            ties += 1
            assert sum(Fraction(sp.get_score(i)) for i in a) == sum(Fraction(sp.get_score(i)) for i in b), line
    assert ties <= 3
    assert back.encode_batch(text) == got
    for t in text[:200]:
        ids = sp.encode(t)
        assert hf.decode(ids, skip_special_tokens=False) == back.decode(ids), t
        if sp.unk_id not in ids:  # sentencepiece spells the unknown piece " ⁇ ", HF by its piece string
            assert back.decode(ids) == sp.decode(ids), t


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base"])
def test_tiktoken_files_save_a_tokenizer_json_hf_reads_identically(name, lines, tmp_path):
    tok = fastlm.load(data_path("tokenizers", "tiktoken", name + ".tiktoken"))
    out = tmp_path / "tokenizer.json"
    tok.save(out)
    hf = tokenizers.Tokenizer.from_file(str(out))
    want = tok.encode_batch(lines, disallowed_special=())
    assert [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)] == want
    assert fastlm.load(out).encode_batch(lines, disallowed_special=()) == want


# ------------------------------------------------------------------------------------------------ trained
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    files = [data_path("text", "en_tinyshakespeare.txt"), data_path("text", "ja_wagahaiwa_nekodearu.txt")]
    bpe = fastlm.train("bpe", files, vocab_size=1500, pattern="cl100k", special_tokens=["<|endoftext|>"],
                       progress=False)
    wp = fastlm.train("wordpiece", files, vocab_size=3000, progress=False)
    d = tmp_path_factory.mktemp("trained")
    bpe.save(d / "bpe.json")
    wp.save(d / "wp.json")
    return {"bpe": (bpe, d / "bpe.json"), "wordpiece": (wp, d / "wp.json")}


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_trained_tokenizers_read_identically_in_hf(trained, kind, lines):
    tok, path = trained[kind]
    hf = hf_from(path)
    for f, h in zip(tok(lines), hf.encode_batch(lines)):
        same(f, h, kind)
    assert_encodes_like(fastlm_from(path), hf, lines[:1000], kind)


@pytest.mark.parametrize("byte_fallback", [False, True])
def test_trained_unigram_reads_identically_in_hf_and_transformers(byte_fallback, lines, tmp_path):
    """fastlm.train("unigram") saved as tokenizer.json: HF gives sentencepiece's (= fastlm's) ids up to exact score
    ties; fastlm reading the file is HF exactly; transformers gives the same ids and offsets."""
    files = [data_path("text", "en_botchan.txt"), data_path("text", "ja_wagahaiwa_nekodearu.txt")]
    tok = fastlm.train("unigram", files, vocab_size=4000, byte_fallback=byte_fallback, progress=False)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    hf = hf_from(path)
    text = [x for x in lines if x]
    ties = 0
    for line, a, b in zip(text, tok.encode_batch(text), hf.encode_batch(text, add_special_tokens=False)):
        if a != b.ids:
            ties += 1
            assert sum(Fraction(tok.get_score(i)) for i in a) == sum(Fraction(tok.get_score(i)) for i in b.ids), line
    assert ties <= 3
    back = fastlm_from(path)
    assert_encodes_like(back, hf, lines[:1500], f"unigram byte_fallback={byte_fallback}")
    hft = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    got = hft(text[:800], return_offsets_mapping=True)
    for k, f in enumerate(back(text[:800])):
        assert (f.ids, [tuple(o) for o in f.offsets]) == (got["input_ids"][k], [tuple(o) for o in got["offset_mapping"][k]]), k


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-style", "llama2", "t5_botchan", "gpt2"])
def test_transformers_fast_tokenizer_reads_fastlm_files(name, tmp_path, lines):
    p0 = tmp_path / "src.json"
    p0.write_text(CASES[name](), encoding="utf-8")
    tok = fastlm.load(p0)
    tok.no_padding()
    tok.no_truncation()
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    specials = {"bert-base-uncased": dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"),
                "roberta-style": dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>"),
                "gpt2": dict(eos_token="<|endoftext|>", pad_token="<|endoftext|>"),
                "llama2": dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>"),
                "t5_botchan": dict(eos_token="</s>", pad_token="</s>", unk_token="<unk>")}[name]
    hft = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), **specials)
    sample = [x for x in lines if x.strip()][::10]
    for text in sample:
        enc = tok(text)
        assert hft(text)["input_ids"] == enc.ids, text[:60]
        assert hft(text, add_special_tokens=False)["input_ids"] == tok.encode(text), text[:60]
        assert hft.decode(enc.ids, skip_special_tokens=False) == tok.decode(enc.ids), text[:60]
        kept = [i for i in enc.ids if i not in hft.all_special_ids]  # transformers' special tokens, unk included
        assert hft.decode(enc.ids, skip_special_tokens=True) == tok.decode(kept), text[:60]
    batch = hft(sample[:16], padding=True, return_attention_mask=True)
    tok.pad_token = specials["pad_token"]
    ours = tok(sample[:16], padding=True)
    if name != "llama2":  # the Llama class pads on the left by default; the ids are checked above
        assert batch["input_ids"] == ours.ids
        assert batch["attention_mask"] == ours.attention_mask
    assert hft.convert_tokens_to_ids(specials["pad_token"]) == tok.token_to_id(specials["pad_token"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_transformers_fast_tokenizer_gives_fastlm_offsets(name, tmp_path, lines):
    """Every converted file, re-saved by fastlm: transformers' ids and offset mapping are fastlm's, for single texts
    and pairs, with and without special tokens."""
    p0 = tmp_path / "src.json"
    p0.write_text(CASES[name](), encoding="utf-8")
    path = tmp_path / "tokenizer.json"
    fastlm.load(p0).save(path)
    tok = fastlm_from(path)
    hft = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    sample = lines[::3]
    for add in (True, False):
        got = hft(sample, add_special_tokens=add, return_offsets_mapping=True)
        for k, (f, ids, offs) in enumerate(zip(tok(sample, add_special_tokens=add), got["input_ids"],
                                               got["offset_mapping"])):
            assert (f.ids, [tuple(o) for o in f.offsets]) == (ids, [tuple(o) for o in offs]), (name, add, k)
    a = [x for x in lines if x.strip()][:80]
    got = hft(a[0::2], a[1::2], return_offsets_mapping=True, return_token_type_ids=True)
    for k, f in enumerate(tok(a[0::2], a[1::2])):
        assert f.ids == got["input_ids"][k], (name, "pair", k)
        assert [tuple(o) for o in f.offsets] == [tuple(o) for o in got["offset_mapping"][k]], (name, "pair", k)
        assert f.type_ids == got["token_type_ids"][k], (name, "pair", k)


# ------------------------------------------------------------------------------------------------ conversions
def test_to_hf_and_from_hf(lines):
    path = conv.spm_json("xlnet", "xlnet_spiece.model")
    hf = tokenizers.Tokenizer.from_str(path)
    tok = fastlm.Tokenizer.from_hf(hf)
    assert type(tok._core.encoder).__name__ == "PipelineEncoder"
    assert_encodes_like(tok, hf, lines[:2000], "from_hf")
    back = tok.to_hf()
    assert isinstance(back, tokenizers.Tokenizer)
    assert [e.ids for e in back.encode_batch(lines[:2000])] == [e.ids for e in hf.encode_batch(lines[:2000])]
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=hf)
    assert fastlm.Tokenizer.from_hf(fast).encode(lines[3]) == tok.encode(lines[3])
    with pytest.raises(TypeError, match="from_hf takes"):
        fastlm.Tokenizer.from_hf(object())


def test_pipeline_tokenizers_pickle(lines, tmp_path):
    p = tmp_path / "t.json"
    p.write_text(conv.spm_json("t5", "botchan_en_unigram_1000.model"), encoding="utf-8")
    tok = fastlm.load(p)
    tok.enable_truncation(11)
    back = pickle.loads(pickle.dumps(tok))
    assert back.truncation == tok.truncation
    assert back.encode_batch(lines[:500]) == tok.encode_batch(lines[:500])
    assert back(lines[5]).ids == tok(lines[5]).ids
