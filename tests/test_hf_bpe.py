"""HF tokenizer.json for byte-level BPE: trained tokenizers load in HF tokenizers and tiktoken with identical ids;
GPT-2-style HF files load in fastlm with identical ids."""
from __future__ import annotations

import json
import pickle

import pytest

from conftest import data_path, text_files

import fastlm

tokenizers = pytest.importorskip("tokenizers")
tiktoken = pytest.importorskip("tiktoken")


def _shared_texts():
    files = text_files()
    if not files:
        data_path("text")  # skips (or fails under CI) with the missing path
    return {p.name: p.read_text(encoding="utf-8") for p in files}


@pytest.fixture(scope="module")
def texts():
    return _shared_texts()


@pytest.fixture(scope="module", params=["o200k", "cl100k", "r50k"])
def trained(request, tmp_path_factory):
    files = [data_path("text", "en_tinyshakespeare.txt"), data_path("text", "ja_wagahaiwa_nekodearu.txt"),
             data_path("text", "code_lodash.js.txt")]
    tok = fastlm.train("bpe", files, vocab_size=2000, pattern=request.param,
                       special_tokens=["<|endoftext|>", "<|pad|>"], progress=False)
    d = tmp_path_factory.mktemp(f"bpe_{request.param}")
    tok.save(d / "tokenizer.json")
    tok.save(d / "ranks.tiktoken")
    return tok, d


def test_trained_tokenizer_equals_hf_and_tiktoken_on_all_shared_text(trained, texts, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken caches files by path; read ours fresh
    from tiktoken.load import load_tiktoken_bpe

    tok, d = trained
    hf = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    tt = tiktoken.Encoding("trained", pat_str=tok.pattern, mergeable_ranks=load_tiktoken_bpe(str(d / "ranks.tiktoken")),
                           special_tokens=tok.special_tokens)
    back = fastlm.load(d / "tokenizer.json")
    assert hf.get_vocab_size() == tok.vocab_size == tt.n_vocab
    for name, text in texts.items():
        ids = tok.encode_ordinary(text)
        assert hf.encode(text, add_special_tokens=False).ids == ids, name
        assert tt.encode_ordinary(text) == ids, name
        assert back.encode_ordinary(text) == ids, name
    s = "a<|endoftext|>b<|pad|>"
    ids = tok.encode(s, allowed_special="all")
    assert ids == hf.encode(s, add_special_tokens=False).ids == tt.encode(s, allowed_special="all")
    assert hf.decode(ids, skip_special_tokens=False) == tok.decode(ids) == s


def test_saved_json_structure(trained):
    tok, d = trained
    obj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    assert obj["model"]["type"] == "BPE" and obj["model"]["ignore_merges"] is True
    assert obj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == tok.pattern.replace("{1,3}+", "{1,3}")
    assert fastlm.load(d / "tokenizer.json").pattern == tok.pattern  # mapped back to the built-in scanner
    assert obj["pre_tokenizer"]["pretokenizers"][1] == {"type": "ByteLevel", "add_prefix_space": False,
                                                        "trim_offsets": True, "use_regex": False}
    assert [a["content"] for a in obj["added_tokens"]] == ["<|endoftext|>", "<|pad|>"]
    assert obj["model"]["vocab"]["Ġ"] == 32  # byte tokens keep ids 0..255 in the byte alphabet


@pytest.fixture(scope="module")
def gpt2_json(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    enc = data_path("tokenizers", "gpt2", "encoder.json")
    mer = data_path("tokenizers", "gpt2", "vocab.bpe")
    t = Tokenizer(models.BPE.from_file(str(enc), str(mer)))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens(["<|endoftext|>"])
    p = tmp_path_factory.mktemp("gpt2") / "tokenizer.json"
    t.save(str(p))
    return p


def test_gpt2_style_hf_json_loads_with_identical_ids(gpt2_json, texts):
    hf = tokenizers.Tokenizer.from_file(str(gpt2_json))
    tok = fastlm.load(gpt2_json)
    assert tok.special_tokens == {"<|endoftext|>": 50256}
    for name, text in texts.items():
        assert tok.encode_ordinary(text) == hf.encode(text, add_special_tokens=False).ids, name
    again = pickle.loads(pickle.dumps(tok))  # merge-list rule survives pickling
    sample = texts["en_botchan.txt"][:20000]
    assert again.encode_ordinary(sample) == tok.encode_ordinary(sample)


def test_merges_as_lists_and_fastlm_resave(gpt2_json, tmp_path, texts):
    obj = json.loads(gpt2_json.read_text(encoding="utf-8"))
    m = obj["model"]["merges"]
    obj["model"]["merges"] = [x.split(" ") if isinstance(x, str) else x for x in m]
    p = tmp_path / "lists.json"
    p.write_text(json.dumps(obj), encoding="utf-8")
    tok = fastlm.load(p)
    tok.save(tmp_path / "resaved.json")  # fastlm writes the merge list back, in order
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "resaved.json"))
    ref = tokenizers.Tokenizer.from_file(str(gpt2_json))
    text = texts["code_typing_extensions.py.txt"] + texts["en_tweets_emotion_train.txt"]
    want = ref.encode(text, add_special_tokens=False).ids
    assert tok.encode_ordinary(text) == want
    assert hf.encode(text, add_special_tokens=False).ids == want


@pytest.mark.parametrize("edit", [
    lambda o: o.__setitem__("normalizer", {"type": "NFC"}),
    lambda o: o["pre_tokenizer"].__setitem__("add_prefix_space", True),
    lambda o: o["model"].__setitem__("byte_fallback", True),
    lambda o: o.__setitem__("pre_tokenizer", {"type": "Whitespace"}),
])
def test_other_byte_level_variants_run_on_the_general_pipeline(gpt2_json, tmp_path, texts, edit):
    """What the byte-level fast path does not cover loads on the general pipeline, with HF's ids."""
    obj = json.loads(gpt2_json.read_text(encoding="utf-8"))
    edit(obj)
    p = tmp_path / "variant.json"
    p.write_text(json.dumps(obj), encoding="utf-8")
    tok = fastlm.load(p)
    assert type(tok._core.encoder).__name__ == "PipelineEncoder"
    hf = tokenizers.Tokenizer.from_file(str(p))
    text = texts["en_tweets_emotion_train.txt"][:30000] + texts["ja_wagahaiwa_nekodearu.txt"][:3000]
    assert tok.encode_ordinary(text) == hf.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("edit, msg", [
    (lambda o: o["model"]["merges"].__setitem__(0, "\u0120"), r"model\.merges\[0\]"),
    (lambda o: o["model"].__setitem__("dropout", 0.1), "dropout"),
    (lambda o: o.__setitem__("normalizer", {"type": "Nmt"}), "normalizer.type.*Nmt"),
    (lambda o: o.__setitem__("pre_tokenizer", {"type": "UnicodeScripts"}), "pre_tokenizer.type.*UnicodeScripts"),
    (lambda o: o.__setitem__("decoder", {"type": "CTC"}), "decoder.type.*CTC"),
])
def test_unsupported_or_malformed_files_raise(gpt2_json, tmp_path, edit, msg):
    obj = json.loads(gpt2_json.read_text(encoding="utf-8"))
    edit(obj)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ValueError, match=msg):
        fastlm.load(p)
