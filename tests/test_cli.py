"""The `fastlm` command as a user meets it: --help everywhere, user mistakes as one-line errors with exit status 2
(run as real subprocesses), `fastlm info` on every supported file kind, `fastlm bench` with and without
matplotlib."""
from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import data_path

from fastlm.cli import main

SUBCOMMANDS = ["train", "encode", "info", "bench", "demo", "train-lm"]


def _run(args, code=None, timeout=300):
    cmd = [sys.executable, "-m", "fastlm.cli", *args] if code is None else [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _run_all(arg_lists):
    """Start every command at once (each is mostly interpreter start-up) and wait for all."""
    with ThreadPoolExecutor(max_workers=8) as ex:
        return list(ex.map(_run, arg_lists))


def test_help_on_every_subcommand():
    results = _run_all([["--help"]] + [[c, "--help"] for c in SUBCOMMANDS])
    for args, r in zip([None] + SUBCOMMANDS, results):
        assert r.returncode == 0, (args, r.stderr)
        want = "usage: fastlm" if args is None else f"usage: fastlm {args}"
        assert r.stdout.startswith(want), (args, r.stdout[:200])
        assert "Traceback" not in r.stderr
    top = results[0].stdout
    assert all(c in top for c in SUBCOMMANDS)


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    text = d / "corpus.txt"
    text.write_text("hello world\nsecond line\n", encoding="utf-8")
    binary = d / "latin1.txt"
    binary.write_bytes(b"caf\xe9\n")
    gpt2 = str(data_path("tokenizers", "gpt2"))
    cases = {
        # missing files
        "info-missing": (["info", str(d / "nope.tiktoken")], "no such tokenizer file"),
        "train-missing-corpus": (["train", "--model", "bpe", "--vocab-size", "300", str(d / "nope.txt"), "-o",
                                  str(d / "t.json")], "no such input file"),
        "encode-missing-tokenizer": (["encode", "--tokenizer", str(d / "nope"), str(text), "-o", str(d / "o")],
                                     "no such tokenizer file"),
        "encode-missing-input": (["encode", "--tokenizer", gpt2, str(text), str(d / "gone.txt"), "-o", str(d / "o")],
                                 "no such input file"),
        "encode-directory-input": (["encode", "--tokenizer", gpt2, str(d), "-o", str(d / "o")], "is a directory"),
        "bench-missing-input": (["bench", str(d / "nope.txt")], "no such input file"),
        "bench-missing-tokenizer": (["bench", str(text), "--tokenizer", str(d / "nope.json")],
                                    "no such tokenizer file"),
        "train-lm-missing-shards": (["train-lm", str(d / "no_shards"), "-o", str(d / "run")], "no token shards"),
        # bad option values
        "train-bad-int": (["train", "--model", "bpe", "--vocab-size", "many", str(text), "-o", str(d / "t.json")],
                          "invalid int value: 'many'"),
        "train-bad-choice": (["train", "--model", "lstm", "--vocab-size", "300", str(text), "-o",
                              str(d / "t.json")], "invalid choice: 'lstm'"),
        "bench-bad-threads": (["bench", str(text), "--threads", "0"], "num_threads"),
        "demo-bad-option": (["demo", "--steps", "soon"], "invalid int value: 'soon'"),
        "train-lm-bad-option": (["train-lm", str(d), "--max-steps", "x"], "invalid int value: 'x'"),
        "unknown-command": (["frobnicate"], "invalid choice: 'frobnicate'"),
        # unsupported formats
        "info-unsupported": (["info", str(text)], "unrecognized tokenizer format"),
        "train-unsupported-output": (["train", "--model", "bpe", "--vocab-size", "300", str(text), "-o",
                                      str(d / "t.xyz")], "unsupported output format .xyz"),
        "train-wordpiece-as-tiktoken": (["train", "--model", "wordpiece", "--vocab-size", "300", str(text), "-o",
                                         str(d / "t.tiktoken")], "cannot hold a wordpiece tokenizer"),
        "bench-not-utf8": (["bench", str(binary), "--tokenizer", gpt2], "not UTF-8"),
    }
    results = _run_all([args for args, _ in cases.values()])
    return {name: (want, r) for (name, (_, want)), r in zip(cases.items(), results)}, d


@pytest.mark.parametrize("case", [
    "info-missing", "train-missing-corpus", "encode-missing-tokenizer", "encode-missing-input",
    "encode-directory-input", "bench-missing-input", "bench-missing-tokenizer", "train-lm-missing-shards",
    "train-bad-int", "train-bad-choice", "bench-bad-threads", "demo-bad-option", "train-lm-bad-option",
    "unknown-command", "info-unsupported", "train-unsupported-output", "train-wordpiece-as-tiktoken",
    "bench-not-utf8"])
def test_user_mistake_is_one_line_error(mistakes, case):
    results, d = mistakes
    want, r = results[case]
    err = r.stderr.strip()
    assert r.returncode == 2, (case, r.returncode, r.stderr[-500:])
    assert "Traceback" not in r.stderr, r.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fastlm") and ": error: " in err and want in err, err


def test_no_work_done_before_a_late_mistake(mistakes):
    results, d = mistakes
    assert not (d / "t.json").exists() and not (d / "t.xyz").exists() and not (d / "o").exists()


def test_argparse_is_restored_after_main():
    before = argparse.ArgumentParser.error
    assert main(["train", "--vocab-size", "x"]) == 2
    assert main(["info", "--help"]) == 0
    assert argparse.ArgumentParser.error is before


@pytest.mark.parametrize("parts,model,vocab", [
    (("tiktoken", "cl100k_base.tiktoken"), "BPE", "100261"),
    (("gpt2",), "BPE", "50257"),
    (("gpt2", "encoder.json"), "BPE", "50257"),
    (("bert-base-uncased", "tokenizer.json"), "WordPiece", "30522"),
    (("bert-base-cased", "vocab.txt"), "WordPiece", "28996"),
    (("sentencepiece", "xlnet_spiece.model"), "Unigram", "32000"),
    (("sentencepiece", "llama2_tokenizer.model"), "SentencePieceBPE", "32000"),
], ids=["tiktoken", "gpt2-dir", "encoder.json", "tokenizer.json", "vocab.txt", "unigram.model", "bpe.model"])
def test_info_every_file_kind(capsys, parts, model, vocab):
    path = data_path("tokenizers", *parts)
    assert main(["info", str(path)]) == 0
    out = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert out["model"].strip() == model
    assert out["vocab size"].strip().startswith(vocab)
    if parts[-1] == "xlnet_spiece.model":
        assert out["normalizer"].strip().startswith("nmt_nfkc (SentencePiece, precompiled charsmap")
    if parts[-1] == "tokenizer.json":
        assert "'lowercase': True" in out["normalizer"] and "[CLS]=101" in out["specials"]


def test_bench_prints_a_table_and_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tiktoken")
    src = tmp_path / "t.txt"
    src.write_text("\n".join(data_path("text", "en_tweets_emotion_train.txt").read_text(encoding="utf-8")
                             .splitlines()[:100]) + "\n", encoding="utf-8")
    png = tmp_path / "plot.png"
    assert main(["bench", str(src), "--tokenizer", str(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")),
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("cl100k_base.tiktoken")]
    assert [r[1] for r in rows] == ["fastlm", "fastlm", "tiktoken"] and all(r[-1] == "yes" for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_matplotlib_says_so_and_prints_the_table(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("hello world\n" * 50, encoding="utf-8")
    png = tmp_path / "plot.png"
    code = ("import sys; sys.modules['matplotlib'] = None; from fastlm.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = _run(["bench", str(src), "--tokenizer", str(data_path("tokenizers", "gpt2")), "--plot", str(png)], code=code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("gpt2") and " fastlm " in line for line in lines)
    notes = [line for line in lines if "matplotlib" in line]
    assert len(notes) == 1 and "not installed" in notes[0]
    assert not png.exists()
