"""Byte-level BPE training: hand-checked merges, a readable reference trainer as the oracle, determinism, 64-bit
counts, streaming, progress bars, bad input, round trips through .tiktoken."""
from __future__ import annotations

import io
import pickle
import random
import re
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import data_path

import fastlm
from fastlm import _core
from fastlm.training import _corpus
from fastlm.training.bpe import learn_merges


def _merges(corpus, **kw):
    kw.setdefault("vocab_size", 1000)
    kw.setdefault("pattern", "r50k")
    kw.setdefault("progress", False)
    return learn_merges(corpus, **kw)


# ------------------------------------------------------------------------------------------- hand-checked merges
def test_overlap_and_tie_break_by_hand():
    # "aaab" is one piece. Pairs: (a,a) x2, (a,b) x1 -> merge a+a, left to right: [aa, a, b].
    # Now (aa,a) x1 and (a,b) x1 tie; (b"a", b"b") < (b"aa", b"a") as byte tuples -> a+b: [aa, ab]. Then aa+ab.
    assert _merges(["aaab"], min_frequency=1) == [(b"a", b"a", 2), (b"a", b"b", 1), (b"aa", b"ab", 1)]


def test_counts_min_frequency_and_specials_by_hand():
    # Pieces (r50k): "hug", " hug", " pug" | "hugs", "hug" (the special token is cut out, never counted).
    # Counts: hug 2, " hug" 1, " pug" 1, hugs 1.
    # Pairs: (u,g) = 2+1+1+1 = 5, (h,u) = 2+1+1 = 4, the rest 1 -> merge u+g (5).
    # Then (h,ug) = 2+1+1 = 4 -> merge h+ug. All remaining pairs occur once < min_frequency=2 -> stop.
    corpus = ["hug hug pug", "hugs<|eot|>hug"]
    assert _merges(corpus, special_tokens=["<|eot|>"], min_frequency=2) == [(b"u", b"g", 5), (b"h", b"ug", 4)]
    tok = fastlm.train("bpe", corpus, vocab_size=1000, pattern="r50k", special_tokens=["<|eot|>"], progress=False)
    assert tok.decode_single_token_bytes(256) == b"ug" and tok.decode_single_token_bytes(257) == b"hug"
    assert tok.special_tokens == {"<|eot|>": 258}
    assert tok.encode("hug<|eot|>", allowed_special="all") == [257, 258]
    assert tok.encode_ordinary("hugs") == [257, ord("s")]


def test_max_token_length_by_hand():
    # As in the overlap test, but aa+ab would be 4 bytes > 2: never merged.
    assert _merges(["aaab"], min_frequency=1, max_token_length=2) == [(b"a", b"a", 2), (b"a", b"b", 1)]


def test_vocab_size_stops_training_and_byte_tokens_come_first():
    # Pieces: " low" x3, " lower" x2, " newest" x2 (r50k, docs are separate). Byte ids are the bytes themselves.
    corpus = [" low"] * 3 + [" lower"] * 2 + [" newest"] * 2
    # Pairs: (" ",l) 5, (l,o) 5, (o,w) 5, (w,e) 4, (" ",n) 2, ... -> ties at 5: (b" ", b"l") is the smallest.
    # Then (" l", o) 5 vs (o, w) 5: b" l" < b"o" -> " l"+"o". Then (" lo", w) 5 -> " low". Then (" low", e) 2
    # ties with (e,r) 2, (" ",n) 2, (n,e) 2, (e,w) 2, (w,e) 2, (e,s) 2, (s,t) 2: smallest is (b" ", b"n").
    m = _merges(corpus, vocab_size=256 + 4, min_frequency=2)
    assert m == [(b" ", b"l", 5), (b" l", b"o", 5), (b" lo", b"w", 5), (b" ", b"n", 2)]
    tok = fastlm.train("bpe", corpus, vocab_size=260, pattern="r50k", progress=False)
    assert tok.n_vocab == 260
    assert [tok.decode_single_token_bytes(i) for i in (0, 65, 255)] == [b"\x00", b"A", b"\xff"]
    assert tok.encode(" lower") == [258, ord("e"), ord("r")]


