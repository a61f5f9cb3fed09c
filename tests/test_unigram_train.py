"""SentencePiece Unigram training: vocabulary properties by hand, parity of the written .model with the
sentencepiece library, determinism, the built-in nmt_nfkc charsmap, and clear errors."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from conftest import data_path, text_files

import fastlm
from fastlm import _core
from fastlm.formats.sentencepiece import build_proto, load_sentencepiece

spm = pytest.importorskip("sentencepiece")

WS = "\u2581"


def _train(corpus, **kw):
    kw.setdefault("progress", False)
    return fastlm.train("unigram", corpus, **kw)


def _pieces(tok):
    return [(p.decode("utf-8"), s, t) for p, s, t in tok.proto.pieces]


def _lines(path, limit=None):
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines[:limit] if limit else lines


CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end"] * 25


# ------------------------------------------------------------------------------------------------ by hand
def test_tiny_corpus_vocabulary_is_sane():
    tok = _train(CORPUS, vocab_size=26, character_coverage=1.0)
    pieces = _pieces(tok)
    assert tok.vocab_size == 26 and len(pieces) == 26
    assert [(p, t) for p, _, t in pieces[:3]] == [("<unk>", 2), ("<s>", 3), ("</s>", 3)]
    assert tok.unk_id == 0 and tok.bos_id == 1 and tok.eos_id == 2 and tok.pad_id is None
    normal = [(p, s) for p, s, t in pieces if t == 1]
    assert len(normal) == 23
    # every character of the (normalized) corpus is a piece
    chars = set("".join(CORPUS).replace(" ", WS)) | {WS}
    assert chars <= {p for p, _ in normal}
    # scores are log-probabilities, best first
    scores = [s for _, s in normal]
    assert all(s < 0 for s in scores) and scores == sorted(scores, reverse=True)
    assert 0.5 < sum(math.exp(s) for s in scores) < 1.5
    # the most frequent words become whole pieces and encode as one token
    for w in ("the", "sat", "cat", "dog"):
        assert WS + w in {p for p, _ in normal}, w
        assert tok.encode(w) == [tok.piece_to_id(WS + w)]
    # pieces never cross a space, and U+2581 is only ever first
    assert all(WS not in p[1:] for p, _ in normal)
    assert tok.decode(tok.encode("the cat sat on the log")) == "the cat sat on the log"


def test_meta_special_user_and_byte_pieces_come_first():
    tok = _train(CORPUS + ["a <sep> b"], vocab_size=284, special_tokens=["<mask>"],
                 user_defined_symbols=["<sep>"], byte_fallback=True, pad_piece="<pad>", character_coverage=1.0)
    p = _pieces(tok)
    assert [(x, t) for x, _, t in p[:6]] == [("<unk>", 2), ("<s>", 3), ("</s>", 3), ("<pad>", 3), ("<mask>", 3),
                                             ("<sep>", 4)]
    assert [x for x, _, t in p[6:262]] == [f"<0x{b:02X}>" for b in range(256)]
    assert all(t == 6 for _, _, t in p[6:262]) and all(t == 1 for _, _, t in p[262:])
    assert tok.vocab_size == 284 and tok.pad_id == 3
    # user-defined symbols are matched whole; control pieces are not parsed from text; unknown -> bytes
    assert tok.piece_to_id("<sep>") in tok.encode("cat<sep>dog")
    assert 4 not in tok.encode("<mask>")
    assert tok.encode("\u00e9") [-2:] == [6 + 0xC3, 6 + 0xA9]
    # learned pieces never contain the cut symbols
    assert not any("<sep>" in x or "<mask>" in x for x, _, t in p if t == 1)


def test_character_coverage_maps_rare_characters_to_unk():
    corpus = ["aaaa bbbb aaaa bbbb"] * 50 + ["zq"]
    tok = _train(corpus, vocab_size=8, character_coverage=0.99)
    normal = {x for x, _, t in _pieces(tok) if t == 1}
    assert "z" not in normal and "q" not in normal and "a" in normal
    assert tok.encode("zq") [-1] == tok.unk_id


def test_split_options():
    corpus = ["abc123 def456 abc123 def456 12ab"] * 30
    tok = _train(corpus, vocab_size=22, character_coverage=1.0)
    normal = [x for x, _, t in _pieces(tok) if t == 1]
    assert not any(any(c.isdigit() for c in x) and any(c.isalpha() for c in x) for x in normal)
    tok = _train(corpus, vocab_size=19, character_coverage=1.0, split_digits=True)
    assert all(len(x) == 1 for x in (x.lstrip(WS) for x, _, t in _pieces(tok) if t == 1) if any(c.isdigit() for c in x))
    tok = _train(["ab cd ab cd ab cd"] * 30, vocab_size=10, character_coverage=1.0, split_by_whitespace=False)
    normal = [x for x, _, t in _pieces(tok) if t == 1]
    assert any(WS in x[1:] for x in normal) and not any(x.endswith(WS) and len(x) > 1 for x in normal)


def test_max_piece_length():
    tok = _train(["abcdefghij abcdefghij"] * 40, vocab_size=17, character_coverage=1.0, max_piece_length=4)
    assert max(len(x) for x, _, t in _pieces(tok) if t == 1) <= 4


# ------------------------------------------------------------------------------------------- sentencepiece parity
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("ug")
    files = [data_path("text", "en_botchan.txt"), data_path("text", "ja_wagahaiwa_nekodearu.txt")]
    tok = _train(files, vocab_size=4000)
    path = d / "m.model"
    tok.save(path)
    return tok, path


def test_sentencepiece_loads_and_encodes_identically(trained):
    tok, path = trained
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.get_piece_size() == tok.vocab_size == 4000
    assert [sp.id_to_piece(i) for i in range(4000)] == [tok.id_to_piece(i) for i in range(4000)]
    for f in text_files() + [data_path("unicode", "blns.txt"), data_path("unicode", "UTF-8-demo.txt")]:
        for line in _lines(f, 3000):
            assert tok.encode(line) == sp.encode(line), (f.name, line)


def test_reload_is_the_same_model(trained):
    tok, path = trained
    again = fastlm.load(path)
    assert again.serialize_model() == tok.serialize_model() == path.read_bytes()
    text = data_path("text", "en_sherlock_holmes.txt").read_text(encoding="utf-8")[:20000]
    assert again.encode(text) == tok.encode(text)


def test_byte_fallback_parity(tmp_path):
    tok = _train([data_path("text", "en_botchan.txt")], vocab_size=1200, byte_fallback=True)
    path = tmp_path / "b.model"
    tok.save(path)
    sp = spm.SentencePieceProcessor(model_file=str(path))
    for line in _lines(data_path("text", "ko_constitution.txt"), 200) + _lines(data_path("unicode", "blns.txt")):
        assert tok.encode(line) == sp.encode(line), line


def test_compression_is_on_par_with_sentencepiece(tmp_path):
    lines = _lines(data_path("text", "en_botchan.txt"))
    k = int(len(lines) * 0.9)
    train_file = tmp_path / "train.txt"
    train_file.write_text("\n".join(lines[:k]) + "\n", encoding="utf-8")
    held = "\n".join(lines[k:])
    tok = _train([train_file], vocab_size=2000)
    spm.SentencePieceTrainer.train(input=str(train_file), model_prefix=str(tmp_path / "sp"), vocab_size=2000,
                                   model_type="unigram", minloglevel=2, num_threads=1)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    ours, theirs = len(tok.encode(held)), len(sp.encode(held))
    assert ours <= theirs * 1.01, (ours, theirs)


# ------------------------------------------------------------------------------------------------- determinism
def test_deterministic_across_threads_and_runs(tmp_path):
    files = [data_path("text", "en_botchan.txt"), data_path("text", "ko_constitution.txt")]
    models = [_train(files, vocab_size=1500, num_threads=n).serialize_model() for n in (1, 2, 2)]
    assert models[0] == models[1] == models[2]


def test_sampling_depends_on_the_seed_only():
    lines = _lines(data_path("text", "en_tinyshakespeare.txt"), 4000)
    a = _train(lines, vocab_size=500, max_sentences=1000, seed=7, num_threads=1).serialize_model()
    b = _train(iter(lines), vocab_size=500, max_sentences=1000, seed=7, num_threads=2).serialize_model()
    c = _train(lines, vocab_size=500, max_sentences=1000, seed=8).serialize_model()
    assert a == b and a != c


def test_files_and_iterables_train_the_same_model(tmp_path):
    lines = _lines(data_path("text", "en_botchan.txt"), 1500)
    f = tmp_path / "c.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _train(f, vocab_size=600).serialize_model() == _train(lines, vocab_size=600).serialize_model()


# ----------------------------------------------------------------------------------------------- normalization
def test_builtin_nmt_nfkc_matches_sentencepiece_models_charsmap():
    xlnet = load_sentencepiece(data_path("tokenizers", "sentencepiece", "xlnet_spiece.model"))
    theirs = spm.SentencePieceProcessor(model_proto=xlnet.serialize_model())
    proto = _core.SpModelProto.parse(xlnet.serialize_model())
    proto.set_bytes("normalizer", 2, _core.unigram_builtin_charsmap("nmt_nfkc"))
    ours = spm.SentencePieceProcessor(model_proto=bytes(proto.serialize()))
    for f in text_files() + [data_path("unicode", "blns.txt"), data_path("unicode", "UTF-8-demo.txt")]:
        for line in _lines(f, 3000):
            assert ours.normalize(line) == theirs.normalize(line), (f.name, line)
    # Unicode's conformance file: the greedy charsmap is an approximation of NFKC (mark reordering, newer
    # characters); it must agree with sentencepiece's own table on more than 99% of the cases.
    bad = total = 0
    for line in data_path("unicode", "NormalizationTest.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(("#", "@")) or not line.strip():
            continue
        src = "".join(chr(int(h, 16)) for h in line.split(";")[0].split())
        total += 1
        bad += ours.normalize(src) != theirs.normalize(src)
    assert total > 15000 and bad < total / 100


def test_normalization_choices(tmp_path):
    ident = _train(["Ａｂｃ ａｂｃ"] * 20, vocab_size=10, normalization="identity", character_coverage=1.0)
    nfkc = _train(["Ａｂｃ ａｂｃ"] * 20, vocab_size=10, normalization="nfkc", character_coverage=1.0)
    assert ident.normalize("Ａｂｃ") == WS + "Ａｂｃ" and nfkc.normalize("Ａｂｃ") == WS + "Abc"
    blob = _core.unigram_build_charsmap([("x", "y")])
    custom = _train(["axa axa"] * 20, vocab_size=7, normalization=blob, character_coverage=1.0)
    assert custom.normalize("axa") == WS + "aya"
    path = tmp_path / "c.model"
    custom.save(path)
    assert spm.SentencePieceProcessor(model_file=str(path)).normalize("axa") == WS + "aya"


# ------------------------------------------------------------------------------------------------------ errors
def test_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        _train(empty, vocab_size=100)
    with pytest.raises(ValueError, match="empty"):
        _train(["", "   ", "\n\n"], vocab_size=100)


def test_vocab_size_too_small_or_too_large():
    with pytest.raises(ValueError, match=r"vocab_size=20 is too small.*requires 27 characters.*vocab_size >= 30"):
        _train(["abcdefghijklmnopqrstuvwxyz"] * 3, vocab_size=20, character_coverage=1.0)
    with pytest.raises(ValueError, match=r"vocab_size=3 is too small: 3 ids are reserved"):
        _train(CORPUS, vocab_size=3)
    with pytest.raises(ValueError, match="256 byte pieces"):
        _train(CORPUS, vocab_size=200, byte_fallback=True)
    with pytest.raises(ValueError, match="too large for this corpus"):
        _train(["ab ab"], vocab_size=5000)


def test_invalid_utf8_names_file_and_offset(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello world\nfine line\nbroken \xff here\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*invalid UTF-8 at byte 29"):
        _train(bad, vocab_size=50)
    with pytest.raises(ValueError, match=r"UTF-8-test\.txt.*invalid UTF-8 at byte 4461"):
        _train(data_path("unicode", "UTF-8-test.txt"), vocab_size=500)
    tok = _train(bad, vocab_size=18, errors="replace", normalization="identity", character_coverage=1.0)
    assert tok.vocab_size == 18 and "\ufffd" in {p for p, _, _ in _pieces(tok)}


@pytest.mark.parametrize("kw, exc, msg", [
    ({"vocab_size": "100"}, TypeError, "vocab_size must be an int"),
    ({"vocab_size": 100, "character_coverage": 0}, ValueError, "character_coverage"),
    ({"vocab_size": 100, "max_piece_length": 0}, ValueError, "max_piece_length"),
    ({"vocab_size": 100, "normalization": "nfd"}, ValueError, "normalization must be one of"),
    ({"vocab_size": 100, "normalization": b"\x01\x02"}, ValueError, "charsmap"),
    ({"vocab_size": 100, "special_tokens": "<x>"}, TypeError, "list of strings"),
    ({"vocab_size": 100, "special_tokens": ["<s>"]}, ValueError, "listed twice"),
    ({"vocab_size": 100, "num_threads": 0}, ValueError, "num_threads"),
    ({"vocab_size": 100, "errors": "ignore"}, ValueError, "errors must be"),
])
def test_bad_options(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        _train(CORPUS, **kw)


def test_bad_corpus_types():
    with pytest.raises(FileNotFoundError, match="not a file"):
        _train("not a file, just text", vocab_size=50)
    with pytest.raises(TypeError, match="not bytes"):
        _train(b"some bytes", vocab_size=50)
    with pytest.raises(TypeError, match="corpus item 1 is int"):
        _train(["ok", 5], vocab_size=50)


# ------------------------------------------------------------------------------------------------------- CLI
def test_cli_train_unigram(tmp_path):
    out = tmp_path / "cli.model"
    r = subprocess.run([sys.executable, "-m", "fastlm.cli", "train", "--model", "unigram", "--vocab-size", "800",
                        "--character-coverage", "1.0", "--no-progress", str(data_path("text", "en_botchan.txt")),
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    sp = spm.SentencePieceProcessor(model_file=str(out))
    assert sp.get_piece_size() == 800
    tok = fastlm.load(out)
    assert tok.encode("I am a cat.") == sp.encode("I am a cat.")
    r = subprocess.run([sys.executable, "-m", "fastlm.cli", "train", "--model", "unigram", "--vocab-size", "5",
                        "--no-progress", str(data_path("text", "en_botchan.txt")), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "too small" in r.stderr
