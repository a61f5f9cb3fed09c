"""`fastlm train-lm`: train a decoder-only LM on the token shards of `fastlm encode`, on one process or under
torchrun with DDP or FSDP2.

    fastlm encode corpus/*.txt --tokenizer tok.json -o shards/
    fastlm train-lm shards/ -o run/ --d-model 512 --n-layers 8 --seq-len 1024 --max-steps 5000
    torchrun --nproc_per_node 8 -m fastlm.train_lm shards/ -o run/ --parallel fsdp --precision bf16

From Python: `train_lm(TrainConfig(data=..., out_dir=..., model=ModelConfig(...)))`; `load_model(out_dir)`
gives the trained DecoderModel back.

    config.py       TrainConfig and the command line generated from it and from ModelConfig
    data.py         windows over the shards (numpy.memmap) and the resumable global sampler
    parallel.py     process group, DDP / FSDP2 wrapping, full state dicts
    checkpoint.py   atomic checkpoint.pt, RNG states, load_model
    loop.py         train_lm: accumulation, clipping, LR schedule, loss log, progress
"""
from __future__ import annotations

import sys
from typing import List, Optional

from .checkpoint import load_model
from .config import TrainConfig, build_parser, config_from_args
from .loop import TrainResult, lr_at, train_lm
from .parallel import fully_shard_blocks

__all__ = ["TrainConfig", "TrainResult", "train_lm", "load_model", "lr_at", "fully_shard_blocks", "main",
           "build_parser"]


def main(argv: Optional[List[str]] = None, prog: str = "fastlm train-lm") -> int:
    """Command-line entry point; user mistakes print one line on stderr and return 2."""
    try:
        cfg = config_from_args(argv, prog)
        res = train_lm(cfg)
    except (ValueError, TypeError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    if res.rank == 0:
        if res.steps == res.first_step:
            print(f"nothing to do: {cfg.out_dir} already holds step {res.steps} of max_steps {cfg.max_steps}")
        else:
            k = max(1, min(10, len(res.losses) // 4))
            first, last = sum(res.losses[:k]) / k, sum(res.losses[-k:]) / k
            print(f"trained steps {res.first_step + 1}..{res.steps} ({res.tokens:,} tokens, "
                  f"{res.tokens_per_second:,.0f} tokens/s); loss {first:.4f} -> {last:.4f} (mean of the first/last "
                  f"{k} steps); checkpoint {res.checkpoint}")
    return 0
