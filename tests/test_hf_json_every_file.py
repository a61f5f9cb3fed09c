"""Every shared tokenizer file, whatever its format, goes through tokenizer.json and back.

For each file under ../shared/data/tokenizers: fastlm loads it, saves tokenizer.json, and then
* HF `tokenizers.Tokenizer.from_file` on the saved file gives the original tokenizer's ids (and its offsets, except
  for SentencePiece models: their offsets follow sentencepiece's convention, e.g. an empty span for the dummy-prefix
  piece, where HF's Metaspace / Replace alignment gives the piece the space it came from);
* fastlm reloading the saved file gives HF's encodings exactly: ids, offsets, type ids, masks, pairs, decoding;
* `transformers.PreTrainedTokenizerFast(tokenizer_file=...)` on the saved file gives the same ids and offset
  mapping as fastlm, with and without special tokens.
The list of files is checked against the folder, so a new shared file cannot be left out silently.
"""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from conftest import DATA, data_path, sample_lines

import fastlm

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

LINES_PER_FILE = 100

# Each loadable file, by its path under tokenizers/; companions are read together with one of them.
FILES = [
    "bert-base-cased/vocab.txt",
    "bert-base-chinese/vocab.txt",
    "bert-base-uncased/tokenizer.json",
    "bert-base-uncased/vocab.txt",
    "gpt2/encoder.json",
    "sentencepiece/botchan_en_bpe_1000.model",
    "sentencepiece/botchan_en_unigram_1000.model",
    "sentencepiece/kyoto_ja_unigram_8000.model",
    "sentencepiece/llama2_tokenizer.model",
    "sentencepiece/xlnet_spiece.model",
    "tiktoken/cl100k_base.tiktoken",
    "tiktoken/o200k_base.tiktoken",
    "tiktoken/p50k_base.tiktoken",
    "tiktoken/r50k_base.tiktoken",
]
COMPANIONS = {
    "gpt2/vocab.bpe": "gpt2/encoder.json",
    "bert-base-uncased/special_tokens_map.json": "bert-base-uncased/tokenizer.json",
    "bert-base-uncased/tokenizer_config.json": "bert-base-uncased/tokenizer.json",
}


def test_the_list_covers_every_shared_tokenizer_file():
    root = data_path("tokenizers")
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(FILES) | set(COMPANIONS), "add the new file to FILES (or COMPANIONS)"


@pytest.fixture(scope="module")
def lines():
    return sample_lines(LINES_PER_FILE, utf8_demo_lines=100)


@pytest.fixture(scope="module", params=FILES)
def saved(request, tmp_path_factory):
    src = data_path("tokenizers", *request.param.split("/"))
    tok = fastlm.load(src)
    out = tmp_path_factory.mktemp(request.param.replace("/", "_").replace(".", "_")) / "tokenizer.json"
    tok.save(out)
    return request.param, tok, out


def is_spm(name):
    return name.endswith(".model")


def offsets(enc):
    return [tuple(o) for o in enc.offsets]


def test_hf_reads_the_saved_file_as_the_original_encodes(saved, lines):
    name, tok, path = saved
    hf = tokenizers.Tokenizer.from_file(str(path))
    for add in (True, False):
        ties = 0
        for k, (f, h) in enumerate(zip(tok(lines, add_special_tokens=add), hf.encode_batch(lines, add_special_tokens=add))):
            where = f"{name} add_special_tokens={add} line {k}: {lines[k][:60]!r}"
            if f.ids != h.ids and is_spm(name):
                # A tie: two segmentations of exactly the same score (sentencepiece sums in float, HF in double).
                ties += 1
                assert sum(Fraction(tok.get_score(i)) for i in f.ids) == sum(Fraction(tok.get_score(i)) for i in h.ids), where
                continue
            assert f.ids == h.ids, where
            assert f.attention_mask == h.attention_mask, where
            assert f.special_tokens_mask == h.special_tokens_mask, where
            if not is_spm(name):
                assert offsets(f) == h.offsets, where
        assert ties <= 3, name


