"""Every input the fuzzers ever failed on (fuzz/regressions/<target>/), plus the seed corpus, replayed through the
same harness functions that fuzz/run.py drives; and a readable test for each bug the fuzzers found."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, data_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

import common  # noqa: E402
import run as fuzz_run  # noqa: E402

fuzz_run._import_targets()
NAMES = sorted(common.TARGETS)


def test_every_target_has_seeds():
    for name in NAMES:
        assert fuzz_run.inputs_of(name), f"fuzz target {name} has no seed inputs (python fuzz/make_seeds.py)"


def test_every_regression_folder_names_a_target():
    if common.REGRESSIONS.exists():
        for d in common.REGRESSIONS.iterdir():
            assert d.name in common.TARGETS, f"fuzz/regressions/{d.name} matches no fuzz target"


@pytest.mark.parametrize("name", NAMES)
def test_replay_seeds_and_regressions(name):
    t = common.TARGETS[name]
    why = t.available()
    if why:
        if IN_CI:
            pytest.fail(f"fuzz target {name} cannot run: {why}")
        pytest.skip(why)
    failures = []
    for p in fuzz_run.inputs_of(name):
        try:
            t.fn(p.read_bytes()[: t.max_len])
        except BaseException as e:  # noqa: BLE001 - every kind of failure is reported
            failures.append(f"{p.relative_to(ROOT)}: {type(e).__name__}: {e}"[:400])
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------------------ found by the fuzzers
def test_tokenizer_json_with_a_wrong_typed_component_names_the_file(tmp_path):
    """hf_json_struct: `"normalizer": true` (and other wrong-typed fields) raised AttributeError from deep inside
    the loader; it is now a ValueError naming the file."""
    import fastlm

    src = json.loads(data_path("tokenizers", "bert-base-uncased", "tokenizer.json").read_text(encoding="utf-8"))
    cases = {
        "normalizer": True,
        "post_processor": {"type": "TemplateProcessing", "single": 3},
        "added_tokens": [{"content": "x"}],
        "pre_tokenizer": [],
    }
    for key, value in cases.items():
        obj = dict(src, **{key: value})
        p = tmp_path / f"bad_{key}.json"
        p.write_text(json.dumps(obj), encoding="utf-8")
        with pytest.raises(ValueError, match=str(p.name)):
            fastlm.load(p)


def test_deeply_nested_tokenizer_json_is_a_clear_error(tmp_path):
    import fastlm

    p = tmp_path / "deep.json"
    p.write_text('{"model": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    with pytest.raises(ValueError, match="deep.json"):
        fastlm.load(p)


def test_sentencepiece_decode_strips_every_leading_space_piece_like_the_reference():
    """encode_sp_unigram_kyoto: text starting with U+2581 (or a space, with remove_extra_whitespaces off)
    begins with a lone "▁" piece; sentencepiece strips the next piece's "▁" too, fastlm printed a space."""
    spm = pytest.importorskip("sentencepiece")
    for name in ("kyoto_ja_unigram_8000", "xlnet_spiece", "llama2_tokenizer", "botchan_en_bpe_1000"):
        path = data_path("tokenizers", "sentencepiece", name + ".model")
        ours, ref = fastlm_load(path), spm.SentencePieceProcessor(model_file=str(path))
        for text in ("\u2581123/x", "\u2581\u2581a", " \u2581b", "\u2581", "  lead", "a\u2581b"):
            ids = ref.encode(text)
            assert ours.decode(ids) == ref.decode(ids), (name, text)
            assert ours.decode([ref.piece_to_id("\u2581")] * 2 + ids) == ref.decode([ref.piece_to_id("\u2581")] * 2
                                                                                  + ids), (name, text)


def test_tokenizer_json_split_regex_keeps_the_text_between_matches(tmp_path):
    """load_hf_json: a Split(Regex, Isolated) whose pattern does not match every character dropped the
    unmatched text (findall semantics); HF keeps it as pieces of its own, and so does fastlm now."""
    tokenizers = pytest.importorskip("tokenizers")
    from fastlm.formats.bytelevel import bytes_to_token

    vocab = {bytes_to_token(bytes([b])): b for b in range(256)}
    obj = {"version": "1.0", "added_tokens": [], "normalizer": None, "post_processor": None,
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Isolated", "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                     "vocab": vocab, "merges": []}}
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(obj), encoding="utf-8")
    ours, ref = fastlm_load(p), tokenizers.Tokenizer.from_file(str(p))
    for text in ("ab 12 CD!", "Z", "〆x〆", ""):
        assert ours.encode(text) == ref.encode(text, add_special_tokens=False).ids, text
        assert ours.decode(ours.encode(text)) == text
    import pickle

    assert pickle.loads(pickle.dumps(ours)).encode("Z9z") == ours.encode("Z9z")


def fastlm_load(path):
    import fastlm

    return fastlm.load(path)


def test_an_invalid_split_regex_is_a_value_error_naming_the_file(tmp_path):
    """load_hf_json: a Split pattern the regex module cannot compile raised regex.error (not a ValueError)."""
    import fastlm

    src = json.loads((common.CORPUS / "load_hf_json" / "bpe.json").read_text(encoding="utf-8"))
    src["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(?<bad"
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(src), encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokenizer.json: field 'pre_tokenizer.pretokenizers\[0\].pattern' is a regex fastlm cannot run"):
        fastlm.load(p)
    with pytest.raises(ValueError, match="invalid pre-tokenizer pattern"):
        fastlm.Tokenizer.from_ranks({bytes([b]): b for b in range(256)}, pattern="[unclosed")