def test_ties_between_long_tokens_by_hand():
    # Pieces (\w+): "abcdefghx" x3, "abcdefghy" x3. Every pair of "abcdefgh" occurs 6 times; among ties the
    # smallest left bytes win, so the token grows from the left: ab, abc, ..., abcdefgh. Then (abcdefgh, x) and
    # (abcdefgh, y) tie at 3 and agree on their first 8 bytes: the right token decides (x < y).
    docs = ["abcdefghx abcdefghy"] * 3
    prefix = [(b"abcdefgh"[:i], b"abcdefgh"[i:i + 1], 6) for i in range(1, 8)]
    assert _merges(docs, pattern=r"\w+", min_frequency=1) == prefix + [(b"abcdefgh", b"x", 3), (b"abcdefgh", b"y", 3)]


def test_huge_vocab_size_on_a_tiny_corpus_stops_when_pairs_run_out():
    # The trainer sizes its tables by what the corpus can produce, not by vocab_size (64M tokens would be GBs).
    assert _merges(["ab ab abc"], vocab_size=60_000_000, min_frequency=1, pattern=r"\w+") == [
        (b"a", b"b", 3), (b"ab", b"c", 1)]
    tok = fastlm.train("bpe", ["ab ab abc"], vocab_size=60_000_000, min_frequency=1, pattern=r"\w+", progress=False)
    assert tok.n_vocab == 258


def test_custom_regex_pattern_is_split_in_python():
    # \w+ keeps words without their spaces; unmatched text (spaces) is dropped, as tiktoken does.
    # Pieces: "ab" x3, "abc" x1 -> (a,b) 4 first, then (ab,c) 1 < min_frequency 2 -> stop.
    assert _merges(["ab ab ab abc"], pattern=r"\w+", min_frequency=2) == [(b"a", b"b", 4)]


# ----------------------------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def lines():
    p = data_path("text", "en_botchan.txt")
    return p.read_text(encoding="utf-8").splitlines()[:3000]


def test_same_files_whatever_the_thread_count(tmp_path, lines):
    out = {}
    for t in (1, 2):
        tok = fastlm.train("bpe", lines, vocab_size=800, num_threads=t, special_tokens=["<|endoftext|>"],
                           progress=False)
        tok.save(tmp_path / f"t{t}.json")
        tok.save(tmp_path / f"t{t}.tiktoken")
        out[t] = ((tmp_path / f"t{t}.json").read_bytes(), (tmp_path / f"t{t}.tiktoken").read_bytes())
    assert out[1] == out[2]


def test_files_and_iterable_of_the_same_text_agree(tmp_path):
    text = "the cat sat on the mat\nthe cat ate the rat\n" * 50
    p = tmp_path / "c.txt"
    p.write_text(text, encoding="utf-8")
    a = _merges(p, vocab_size=300)
    b = _merges([text], vocab_size=300)
    assert a == b and len(a) > 5


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("corpus", [[], [""], ["<|endoftext|>"]])
def test_empty_corpus(corpus):
    with pytest.raises(ValueError, match="empty"):
        fastlm.train("bpe", corpus, vocab_size=300, special_tokens=["<|endoftext|>"], progress=False)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        fastlm.train("bpe", p, vocab_size=300, progress=False)


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match=r"256 byte tokens \+ 2 special tokens = 258"):
        fastlm.train("bpe", ["abc"], vocab_size=257, special_tokens=["<a>", "<b>"], progress=False)
    with pytest.raises(ValueError, match="vocab_size=100"):
        fastlm.train("bpe", ["abc"], vocab_size=100, progress=False)


def test_invalid_utf8_names_file_and_offset(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"hello world\n" * 10 + b"ok \xff\xfe bad\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*byte 123"):
        fastlm.train("bpe", [p], vocab_size=300, progress=False)
    tok = fastlm.train("bpe", [p], vocab_size=300, errors="replace", progress=False)
    assert tok.n_vocab > 256


def test_invalid_utf8_shared_stress_file():
    p = data_path("unicode", "UTF-8-test.txt")  # first invalid byte at offset 4461 (SOURCES.md)
    with pytest.raises(ValueError, match=r"UTF-8-test\.txt: invalid UTF-8 at byte 4461"):
        fastlm.train("bpe", p, vocab_size=300, progress=False)