def test_fastlm_reads_the_saved_file_as_hf_does(saved, lines):
    name, tok, path = saved
    back, hf = fastlm.load(path), tokenizers.Tokenizer.from_file(str(path))
    for add in (True, False):
        for k, (f, h) in enumerate(zip(back(lines, add_special_tokens=add), hf.encode_batch(lines, add_special_tokens=add))):
            where = f"{name} add_special_tokens={add} line {k}: {lines[k][:60]!r}"
            assert (f.ids, offsets(f), f.type_ids) == (h.ids, h.offsets, h.type_ids), where
            assert (f.attention_mask, f.special_tokens_mask) == (h.attention_mask, h.special_tokens_mask), where
    a = [x for x in lines if x.strip()][:120]
    for k, (f, h) in enumerate(zip(back(a[0::2], a[1::2]), hf.encode_batch(list(zip(a[0::2], a[1::2]))))):
        assert (f.ids, offsets(f), f.type_ids) == (h.ids, h.offsets, h.type_ids), f"{name} pair {k}"
    for text in lines[::7]:
        ids = hf.encode(text).ids
        assert back.decode(ids) == hf.decode(ids, skip_special_tokens=False), (name, text[:60])
        assert back.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True), (name, text[:60])
    resaved = path.with_name("again.json")
    back.save(resaved)
    assert json.loads(resaved.read_text(encoding="utf-8")) == json.loads(path.read_text(encoding="utf-8"))


def test_transformers_fast_tokenizer_gives_fastlm_ids_and_offsets(saved, lines):
    name, _, path = saved
    back = fastlm.load(path)
    back.no_padding()  # PreTrainedTokenizerFast turns the file's padding and truncation off until asked
    back.no_truncation()
    hft = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    for add in (True, False):
        got = hft(lines, add_special_tokens=add, return_offsets_mapping=True)
        for k, (f, ids, offs) in enumerate(zip(back(lines, add_special_tokens=add), got["input_ids"], got["offset_mapping"])):
            where = f"{name} add_special_tokens={add} line {k}: {lines[k][:60]!r}"
            assert f.ids == ids, where
            assert offsets(f) == [tuple(o) for o in offs], where
    for text in lines[::11]:
        ids = back.encode(text)
        assert hft.decode(ids) == back.decode(ids), (name, text[:60])
    assert len(hft) == back.vocab_size, name  # distinct ids (n_vocab, tiktoken-style, is the largest id + 1)


def test_the_saved_file_names_its_model(saved):
    name, _, path = saved
    obj = json.loads(path.read_text(encoding="utf-8"))
    want = {"tiktoken": "BPE", "gpt2": "BPE", "bert": "WordPiece"}.get(name.split("/")[0].split("-")[0])
    if want is None:  # SentencePiece: the model's own type
        want = "BPE" if "bpe" in name or "llama2" in name else "Unigram"
    assert obj["model"]["type"] == want
    assert obj["version"] == "1.0"


def test_added_tokens_keep_their_ids_through_the_saved_file(saved):
    """HF reads an added token's id from model.vocab (or numbers it past the vocabulary), not from the id written
    in added_tokens: a tiktoken file's specials, whose ids leave gaps, must be in the vocabulary under their ids."""
    name, tok, path = saved
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_padding()
    back = fastlm.load(path)
    added = [a["content"] for a in json.loads(path.read_text(encoding="utf-8"))["added_tokens"]]
    assert added and set(tok.special_tokens) <= set(added)
    for c in added:
        assert hf.token_to_id(c) == back.token_to_id(c) == tok.token_to_id(c) is not None, (name, c)
        text = f"a {c}b{c}"
        want = hf.encode(text, add_special_tokens=False).ids
        assert back.encode(text, allowed_special="all") == want, (name, c)
        if not is_spm(name):  # sentencepiece itself never reads control pieces in text; HF's added tokens do
            assert tok.encode(text, allowed_special="all") == want, (name, c)
