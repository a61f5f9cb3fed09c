"""Write the seed corpus (fuzz/corpus/<target>/): small valid inputs the fuzzer mutates.

    python fuzz/make_seeds.py          # rewrites fuzz/corpus/ deterministically (the files are committed)

Tokenizer seeds are tiny models trained here on generated text (no shared data is copied into the project):
a 300-token byte-level BPE (.tiktoken, tokenizer.json, GPT-2 encoder.json + vocab.bpe), a 200-token WordPiece
(vocab.txt, tokenizer.json) and 120-piece SentencePiece Unigram and BPE .model files (identity normalizer, and
one with a small custom precompiled charsmap). Text seeds are short strings in each of common.text_of's modes.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS, SNIPPETS  # noqa: E402

SYLLABLES = ["ka", "ri", "to", "n", "me", "su", "la", "ve", "or", "th", "e", "qu", "ick", "ing", "ed", "s"]


def generated_text(lines: int = 400, seed: int = 0) -> list:
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        words = ["".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))) for _ in range(rnd.randint(3, 12))]
        if rnd.random() < 0.3:
            words[0] = words[0].capitalize()
        if rnd.random() < 0.2:
            words.append(str(rnd.randint(0, 99999)))
        if rnd.random() < 0.2:
            words.append(rnd.choice(["é", "日本", "😀", "ß", "'s", "..."]))
        out.append(" ".join(words) + rnd.choice([".", ",", "!", "?", ""]))
    return out


def text_seeds() -> list:
    rnd = random.Random(1)
    seeds = [b"", b"\x00", b"\x00Hello, world! It's 2024.\n", b"\x00  leading and trailing  \r\n",
             b"\x00" + "Héllo wörld ﬁne Ⅻ 日本語 한국어 😀 👩‍👩‍👧".encode(), b"\x00<|endoftext|> [CLS] x [SEP] </s>",
             b"\x00" + "e\u0301\u0300\u0302".encode() * 20, b"\x00" + b"a" * 300, b"\x00" + b" " * 200,
             b"\x00" + b"1234567890" * 10, b"\x00don't I'LL we've THEY'RE\n\n\tx", b"\x00\xff\xfe\xc3(\xe2\x82",
             b"\x01" + bytes(range(256)), b"\x03" + bytes(range(256))]
    for _ in range(12):
        seeds.append(b"\x02" + bytes(rnd.randrange(len(SNIPPETS)) for _ in range(rnd.randint(4, 40))))
    return seeds


def ids_seeds() -> list:
    return [b"", (0).to_bytes(3, "little") * 4, b"".join(i.to_bytes(3, "little", signed=True) for i in
                                                         (1, 2, 3, 100, 1000, 29871, -1, 2 ** 23 - 1, 13, 10))]


def write(name: str, files: dict) -> None:
    d = CORPUS / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for fname, data in files.items():
        (d / fname).write_bytes(data)


def by_hash(blobs: list) -> dict:
    return {hashlib.sha1(b).hexdigest()[:16]: b for b in blobs}


def main() -> None:
    import fastlm

    lines = generated_text()
    write("text", by_hash(text_seeds()))
    write("ids", by_hash(ids_seeds()))

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        bpe = fastlm.train("bpe", lines, vocab_size=300, pattern="cl100k", special_tokens=["<|endoftext|>"],
                           progress=False)
        bpe.save(t / "seed.tiktoken")
        bpe.save(t / "bpe.json")
        obj = json.loads((t / "bpe.json").read_text())
        vocab = obj["model"]["vocab"]
        merges = [" ".join(m) for m in obj["model"]["merges"]][:120]
        gpt2_vocab = json.dumps(vocab, ensure_ascii=False).encode()
        gpt2_merges = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode()
        wp = fastlm.train("wordpiece", lines, vocab_size=200, progress=False)
        wp.save(t / "wp.json")
        vocab_txt = "\n".join(wp.id_to_token(i) or "" for i in range(wp.n_vocab)).encode() + b"\n"
        write("load_tiktoken", {"ranks.tiktoken": (t / "seed.tiktoken").read_bytes()[:16000]})
        write("load_gpt2", {"pair": gpt2_vocab + b"\n#--merges--\n" + gpt2_merges})
        write("load_vocab_txt", {"vocab.txt": vocab_txt})
        write("load_hf_json", {"bpe.json": json.dumps(obj, ensure_ascii=False).encode()[:16000],
                               "wordpiece.json": (t / "wp.json").read_bytes()[:16000]})
        write("hf_json_struct", {"bpe": bytes(range(0, 64)), "wp": bytes(range(64, 128))})

        sp_models = sp_seed_models(t, lines)
        write("load_sp_model", sp_models)
        write("sp_model_struct", {"a": bytes(range(0, 64)), "b": bytes(range(128, 192))})


def sp_seed_models(t: Path, lines: list) -> dict:
    """Tiny .model files trained with the sentencepiece library (identity normalizer; one with a small charsmap)."""
    import sentencepiece as spm

    corpus = t / "corpus.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    rules = t / "rules.tsv"
    # source code points (hex, space separated) TAB target code points: a few NFKC-like rules
    rules.write_text("FB01\t66 69\n2160\t49\n212B\tC5\n3000\t20\nFF21\t41\n", encoding="utf-8")
    out = {}
    for name, size, extra in (
            ("unigram", 120, dict(model_type="unigram", normalization_rule_name="identity")),
            ("bpe", 340, dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=True)),
            ("charsmap", 120, dict(model_type="unigram", normalization_rule_tsv=str(rules)))):
        prefix = t / name
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(prefix), vocab_size=size,
                                       minloglevel=2, **extra)
        out[f"{name}.model"] = (t / f"{name}.model").read_bytes()
    return out


if __name__ == "__main__":
    main()