@pytest.mark.parametrize("kw, msg", [
    (dict(min_frequency=0), "min_frequency"),
    (dict(max_token_length=0), "max_token_length"),
    (dict(num_threads=0), "num_threads"),
    (dict(pattern="(unclosed"), "not a valid regex"),
    (dict(special_tokens=["<s>", "<s>"]), "listed twice"),
    (dict(errors="ignore"), "errors"),
])
def test_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        fastlm.train("bpe", ["abc abc"], vocab_size=300, progress=False, **kw)


def test_bad_corpus_types(tmp_path):
    with pytest.raises(TypeError, match="item 1 is bytes"):
        fastlm.train("bpe", ["abc", b"abc"], vocab_size=300, progress=False)
    with pytest.raises(FileNotFoundError):
        fastlm.train("bpe", tmp_path / "missing.txt", vocab_size=300, progress=False)
    with pytest.raises(TypeError, match="not int"):
        fastlm.train("bpe", 42, vocab_size=300, progress=False)
    with pytest.raises(TypeError, match="not bytes"):
        fastlm.train("bpe", b"abc abc", vocab_size=300, progress=False)


# -------------------------------------------------------------------------------------------------- round trips
def test_tiktoken_round_trip_and_pickle(tmp_path, lines):
    tok = fastlm.train("bpe", lines, vocab_size=600, pattern="cl100k", special_tokens=["<|endoftext|>"],
                       progress=False)
    tok.save(tmp_path / "m.tiktoken")
    back = fastlm.load(tmp_path / "m.tiktoken", pattern="cl100k", special_tokens=tok.special_tokens)
    again = pickle.loads(pickle.dumps(tok))
    text = "\n".join(lines)
    ids = tok.encode(text)
    assert back.encode(text) == ids and again.encode(text) == ids
    assert tok.decode(ids) == text


# ------------------------------------------------------------------------------------- the readable reference
GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def reference_merges(texts, *, vocab_size, min_frequency=2, max_token_length=None, pattern=GPT2_REGEX):
    """BPE training as specified, recounting every pair from scratch before each merge (quadratic, readable).

    Words are the regex pieces as byte tuples; the best pair has the highest count, ties going to the smallest
    (left bytes, right bytes); a merge rewrites each word left to right; training stops at vocab_size tokens or
    when the best count is below min_frequency.
    """
    import regex

    words = Counter()
    for t in texts:
        for piece in regex.findall(pattern, t):
            words[tuple(bytes([b]) for b in piece.encode("utf-8"))] += 1
    tokens = {bytes([b]) for b in range(256)}
    merges = []
    while len(tokens) < vocab_size:
        pairs = Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                if max_token_length is None or len(a) + len(b) <= max_token_length:
                    pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_frequency:
            break
        merges.append((best[0], best[1], pairs[best]))
        tokens.add(best[0] + best[1])
        rewritten = Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            rewritten[tuple(out)] += n
        words = rewritten
    return merges


