"""Corpus arguments of fastlm.train: paths vs texts."""
from __future__ import annotations

import pytest

import fastlm


@pytest.mark.parametrize("corpus", [["missing.txt"], ["data/missing_corpus"], ["a.jsonl", "b.jsonl"]])
def test_missing_file_names_are_an_error_not_text(tmp_path, monkeypatch, corpus):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        fastlm.train("bpe", corpus, vocab_size=300, progress=False)


def test_a_list_of_texts_still_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    texts = ["hello world, hello there", "a second line of text", "e.g. this is fine."] * 20
    tok = fastlm.train("bpe", texts, vocab_size=270, min_frequency=1, progress=False)
    assert tok.decode(tok.encode("hello world")) == "hello world"
    assert tok.n_vocab == 270


def test_existing_file_paths_are_read(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("abc abc abd\n" * 50, encoding="utf-8")
    tok = fastlm.train("bpe", [str(f)], vocab_size=260, min_frequency=1, progress=False)
    assert len(tok.encode("abc abc")) < len("abc abc")
