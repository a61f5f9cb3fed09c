"""SentencePiece BPE merge paths against sentencepiece: per-word loops with the word cache, the whole-text loop
(models whose pieces cross word starts, UNUSED pieces), the scan and heap loops, user-defined symbols."""
from __future__ import annotations

import random

import pytest
from conftest import data_path

import fastlm

sentencepiece = pytest.importorskip("sentencepiece")
pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")

WS = "\u2581"


def _lines(rel: str, n: int) -> list:
    return data_path(*rel.split("/")).read_text(encoding="utf-8").split("\n")[:n]


def _corpus() -> list:
    lines = _lines("text/en_botchan.txt", 1200) + _lines("text/code_lodash.js.txt", 400)
    lines += _lines("text/ja_wagahaiwa_nekodearu.txt", 200) + _lines("text/en_tweets_emotion_train.txt", 400)
    rng = random.Random(5)
    # Long words take the heap loop (more than 32 symbols in one word).
    lines += ["".join(rng.choice("abcdeeehilmnorst") for _ in range(rng.randint(30, 300))) for _ in range(60)]
    lines += ["a" * 500, "ab" * 300 + " " + "ba" * 40, "  x  " * 50]
    return lines


def _modified(base: str, tmp_path, edit):
    mp = pb.ModelProto()
    mp.ParseFromString(data_path("tokenizers", "sentencepiece", base + ".model").read_bytes())
    edit(mp)
    data = mp.SerializeToString()
    path = tmp_path / "m.model"
    path.write_bytes(data)
    return fastlm.load(path), sentencepiece.SentencePieceProcessor(model_file=str(path))


def _check(ours, ref, lines):
    got = ours.encode_batch(lines, num_threads=1)
    want = ref.encode(lines)
    bad = [lines[i][:60] for i in range(len(lines)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} of {len(lines)} lines differ, first: {bad[:3]}"
    # Second pass: every word now comes from the per-thread cache.
    assert ours.encode_batch(lines, num_threads=1) == want
    assert ours.encode_batch(lines, num_threads=2) == want
    text = "\n".join(lines[:400])
    assert ours.encode(text) == ref.encode(text)


@pytest.mark.parametrize("base", ["llama2_tokenizer", "botchan_en_bpe_1000"])
def test_published_models(base):
    path = data_path("tokenizers", "sentencepiece", base + ".model")
    _check(fastlm.load(path), sentencepiece.SentencePieceProcessor(model_file=str(path)), _corpus())


def test_pieces_crossing_word_starts_use_the_whole_text_loop(tmp_path):
    # "e▁t" lets a merge cross the start of a word, so words are not independent any more.
    def edit(mp):
        for piece, score in [("e" + WS + "t", 0.0), ("s" + WS + "a", -1.0), ("d" + WS + WS, -0.5)]:
            p = mp.pieces.add()
            p.piece, p.score, p.type = piece, score, 1
    ours, ref = _modified("botchan_en_bpe_1000", tmp_path, edit)
    _check(ours, ref, _corpus())
    assert ours.encode("the test") == ref.encode("the test")
    assert any(ref.id_to_piece(i) == "e" + WS + "t" for i in ref.encode("the test"))


def test_unused_pieces_are_split_back(tmp_path):
    def edit(mp):
        rng = random.Random(3)
        for p in mp.pieces:
            if p.type == 1 and len(p.piece) >= 3 and rng.random() < 0.15:
                p.type = 5
    ours, ref = _modified("botchan_en_bpe_1000", tmp_path, edit)
    lines = _corpus()
    _check(ours, ref, lines)
    assert any(ref.is_unused(i) for i in range(ref.get_piece_size()))


def test_user_defined_symbols_stay_whole(tmp_path):
    def edit(mp):
        have = {p.piece: p for p in mp.pieces}
        for u in ["ing", "the", WS + "and", "<br>", "qu"]:
            if u in have:
                have[u].type = 4
            else:
                p = mp.pieces.add()
                p.piece, p.score, p.type = u, 0.0, 4
    ours, ref = _modified("llama2_tokenizer", tmp_path, edit)
    lines = _corpus() + ["singing the<br>quick and", "<br><br>x", "thethe ingthe"]
    _check(ours, ref, lines)


def test_user_defined_symbol_across_a_word_start(tmp_path):
    def edit(mp):
        p = mp.pieces.add()
        p.piece, p.score, p.type = "o" + WS + "t", 0.0, 4
    ours, ref = _modified("botchan_en_bpe_1000", tmp_path, edit)
    _check(ours, ref, _corpus() + ["go to", "o to o too"])
