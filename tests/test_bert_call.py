"""HF-style calls on BERT: [CLS]/[SEP] templates, type ids, attention mask, offsets, truncation with stride overflow
and padding, all compared with HF tokenizers on the same tokenizer.json; numpy/torch conversion; pickling; saving;
clear errors for bad vocabularies and malformed tokenizer.json files."""
from __future__ import annotations

import json
import pickle

import pytest
from conftest import data_path, text_files

import fastlm

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Tokenizer as HFTokenizer  # noqa: E402


@pytest.fixture(scope="module")
def pair_tok():
    path = data_path("tokenizers", "bert-base-uncased", "tokenizer.json")
    hf = HFTokenizer.from_file(str(path))
    hf.no_padding()
    hf.no_truncation()
    tok = fastlm.load(path)
    tok.no_padding()  # the file sets both; the tests pass them per call
    tok.no_truncation()
    return tok, hf


def _same(f, h, where="") -> None:
    ours = (f.ids, f.type_ids, f.attention_mask, [tuple(o) for o in f.offsets], f.special_tokens_mask, f.sequence_ids)
    theirs = (h.ids, h.type_ids, h.attention_mask, h.offsets, h.special_tokens_mask, h.sequence_ids)
    assert ours == theirs, where
    assert len(f.overflowing) == len(h.overflowing), where
    for i, (x, y) in enumerate(zip(f.overflowing, h.overflowing)):
        _same(x, y, f"{where}/overflow[{i}]")


@pytest.fixture(scope="module")
def sample_lines():
    files = text_files()
    if not files:
        data_path("text")
    out = []
    for f in files:
        out += [l for l in f.read_text(encoding="utf-8").splitlines() if l.strip() and "[" not in l][:40]
    return out


def test_singles_and_pairs_without_options(pair_tok, sample_lines):
    tok, hf = pair_tok
    a, b = sample_lines[0::2], sample_lines[1::2]
    n = min(len(a), len(b))
    for x, y in zip(tok(a[:n], b[:n]), hf.encode_batch(list(zip(a[:n], b[:n])))):
        _same(x, y)
    for x, y in zip(tok(a), hf.encode_batch(a)):
        _same(x, y)
    for x, y in zip(tok(a, add_special_tokens=False), hf.encode_batch(a, add_special_tokens=False)):
        _same(x, y)


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
def test_truncation_and_stride_like_hf(pair_tok, sample_lines, strategy):
    tok, hf = pair_tok
    texts = sample_lines[:30]
    checked = 0
    for max_length in (4, 7, 12, 33):
        for stride in (0, 1, 3):
            hf.no_truncation()
            try:
                hf.enable_truncation(max_length, stride=stride, strategy=strategy)
            except ValueError:  # HF refuses the stride up front
                continue
            for i in range(0, len(texts) - 1, 3):
                for pair in (None, texts[i + 1]):
                    try:
                        h = hf.encode(texts[i], pair)
                    except BaseException:  # HF rejects (or panics on) this combination; fastlm must not crash
                        try:
                            tok(texts[i], pair, truncation=strategy, max_length=max_length, stride=stride)
                        except ValueError:
                            pass
                        continue
                    f = tok(texts[i], pair, truncation=strategy, max_length=max_length, stride=stride)
                    _same(f, h, f"{strategy} {max_length} {stride} {i}")
                    checked += 1
    hf.no_truncation()
    assert checked > 50


@pytest.mark.parametrize("multiple", [None, 8])
@pytest.mark.parametrize("length", [None, 48])
def test_padding_like_hf(pair_tok, sample_lines, multiple, length):
    tok, hf = pair_tok
    texts = sample_lines[:16]
    hf.enable_padding(pad_to_multiple_of=multiple, length=length)
    try:
        theirs = hf.encode_batch(list(zip(texts, texts[::-1])))
    finally:
        hf.no_padding()
    ours = tok(texts, texts[::-1], padding="max_length" if length else True, max_length=length,
               pad_to_multiple_of=multiple)
    for x, y in zip(ours, theirs):
        _same(x, y)


