"""Single-thread SentencePiece encode: fastlm vs `sentencepiece` (and HF `tokenizers` built from the same .model),
in one process, interleaved round by round, best of N, outputs asserted equal first.

    python bench/sp_encode_ratio.py [--rounds 9] [--hf] [model ...]

Input: every line of the bench_unigram.py corpora as one batch. Each round times sentencepiece, then fastlm
returning lists (`encode_batch`), then fastlm returning one numpy array (`encode_batch_to_numpy`), then HF with
--hf. Both wall time and process CPU time are reported: on a shared machine the CPU time of a single-threaded
call is the steadier of the two (time spent waiting for a core is not counted).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_unigram import CORPORA, MODELS, _hf_from_model  # noqa: E402
from conftest import DATA  # noqa: E402

import fastlm  # noqa: E402


def _time(fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--hf", action="store_true", help="also time HF tokenizers (TOKENIZERS_PARALLELISM=false)")
    args = ap.parse_args()
    import sentencepiece as spm

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    lines = []
    for n in CORPORA:
        lines += (DATA / "text" / n).read_text(encoding="utf-8").split("\n")
    mb = sum(len(x.encode()) for x in lines) / 1e6
    print(f"{len(lines)} lines, {mb:.2f} MB, best of {args.rounds}, single thread")
    for model in args.models:
        path = DATA / "tokenizers" / "sentencepiece" / f"{model}.model"
        ref = spm.SentencePieceProcessor(model_file=str(path))
        tok = fastlm.load(path)
        expected = ref.encode(lines, num_threads=1)
        assert tok.encode_batch(lines, num_threads=1) == expected, model
        ids, offs = tok.encode_batch_to_numpy(lines, num_threads=1)
        assert [ids[offs[i]:offs[i + 1]].tolist() for i in range(len(lines))] == expected, model
        runs = {"sentencepiece": lambda: ref.encode(lines, num_threads=1),
                "fastlm lists": lambda: tok.encode_batch(lines, num_threads=1),
                "fastlm numpy": lambda: tok.encode_batch_to_numpy(lines, num_threads=1)}
        if args.hf:
            hf = _hf_from_model(path)
            assert [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)] == expected, model
            runs["hf-tokenizers"] = lambda: hf.encode_batch(lines, add_special_tokens=False)
        best = {k: [float("inf"), float("inf")] for k in runs}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                best[k] = [min(a, b) for a, b in zip(best[k], _time(fn))]
        sp_w, sp_c = best["sentencepiece"]
        print(f"{model}:")
        for k, (w, c) in best.items():
            print(f"  {k:14s} wall {w * 1e3:7.1f} ms  cpu {c * 1e3:7.1f} ms  "
                  f"sentencepiece/this: wall {sp_w / w:5.2f}x  cpu {sp_c / c:5.2f}x")


if __name__ == "__main__":
    main()
