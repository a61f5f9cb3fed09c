"""WordPiece training: sane vocabulary on small corpora, determinism across thread counts, HF loads the export and
gives identical ids, option errors."""
from __future__ import annotations

import pytest
from conftest import data_path

import fastlm

tokenizers = pytest.importorskip("tokenizers")


def test_tiny_corpus_vocab():
    corpus = ["the cat sat on the mat", "the cat ate the rat", "a hat for the cat"] * 20
    tok = fastlm.train("wordpiece", corpus, vocab_size=60, progress=False)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert [tok.id_to_token(i) for i in range(5)] == specials
    vocab = [tok.id_to_token(i) for i in range(tok.n_vocab)]
    assert "the" in vocab and "cat" in vocab and "##t" in vocab
    assert len(set(vocab)) == len(vocab) and tok.n_vocab <= 60
    assert tok("the cat").ids == [2, tok.token_to_id("the"), tok.token_to_id("cat"), 3]
    assert tok.decode(tok.encode("the cat sat")) == "the cat sat"
    assert tok.encode("zebra") == [tok.token_to_id("[UNK]")]


def test_deterministic_and_hf_loads_export(tmp_path):
    path = data_path("text", "en_botchan.txt")
    a = fastlm.train("wordpiece", path, vocab_size=2000, num_threads=1, progress=False)
    b = fastlm.train("wordpiece", [path], vocab_size=2000, num_threads=2, progress=False)
    va = [a.id_to_token(i) for i in range(a.n_vocab)]
    assert va == [b.id_to_token(i) for i in range(b.n_vocab)]
    assert len(va) == 2000
    out = tmp_path / "wp.json"
    a.save(out)
    hf = tokenizers.Tokenizer.from_file(str(out))
    lines = path.read_text(encoding="utf-8").splitlines()[:1500]
    for line in lines:
        assert hf.encode(line).ids == a(line).ids, line


def test_options_errors():
    with pytest.raises(ValueError, match="unknown token"):
        fastlm.train("wordpiece", ["a b"], vocab_size=100, special_tokens=["[PAD]"], progress=False)
    with pytest.raises(ValueError, match="vocab_size"):
        fastlm.train("wordpiece", ["a b"], vocab_size=3, progress=False)
    with pytest.raises(ValueError, match="empty"):
        fastlm.train("wordpiece", ["   "], vocab_size=100, progress=False)
    with pytest.raises(ValueError, match="limit_alphabet"):
        fastlm.train("wordpiece", ["a"], vocab_size=100, limit_alphabet=0, progress=False)


def test_limit_alphabet_and_min_frequency():
    corpus = ["abc abd xyz"] * 5 + ["qqq"]
    tok = fastlm.train("wordpiece", corpus, vocab_size=100, limit_alphabet=5, min_frequency=5, progress=False)
    vocab = {tok.id_to_token(i) for i in range(tok.n_vocab)}
    singles = {t for t in vocab if len(t) == 1}
    assert len(singles) == 5 and "q" not in vocab
    assert not any("q" in t for t in vocab)