def test_truncation_plus_padding_pads_overflow(pair_tok):
    tok, hf = pair_tok
    hf.enable_truncation(6, stride=1)
    hf.enable_padding(length=6)
    try:
        h = hf.encode("one two three four five six seven eight")
    finally:
        hf.no_truncation()
        hf.no_padding()
    f = tok("one two three four five six seven eight", truncation=True, max_length=6, stride=1, padding="max_length")
    _same(f, h)


def test_numpy_and_torch(pair_tok):
    tok, _ = pair_tok
    batch = tok(["hello world", "a much longer sentence here"], padding=True)
    arr = batch.numpy()
    assert arr["input_ids"].shape == (2, len(batch[1]))
    assert arr["attention_mask"][0].tolist() == batch[0].attention_mask
    torch = pytest.importorskip("torch")
    t = batch.torch()
    assert t["input_ids"].dtype == torch.int64 and t["token_type_ids"].shape == (2, len(batch[1]))


def test_errors(pair_tok):
    tok, _ = pair_tok
    with pytest.raises(ValueError, match="max_length"):
        tok("a b", truncation=True)
    with pytest.raises(ValueError, match="only_second"):
        tok("a b c d e f", truncation="only_second", max_length=4)
    with pytest.raises(ValueError, match="truncation must be"):
        tok("a", truncation="sideways", max_length=4)


def test_pickle_and_save_roundtrip(pair_tok, tmp_path):
    tok, hf = pair_tok
    text = "Héllo, wörld! 中文 unaffable"
    t2 = pickle.loads(pickle.dumps(tok))
    assert t2(text, "x").ids == tok(text, "x").ids
    out = tmp_path / "tok.json"
    tok.save(out)
    h2 = HFTokenizer.from_file(str(out))
    assert h2.encode(text, "x").ids == hf.encode(text, "x").ids == fastlm.load(out)(text, "x").ids


def test_vocab_errors(tmp_path):
    p = tmp_path / "vocab.txt"
    p.write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[UNK\].*not in the vocabulary"):
        fastlm.load(p)
    p.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        fastlm.load(p)


def _json(tmp_path, mutate):
    src = data_path("tokenizers", "bert-base-uncased", "tokenizer.json")
    obj = json.loads(src.read_text(encoding="utf-8"))
    mutate(obj)
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(obj), encoding="utf-8")
    return p


@pytest.mark.parametrize("mutate,field", [
    (lambda o: o["model"].pop("vocab"), "model.vocab"),
    (lambda o: o["model"].__setitem__("vocab", {}), "model.vocab"),
    (lambda o: o["model"].__setitem__("vocab", {"a": "x", "[UNK]": 1}), "model.vocab"),
    (lambda o: o["model"].__setitem__("unk_token", "<unk>"), "model.unk_token"),
    (lambda o: o["model"].__setitem__("max_input_chars_per_word", "100"), "model.max_input_chars_per_word"),
    (lambda o: o.__setitem__("normalizer", {"type": "Nmt"}), "normalizer.type"),
    (lambda o: o.__setitem__("pre_tokenizer", {"type": "CharDelimiterSplit"}), "pre_tokenizer.type"),
    (lambda o: o.__setitem__("decoder", {"type": "CTC"}), "decoder.type"),
    (lambda o: o.__setitem__("post_processor", {"type": "RobertaProcessing"}), "post_processor.sep"),
    (lambda o: o.__setitem__("post_processor", {"type": "Foo"}), "post_processor.type"),
    (lambda o: o.__setitem__("added_tokens", [{"id": "x"}]), "added_tokens[0]"),
])
def test_malformed_tokenizer_json_names_the_field(tmp_path, mutate, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        fastlm.load(_json(tmp_path, mutate))
