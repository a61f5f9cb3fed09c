"""The training loop of `fastlm train-lm`: one function, `train_lm(TrainConfig)`, the same on 1 or N processes.

Dimension legend: G global batch (windows per optimizer step), M micro-batch (windows per rank per micro-step),
A gradient-accumulation steps, W world size (G = M * A * W), S sequence length, V vocabulary.

One optimizer step: the sampler yields G window indices (the same on every rank); micro-step a of rank r
trains on its M of them (see data.rank_rows); gradients are reduced across ranks in the last micro-step only;
then gradient clipping, the LR of this step, AdamW. The loss of micro-step a is the mean over its M * S tokens
and is scaled by 1 / A, so the gradient is that of the mean over all G * S tokens for any (M, A, W) split:
one process with micro_batch_size G trains exactly as W processes with G / W.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from .._io import atomic_write_text
from ..models.config import ModelConfig
from ..models.decoder import DecoderModel
from ..models.objectives import token_cross_entropy
from . import parallel as par
from .checkpoint import CHECKPOINT, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .data import GlobalSampler, ShardData, rank_rows

__all__ = ["train_lm", "TrainResult", "lr_at"]

LOG = "log.jsonl"
CONFIG = "config.json"


@dataclass
class TrainResult:
    """What a run did. losses[i] is the loss of step first_step + i + 1 (the mean over its global batch)."""

    first_step: int
    steps: int
    losses: List[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    checkpoint: Optional[str] = None
    model: Optional[nn.Module] = None  # the trained (wrapped) model, on this rank
    model_config: Optional[ModelConfig] = None
    rank: int = 0
    world_size: int = 1

    @property
    def tokens_per_second(self) -> float:
        done = (self.steps - self.first_step)
        return 0.0 if self.seconds <= 0 or done <= 0 else self.tokens / self.seconds


def lr_at(step: int, cfg: TrainConfig) -> float:
    """LR of optimizer step `step` (0-based): linear warmup over warmup_steps, then constant or cosine decay to
    lr * min_lr_ratio at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac)))


def _resolve_model(cfg: TrainConfig, top: int, saved: Optional[Dict[str, Any]]) -> ModelConfig:
    """The run's ModelConfig: given, or defaults + the given fields (+ the saved config when resuming).
    top: the largest token id in the data."""
    if isinstance(cfg.model, ModelConfig):
        mc = cfg.model
    else:
        opts = dict(cfg.model or {})
        base = dict(saved) if saved is not None else {}
        if "vocab_size" not in opts and "vocab_size" not in base:
            opts["vocab_size"] = (top + 1 + 63) // 64 * 64
        if "max_seq_len" not in base:
            opts.setdefault("max_seq_len", cfg.seq_len)
        mc = ModelConfig(**{**base, **opts})
    if saved is not None:
        now = mc.to_dict()
        diff = [f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in now
                if k != "gradient_checkpointing" and saved.get(k) != now[k]]
        if diff:
            raise ValueError(f"{cfg.out_dir}: the checkpoint there was trained with another model "
                             f"({'; '.join(diff)}); use the same model options or another out_dir")
    if cfg.seq_len > mc.max_seq_len:
        raise ValueError(f"seq_len {cfg.seq_len} exceeds the model's max_seq_len {mc.max_seq_len}")
    if top >= mc.vocab_size:
        raise ValueError(f"{cfg.data}: token id {top} is outside the model's vocabulary (vocab_size "
                         f"{mc.vocab_size}); set vocab_size above the largest id (or leave it unset)")
    return mc


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log lines of steps <= step (a resumed run rewrites what came after its checkpoint)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line torn by a kill
            continue
        if isinstance(rec, dict) and int(rec.get("step", step + 1)) <= step:
            keep.append(line)
    atomic_write_text(path, "".join(k + "\n" for k in keep))