# Few symbols, long runs and multi-byte characters: many ties, overlapping pairs ("aaaa") and merges inside
# UTF-8 sequences.
_docs = st.lists(st.text(alphabet="aab \n1é日", max_size=60), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(docs=_docs, merges=st.integers(1, 40), min_frequency=st.integers(1, 3),
       max_token_length=st.sampled_from([None, 2, 3, 5]))
def test_matches_the_readable_reference_on_random_corpora(docs, merges, min_frequency, max_token_length):
    kw = dict(vocab_size=256 + merges, min_frequency=min_frequency, max_token_length=max_token_length)
    if not any(docs):
        return  # the empty corpus is rejected (test_empty_corpus)
    assert _merges(docs, **kw) == reference_merges(docs, **kw)


def test_matches_the_readable_reference_on_english_and_japanese():
    texts = []
    for name in ("en_botchan.txt", "ja_wagahaiwa_nekodearu.txt"):
        texts += data_path("text", name).read_text(encoding="utf-8").splitlines(keepends=True)[:150]
    got = _merges(texts, vocab_size=256 + 120)
    assert len(got) == 120
    assert got == reference_merges(texts, vocab_size=256 + 120)


def test_document_order_does_not_change_the_merges(lines):
    # The counter hands words out in hash-table order, which depends on insertion order; merges must not.
    shuffled = list(lines)
    random.Random(0).shuffle(shuffled)
    a = _merges(lines, vocab_size=700, num_threads=1)
    assert len(a) == 444
    assert _merges(shuffled, vocab_size=700, num_threads=2) == a
    assert _merges(list(reversed(lines)), vocab_size=700, num_threads=1) == a


# ----------------------------------------------------------------------------------------- 64-bit counts
def test_counts_past_32_bits():
    # Word counts at and past 2^31 (kept out of line in the trainer) and pair sums past 2^32 stay exact.
    big, mid = 2**40 + 3, 2**31 + 1
    counter = _core.BpeTrainCounter(_core.PretokKind.NONE, [])
    counter.add_pieces([("ab", big), ("abc", mid), ("bc", 5), ("cd", 2**31 - 1)])
    model, merges, distinct = _core.train_bpe(counter, 300, 2, 0, None)
    named = [(bytes(model.token_bytes(a)), bytes(model.token_bytes(b)), n) for a, b, _, n in merges]
    # Pairs: (a,b) = big + mid > 2^40, (b,c) = mid + 5, (c,d) = 2^31 - 1 -> a+b. That takes abc's "b", so
    # (ab,c) = mid > (c,d) = 2^31 - 1 > (b,c) = 5, merged in that order.
    assert named == [(b"a", b"b", big + mid), (b"ab", b"c", mid), (b"c", b"d", 2**31 - 1), (b"b", b"c", 5)]
    assert distinct == 4


def test_counts_that_could_overflow_are_rejected():
    counter = _core.BpeTrainCounter(_core.PretokKind.NONE, [])
    counter.add_pieces([("ab", 2**62), ("cd", 2**62)])
    with pytest.raises(ValueError, match="too large"):
        _core.train_bpe(counter, 300, 2, 0, None)


# ---------------------------------------------------------------------------------------------- streaming
def test_small_chunks_give_the_same_merges(tmp_path, monkeypatch, lines):
    # Lines end in "\n" followed by a letter, so cutting at any line end leaves the pre-tokens unchanged.
    text = "".join(l.strip() + "\n" for l in lines if l.strip()) + "x" * 300 + "\n"  # one line longer than a chunk
    p = tmp_path / "c.txt"
    p.write_text(text, encoding="utf-8")
    whole = _merges([text], vocab_size=600)
    monkeypatch.setattr(_corpus, "CHUNK_BYTES", 97)
    monkeypatch.setattr(_corpus, "BATCH_BYTES", 97)
    chunks = list(_corpus.iter_text_chunks(p))
    assert len(chunks) > 100 and "".join(chunks) == text and max(map(len, chunks)) >= 300
    assert _merges(p, vocab_size=600, num_threads=2) == whole


def test_invalid_utf8_offset_is_counted_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(_corpus, "CHUNK_BYTES", 64)
    p = tmp_path / "late.txt"
    p.write_bytes("ünïcödé line\n".encode("utf-8") * 40 + b"ok \xc3( bad\n")
    offset = len("ünïcödé line\n".encode("utf-8")) * 40 + 3
    with pytest.raises(ValueError, match=rf"late\.txt: invalid UTF-8 at byte {offset}\b"):
        fastlm.train("bpe", p, vocab_size=300, progress=False)


# ------------------------------------------------------------------------------------------------ progress
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_on_a_terminal(tmp_path, monkeypatch, lines):
    pytest.importorskip("tqdm")
    p = tmp_path / "c.txt"
    p.write_text("\n".join(lines[:500]) + "\n", encoding="utf-8")
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    tok = fastlm.train("bpe", p, vocab_size=400, pattern="r50k", progress=True)
    out = err.getvalue()
    # the byte bar ends at the file size, the merge bar at vocab_size
    kb = f"{p.stat().st_size / 1000:.1f}k"
    assert re.search(rf"counting pre-tokens: 100%[^\r]*{re.escape(kb)}/{re.escape(kb)}", out), out
    assert re.search(r"learning merges: 100%[^\r]*400/400", out), out
    assert tok.n_vocab == 400


def test_no_progress_when_off_or_not_a_terminal(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    fastlm.train("bpe", ["abc abc abd"] * 10, vocab_size=260, progress=False)
    assert err.getvalue() == ""
    err = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", err)
    fastlm.train("bpe", ["abc abc abd"] * 10, vocab_size=260, progress=True)
    assert err.getvalue() == ""


def test_progress_callback_moves_the_bar_to_done():
    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    report = _corpus.progress_callback(bar)
    report(300, 1000)
    report(700, 1000)
    assert bar.n == 700
    assert _corpus.progress_callback(None) is None
