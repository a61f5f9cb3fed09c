"""The `fastlm` command: demo, encode, train, train-lm, info, bench.

User mistakes print one line on stderr and exit with status 2 (no traceback): bad options (argparse's own errors,
the demo / train-lm parsers' too), missing input files, unsupported formats, and the typed errors fastlm raises.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Iterator, List, Optional


def _die(msg: str) -> int:
    print(f"fastlm: error: {msg}", file=sys.stderr)
    return 2


def _one_line_error(self: argparse.ArgumentParser, message: str) -> None:
    print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
    sys.exit(2)


@contextlib.contextmanager
def _one_line_argparse_errors() -> Iterator[None]:
    """argparse prints the whole usage block before its error; inside this, every parser (ours, and the demo and
    train-lm parsers built in their own modules) prints one line instead. Restored afterwards, so `main([...])`
    called in-process leaves argparse as it found it."""
    saved = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _one_line_error  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        argparse.ArgumentParser.error = saved  # type: ignore[method-assign]


_TRAIN_OUTPUTS = {".json": ("bpe", "wordpiece", "unigram"), ".tiktoken": ("bpe",), ".model": ("unigram",)}


def _check_user_input(args: argparse.Namespace) -> Optional[str]:
    """What argparse cannot see: input files that do not exist, and output formats the command cannot write.
    Checked before any work starts (a typo in the last file must not cost a training run)."""
    for f in getattr(args, "files", None) or []:
        if not os.path.exists(f):
            return f"no such input file: {f}"
        if os.path.isdir(f):
            return f"{f} is a directory; pass the text files in it (e.g. {os.path.join(f, '*.txt')})"
    if args.command == "train":
        ext = os.path.splitext(args.output)[1].lower()
        models = _TRAIN_OUTPUTS.get(ext)
        if models is None:
            return (f"-o {args.output}: unsupported output format {ext or '(no extension)'}; use tokenizer.json, "
                    "or .tiktoken for bpe, .model for unigram")
        if args.model not in models:
            return f"-o {args.output}: a {ext} file cannot hold a {args.model} tokenizer; use tokenizer.json"
    return None


def _error_message(e: BaseException) -> str:
    if isinstance(e, KeyError):
        msg = str(e.args[0] if e.args else e)
    elif isinstance(e, OSError) and e.filename and e.strerror:  # "[Errno 2] ..." -> "No such file ...: path"
        msg = f"{e.strerror}: {e.filename}"
    else:
        msg = str(e)
    return msg.splitlines()[0] if msg.strip() else type(e).__name__


def _cmd_demo(args: argparse.Namespace, rest: List[str]) -> int:
    try:
        from .demo import main as demo_main
    except ModuleNotFoundError as e:
        if e.name not in ("fastlm.demo", "torch"):
            raise
        # without torch (or the model layer) the demo runs its tokenizer half
        from .tokdemo import main as demo_main
    return int(demo_main(rest) or 0)


def _cmd_encode(args: argparse.Namespace, rest: List[str]) -> int:
    from .shards import encode_files

    index = encode_files(args.files, args.tokenizer, args.output, dtype=args.dtype, num_threads=args.num_threads,
                         progress=not args.no_progress, eot=None if args.no_eot else -1)
    n = sum(s["n_tokens"] for s in index["shards"])
    print(f"wrote {len(index['shards'])} shard(s), {n} tokens ({index['dtype']}) to {args.output}")
    return 0


def _cmd_train_lm(args: argparse.Namespace, rest: List[str]) -> int:
    # every option lives in fastlm.train_lm (generated from TrainConfig and ModelConfig); this only forwards
    from .train_lm import main as train_lm_main

    return int(train_lm_main(rest) or 0)


def _cmd_train(args: argparse.Namespace, rest: List[str]) -> int:
    from .train import train

    opts = {"vocab_size": args.vocab_size, "progress": not args.no_progress}
    if args.pattern:
        opts["pattern"] = args.pattern
    if args.special_tokens:
        opts["special_tokens"] = args.special_tokens.split(",")
    if args.min_frequency is not None:
        opts["min_frequency"] = args.min_frequency
    if args.num_threads is not None:
        opts["num_threads"] = args.num_threads
    # unigram (SentencePiece) options
    for key in ("character_coverage", "max_piece_length", "normalization"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    if args.byte_fallback:
        opts["byte_fallback"] = True
    tok = train(args.model, args.files, **opts)
    tok.save(args.output)
    print(f"trained {args.model} tokenizer with {tok.vocab_size} tokens -> {args.output}")
    return 0


def _cmd_info(args: argparse.Namespace, rest: List[str]) -> int:
    from .api import load

    tok = load(args.path)
    print(f"path:        {args.path}")
    print(f"name:        {tok.name or '(none)'}")
    print(f"model:       {tok.model_type}")
    print(f"vocab size:  {tok.vocab_size} (ids below {tok.n_vocab})")
    print(f"normalizer:  {_describe_normalizer(tok)}")
    print(f"pattern:     {tok.pattern if tok.pattern else 'none'}")
    specials = ", ".join(f"{t}={i}" for t, i in sorted(tok.special_tokens.items(), key=lambda kv: kv[1]))
    print(f"specials:    {specials or 'none'}")
    unk = getattr(tok, "unk_id", None)
    if unk is not None:
        print(f"unknown id:  {unk}")
    return 0


def _describe_normalizer(tok: object) -> str:
    """HF-style normalizers live in the state; a SentencePiece model carries a named rule (and maybe a compiled
    character map) in its proto."""
    norm = getattr(tok, "_state", {}).get("normalizer")
    if norm:
        return str(norm)
    proto = getattr(tok, "proto", None)
    if proto is not None:
        try:
            from .formats.sentencepiece import N_CHARSMAP, N_NAME

            name = proto.get_bytes("normalizer", N_NAME, b"").decode("utf-8", "replace") or "identity"
            cmap = len(proto.get_bytes("normalizer", N_CHARSMAP, b""))
            return f"{name} (SentencePiece{f', precompiled charsmap {cmap} bytes' if cmap else ''})"
        except (ImportError, AttributeError, TypeError, ValueError):
            pass
    return "none"


def _cmd_bench(args: argparse.Namespace, rest: List[str]) -> int:
    from .bench import run_cli_bench

    return int(run_cli_bench(args.files, tokenizer=args.tokenizer, plot=args.plot, threads=args.threads) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastlm", description="fast tokenizers and attention for language models")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="run the main job on a built-in default (no arguments or data needed)",
                       add_help=False)
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("encode", help="encode text files into token shards (.bin + offsets)")
    e.add_argument("files", nargs="+", help="UTF-8 text files; each non-blank line is a document")
    e.add_argument("--tokenizer", required=True, help="tokenizer file (.tiktoken, tokenizer.json, vocab.txt, .model)")
    e.add_argument("-o", "--output", required=True, help="output directory")
    e.add_argument("--dtype", default="auto", choices=["auto", "uint16", "uint32"])
    e.add_argument("--num-threads", type=int, default=None)
    e.add_argument("--no-eot", action="store_true", help="do not append the end-of-text token after each document")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_cmd_encode)

    t = sub.add_parser("train", help="train a tokenizer")
    t.add_argument("files", nargs="+")
    t.add_argument("--model", required=True, choices=["bpe", "wordpiece", "unigram"])
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument("--pattern", default=None, help="BPE pre-tokenizer: r50k, cl100k, o200k or a regex")
    t.add_argument("--special-tokens", default=None, help="comma-separated special tokens")
    t.add_argument("--min-frequency", type=int, default=None)
    t.add_argument("--num-threads", type=int, default=None)
    t.add_argument("--character-coverage", type=float, default=None, help="unigram: share of characters kept")
    t.add_argument("--max-piece-length", type=int, default=None, help="unigram: longest piece, in characters")
    t.add_argument("--normalization", default=None, help="unigram: nmt_nfkc (default), nfkc or identity")
    t.add_argument("--byte-fallback", action="store_true", help="unigram: add <0xNN> byte pieces")
    t.add_argument("-o", "--output", required=True,
                   help="tokenizer.json (or .tiktoken for BPE, .model for unigram)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)

    tl = sub.add_parser("train-lm", help="train a decoder LM on token shards (torchrun for DDP / FSDP2; see "
                                         "`fastlm train-lm --help`)", add_help=False)
    tl.set_defaults(func=_cmd_train_lm)

    i = sub.add_parser("info", help="describe a tokenizer file")
    i.add_argument("path")
    i.set_defaults(func=_cmd_info)

    b = sub.add_parser("bench", help="fastlm against every installed anchor library on your own data")
    b.add_argument("files", nargs="+")
    b.add_argument("--tokenizer", default=None, help="tokenizer file (default: every built-in that applies)")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--plot", default="fastlm-bench.png", help="PNG output path")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    with _one_line_argparse_errors():
        try:
            return _main(argv)
        except SystemExit as e:  # argparse: --help (0) and usage errors (2)
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


def _main(argv: Optional[List[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in ("demo", "train-lm"):  # they parse their own options
        args, rest = parser.parse_known_args(argv[:1])
        rest = argv[1:]
    else:
        args = parser.parse_args(argv)
        rest = []
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    bad = _check_user_input(args)
    if bad:
        return _die(bad)
    try:
        return int(args.func(args, rest) or 0)
    except (ValueError, TypeError, OSError, KeyError, ImportError) as e:
        return _die(_error_message(e))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