class _Progress:
    """tqdm on a terminal; otherwise a plain line about every 10% of the run (nothing if disabled)."""

    def __init__(self, enabled: bool, start: int, end: int):
        self.bar: Any = None
        self.enabled, self.end = enabled, end
        self.every = max(1, (end - start) // 10)
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=end, initial=start, unit="step", desc="train-lm", dynamic_ncols=True)

    def update(self, step: int, loss: float, lr: float, tps: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss {loss:.4f}, lr {lr:.2e}, {tps:,.0f} tok/s")
        elif self.enabled and (step % self.every == 0 or step == self.end):
            print(f"step {step}/{self.end}  loss {loss:.4f}  lr {lr:.2e}  {tps:,.0f} tok/s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_lm(config: TrainConfig) -> TrainResult:
    """Train (or resume training) a DecoderModel as `config` says; see TrainConfig and `fastlm train-lm --help`.
    Under torchrun every process calls this; rank 0 writes the files."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train_lm expects a TrainConfig; got {type(config).__name__}")
    data = ShardData(config.data, config.seq_len)  # bad data fails here, on every rank, before any collective
    env = par.setup(config.parallel, config.device)
    try:
        return _run(config, data, env)
    finally:
        par.teardown(env)


def _run(cfg: TrainConfig, data: ShardData, env: par.DistEnv) -> TrainResult:
    out = Path(cfg.out_dir)
    ck_path, log_path = out / CHECKPOINT, out / LOG
    ck: Optional[Dict[str, Any]] = None
    meta: Optional[Dict[str, Any]] = None
    err: Optional[str] = None
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if cfg.resume and ck_path.exists():
            try:
                ck = load_checkpoint(ck_path)
                meta = {k: v for k, v in ck.items() if k not in ("model", "optimizer")}
            except (ValueError, OSError) as e:
                err = str(e)
    meta, err = par.broadcast_object((meta, err), env)
    if err is not None:
        raise ValueError(err)

    # The largest token id, checked against the vocabulary before training (an id out of range would fail on one
    # rank only, in the middle of a step, and leave the others waiting in a collective). One pass over the data
    # on rank 0; a resumed run of the same data reuses the checkpoint's value.
    if meta is not None and meta.get("sampler", {}).get("n") == len(data) and "data_max_token_id" in meta:
        top = int(meta["data_max_token_id"])
    else:
        top = int(par.broadcast_object(data.max_token_id() if env.is_main else None, env))
    model_cfg = _resolve_model(cfg, top, meta["model_config"] if meta else None)
    G = cfg.micro_batch_size * cfg.grad_accum * env.world
    if G > len(data):
        raise ValueError(f"the global batch ({cfg.micro_batch_size} x {cfg.grad_accum} x {env.world} ranks = {G} "
                         f"sequences) is larger than the data ({len(data)} windows of {cfg.seq_len + 1} tokens)")
    torch.manual_seed(cfg.seed)  # the same initialization on every rank (FSDP2 shards it, DDP checks it)
    model = par.wrap(DecoderModel(model_cfg), env)
    opt = _optimizer(model, cfg)
    sampler = GlobalSampler(len(data), seed=cfg.seed, shuffle=cfg.shuffle)
    step, tokens = 0, 0
    if meta is not None:
        par.load_full_state_dicts(model, opt, ck["model"] if ck else {}, ck["optimizer"] if ck else {}, env)
        sampler.load_state_dict(meta["sampler"])
        step, tokens = int(meta["step"]), int(meta["tokens"])
        rngs = meta["rng"]
        if len(rngs) == env.world:
            set_rng_state(rngs[env.rank], env.device)
        else:  # another world size: fresh per-rank streams (only dropout uses them)
            torch.manual_seed(cfg.seed + 1 + env.rank + 7919 * step)
        ck = None  # free rank 0's copy
    else:
        torch.manual_seed(cfg.seed + 1 + env.rank)  # per-rank stream, for dropout
    if env.is_main:
        atomic_write_text(out / CONFIG, json.dumps({"train": {**cfg.to_dict(), "model": model_cfg.to_dict()},
                                                    "world_size": env.world}, indent=2))
        if meta is not None:
            _truncate_log(log_path, step)
        else:
            atomic_write_text(log_path, "")

    first = step
    end = min(cfg.max_steps, cfg.stop_after or cfg.max_steps)
    result = TrainResult(first_step=first, steps=step, model=model, model_config=model_cfg, rank=env.rank,
                         world_size=env.world)
    saved_at = step

    def save() -> None:
        msd, osd = par.full_state_dicts(model, opt, env)  # collective under FSDP2
        rngs = par.gather_objects(rng_state(env.device), env)
        if env.is_main:
            save_checkpoint(ck_path, {
                "step": step, "model_config": model_cfg.to_dict(), "model": msd, "optimizer": osd,
                "schedule": {k: getattr(cfg, k) for k in ("lr", "warmup_steps", "schedule", "min_lr_ratio",
                                                         "max_steps")},
                "sampler": sampler.state_dict(), "rng": rngs, "tokens": tokens, "world_size": env.world,
                "data_max_token_id": top})
        result.checkpoint = str(ck_path)

    autocast = torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    progress = _Progress(cfg.progress and env.is_main, first, end)
    t_start = time.perf_counter()
    model.train()
    try:
        while step < end:
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = sampler.next_batch(G)  # (G,) window indices, the same on every rank
            total = torch.zeros((), device=env.device)
            for a in range(cfg.grad_accum):
                rows = rank_rows(batch, micro_step=a, micro_batch=cfg.micro_batch_size, rank=env.rank,
                                 world=env.world)
                tok = data.batch(rows).to(env.device, non_blocking=True)  # (M, S + 1) int64
                with par.grad_sync(model, env, sync=a == cfg.grad_accum - 1):
                    with autocast:
                        logits = model(tok[:, :-1])  # (M, S, V)
                    loss = token_cross_entropy(logits, tok[:, 1:])  # float32 mean over M * S tokens
                    torch.autograd.backward(loss / cfg.grad_accum)
                total = total + loss.detach()
            grad_norm: Optional[float] = None
            if cfg.grad_clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                full = getattr(norm, "full_tensor", None)  # a DTensor under FSDP2
                grad_norm = float(full() if full is not None else norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            step_loss = float(par.all_mean(total / cfg.grad_accum, env))
            tokens += G * cfg.seq_len
            result.losses.append(step_loss)
            dt = time.perf_counter() - t0
            tps = G * cfg.seq_len / dt if dt > 0 else 0.0
            if env.is_main and (step % cfg.log_every == 0 or step == end):
                rec = {"step": step, "loss": step_loss, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
                       "elapsed_s": round(time.perf_counter() - t_start, 4), "tokens_per_s": round(tps, 1)}
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
            progress.update(step, step_loss, lr, tps)
            if cfg.save_every and step % cfg.save_every == 0:
                save()
                saved_at = step
        if step != saved_at:
            save()
    finally:
        progress.close()
    result.steps, result.tokens = step, (step - first) * G * cfg.seq_len
    result.seconds = time.perf_counter() - t_start
    if result.checkpoint is None and ck_path.exists():
        result.checkpoint = str(ck_path)
    return result
