"""`fastlm demo`: the whole pipeline on a built-in default, with no arguments, network or data files.

1. train a byte-level BPE tokenizer on the Python standard library's own source (found through `sysconfig`) and
   report its speed (the tokenizer half lives in fastlm.tokdemo);
2. train a small Llama-style decoder-only LM on that corpus for about a minute (CUDA if present, else CPU), with a
   progress bar and the falling loss;
3. print a sample from the trained model.

`--seconds` sets the training time, `--steps` a fixed number of steps instead (the same run on any machine, at
any load), `--quick` shrinks everything (for tests: ~20 s end to end).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    from .models import ModelConfig


def _parse(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fastlm demo", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=None, help="training time in seconds (default 60; 8 with --quick)")
    p.add_argument("--steps", type=int, default=None,
                   help="train for this many steps instead of --seconds (reproducible whatever the machine's speed)")
    p.add_argument("--quick", action="store_true", help="small corpus, tokenizer and model (about 20 s in all)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: half the cores; a small model gains little from more, and "
                        "OpenMP threads that share a core with another process slow every step down)")
    p.add_argument("--seed", type=int, default=0, help="seed for data order, initialization and sampling")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a terminal)")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 8.0 if args.quick else 60.0
    if args.seconds <= 0:
        p.error("--seconds must be > 0")
    if args.steps is not None and args.steps <= 0:
        p.error("--steps must be > 0")
    return args


def _model_config(vocab_size: int, *, quick: bool, cuda: bool) -> "ModelConfig":
    from .models import ModelConfig

    if cuda:  # an H100-sized minute: ~25M parameters
        d, layers, heads, seq = 512, 8, 8, 512
    elif quick:
        d, layers, heads, seq = 96, 2, 4, 64
    else:
        d, layers, heads, seq = 128, 3, 4, 96
    return ModelConfig(vocab_size=vocab_size, d_model=d, n_layers=layers, n_heads=heads, n_kv_heads=heads // 2,
                       d_ff=int(d * 8 / 3) // 16 * 16 + 16, max_seq_len=seq, position="rope", norm="rms",
                       activation="swiglu", tie_embeddings=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse(argv)
    try:
        import torch
    except ModuleNotFoundError:
        print("fastlm demo: the model half needs torch (pip install 'fastlm[torch]')", file=sys.stderr)
        return 1
    from . import tokdemo
    from .models import DecoderModel, generate
    from .models.objectives import clm_loss

    progress = not args.no_progress and sys.stderr.isatty()
    print("== 1. tokenizer ==")
    try:
        tok, texts = tokdemo.run(vocab_size=1024 if args.quick else 4096,
                                 max_bytes=(1 << 20) if args.quick else (8 << 20), progress=progress)
    except (ImportError, ModuleNotFoundError) as e:  # the BPE trainer is an optional part of a build
        print(f"fastlm demo: BPE training is not available in this build ({e}); the demo needs "
              "fastlm.train('bpe', ...)", file=sys.stderr)
        return 1

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if not cuda:
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 2) // 2))
    torch.manual_seed(args.seed)
    eot = tok.special_tokens["<|endoftext|>"]
    docs = tok.encode_ordinary_batch(texts)
    stream = torch.tensor([t for d in docs for t in d + [eot]], dtype=torch.long)  # (N,) the corpus as tokens
    cfg = _model_config(tok.vocab_size, quick=args.quick, cuda=cuda)
    model = DecoderModel(cfg).to(device)
    dtype = torch.bfloat16 if cuda else None
    B = 32 if cuda else 16
    S = cfg.max_seq_len
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n== 2. model: Llama-style decoder, {n_params / 1e6:.1f}M parameters "
          f"(d={cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads / {cfg.n_kv_heads} KV heads, "
          f"RoPE in the attention kernel), {len(stream) / 1e6:.2f}M training tokens, {device.type} ==")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3 if not cuda else 1e-3, betas=(0.9, 0.95),
                            weight_decay=0.1)
    g = torch.Generator().manual_seed(args.seed)
    losses: List[float] = []
    seen = 0
    t0 = time.perf_counter()
    warmup = 20
    bar = None
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are optional
        progress = False
    if progress and args.steps is not None:
        bar = tqdm(total=args.steps, unit="step", desc="training")
    elif progress:
        bar = tqdm(total=int(args.seconds), unit="s", desc="training", bar_format="{l_bar}{bar}| {n:.0f}/{total}s "
                   "[{postfix}]")
    last_report = t0
    model.train()
    while True:
        elapsed = time.perf_counter() - t0
        step = len(losses)
        if (step >= args.steps) if args.steps is not None else (elapsed >= args.seconds):
            break
        # linear warmup, then cosine decay over the run (with --seconds: estimated from the time left)
        frac = step / args.steps if args.steps is not None else min(elapsed / args.seconds, 1.0)
        lr_scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = group.setdefault("base_lr", group["lr"]) * lr_scale
        start = torch.randint(0, len(stream) - S - 1, (B,), generator=g)
        x = torch.stack([stream[s:s + S] for s in start.tolist()]).to(device)  # (B, S)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = clm_loss(model(x), x)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        seen += B * S
        now = time.perf_counter()
        if bar is not None:
            bar.n = step + 1 if args.steps is not None else min(now - t0, args.seconds)
            bar.set_postfix_str(f"step {step + 1}, loss {losses[-1]:.3f}, {seen / (now - t0):,.0f} tok/s")
        elif now - last_report >= max(args.seconds / 6, 1.0):
            last_report = now
            print(f"  {now - t0:5.1f}s  step {step + 1:5d}  loss {losses[-1]:.3f}", flush=True)
    if bar is not None:
        bar.close()
    dt = time.perf_counter() - t0
    k = max(1, min(10, len(losses) // 4))
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    print(f"trained {len(losses)} steps in {dt:.1f} s ({seen / dt:,.0f} tokens/s); "
          f"loss {first:.3f} -> {last:.3f} (mean of the first/last {k} steps; uniform = {math.log(cfg.vocab_size):.2f})")

    print("\n== 3. sample ==")
    model.eval()
    prompt = "def "
    ids = torch.tensor([tok.encode_ordinary(prompt)], device=device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        out = generate(model, ids, max_new_tokens=60 if args.quick else 120, do_sample=True, temperature=0.8,
                       top_k=40, seed=args.seed, eos_token_id=eot)
    new = [t for t in out[0].tolist() if t != eot]
    print(tok.decode(new))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
