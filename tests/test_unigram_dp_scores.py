"""Unigram DP parity on models whose scores break the usual bounds: the DP decides whether to offer the unknown
piece at a character start either from the cell it wrote or from an explicit match flag (kept for models with a
NaN score or a user-defined piece scoring below the unknown piece), so each case is compared with sentencepiece."""
from __future__ import annotations

import math

import pytest
from conftest import data_path

import fastlm

sentencepiece = pytest.importorskip("sentencepiece")
pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")

LINES_EN = "text/en_botchan.txt"
LINES_JA = "text/ja_wagahaiwa_nekodearu.txt"


def _lines(rel: str, k: int) -> list:
    return data_path(*rel.split("/")).read_text(encoding="utf-8").split("\n")[:k]


def _proto(base: str):
    mp = pb.ModelProto()
    mp.ParseFromString(data_path("tokenizers", "sentencepiece", base + ".model").read_bytes())
    return mp


def _check(mp, tmp_path, lines):
    data = mp.SerializeToString()
    path = tmp_path / "m.model"
    path.write_bytes(data)
    ours, ref = fastlm.load(path), sentencepiece.SentencePieceProcessor(model_proto=data)
    expected = ref.encode(lines)
    assert ours.encode_batch(lines) == expected
    for line, ids in zip(lines[:200], expected):
        assert ours.encode(line) == ids, line
    return expected, ref.unk_id()


@pytest.mark.parametrize("base", ["botchan_en_unigram_1000", "kyoto_ja_unigram_8000"])
def test_missing_one_character_pieces_give_unknowns(base, tmp_path):
    # Normal one-character pieces turned UNUSED (ASCII and not), so unknown pieces compete at many starts.
    mp = _proto(base)
    dropped = 0
    for p in mp.pieces:
        if p.type == 1 and len(p.piece) == 1 and p.piece in "aeiouhtnAB,.\u306e\u3057\u3066\u306b":
            p.type = 5
            dropped += 1
    assert dropped >= 3
    lines = _lines(LINES_EN, 600) + _lines(LINES_JA, 300)
    expected, unk = _check(mp, tmp_path, lines)
    assert sum(ids.count(unk) for ids in expected) > 100


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_score_is_refused(tmp_path, bad):
    # sentencepiece refuses such a model ("score is NaN or Inf"); so does fastlm, naming the piece.
    mp = _proto("botchan_en_unigram_1000")
    target = next(p for p in mp.pieces if p.type == 1 and p.piece == "\u2581the")
    target.score = bad
    path = tmp_path / "bad.model"
    path.write_bytes(mp.SerializeToString())
    with pytest.raises(RuntimeError):
        sentencepiece.SentencePieceProcessor(model_file=str(path))
    with pytest.raises(ValueError, match=r"bad\.model: piece \d+ \('\u2581the'\) has score .*finite"):
        fastlm.load(path)


@pytest.mark.parametrize("base", ["botchan_en_unigram_1000", "kyoto_ja_unigram_8000"])
def test_user_defined_scores_below_unknown(base, tmp_path):
    # Normal scores shifted up by 30: the unknown piece scores min + 20, above every user-defined piece's
    # float((bytes - 1) * 0.1). A matched one-character user-defined piece must still keep the unknown piece
    # out at its start, even where a higher-scoring path through an earlier start holds the cell.
    mp = _proto(base)
    for p in mp.pieces:
        if p.type == 1:
            p.score += 30.0
    for u in ["e", "th", "ing", "o", "\u306e", "\u3057", "\u305f", "\u2581\u3042"]:
        for p in mp.pieces:
            if p.piece == u:
                p.type = 4
                break
        else:
            q = mp.pieces.add()
            q.piece, q.score, q.type = u, 0.0, 4
    _check(mp, tmp_path, _lines(LINES_EN, 500) + _lines(LINES_JA, 500))


@pytest.mark.parametrize("base", ["botchan_en_unigram_1000", "kyoto_ja_unigram_8000"])
def test_huge_negative_scores(base, tmp_path):
    # Finite scores near -FLT_MAX (sentencepiece accepts them): the unknown piece then scores about -3e38, below the
    # DP's fill for unreached cells, so the DP must test reached cells explicitly.
    mp = _proto(base)
    hit = 0
    for p in mp.pieces:
        if p.type == 1 and len(p.piece) >= 2 and hit < 40:
            p.score = -3.0e38
            hit += 1
    lines = _lines(LINES_EN, 500) + _lines(LINES_JA, 500)
    _check(mp, tmp_path, lines)
