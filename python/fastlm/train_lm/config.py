"""TrainConfig (every option of `fastlm train-lm`) and the command line built from it and from ModelConfig.

The command line is generated from the two dataclasses, so every field is reachable from both: TrainConfig's
`lr` is `--lr`, ModelConfig's `n_kv_heads` is `--n-kv-heads`, booleans get `--x` / `--no-x`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from ..models.config import _CHOICES as _MODEL_CHOICES
from ..models.config import ModelConfig

__all__ = ["TrainConfig", "build_parser", "config_from_args"]

PARALLEL = ("auto", "none", "ddp", "fsdp")
PRECISION = ("fp32", "bf16")
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """Options of a `fastlm train-lm` run (the CLI flags have the same names, with dashes).

    data: directory of token shards written by `fastlm encode`. out_dir: checkpoint.pt, log.jsonl and
        config.json go here; an existing checkpoint there is resumed (resume=False starts over).
    model: a ModelConfig, or a dict of ModelConfig fields over the defaults (what the CLI passes), or None for the
        defaults. Unset vocab_size = the largest token id in the data + 1, rounded up to a multiple of 64;
        unset max_seq_len = seq_len.
    seq_len: tokens per training sequence. micro_batch_size: sequences per rank per forward/backward.
    grad_accum: micro-batches per optimizer step; the global batch is micro_batch_size * grad_accum * world size
        sequences, and the loss is the mean over all of its tokens whatever the split.
    max_steps: optimizer steps in all (the LR schedule spans them). stop_after: end this run (with a checkpoint)
        once this many steps are done, the schedule still spanning max_steps -- for jobs with a time limit.
    lr, warmup_steps, schedule ("cosine": linear warmup, then cosine decay to lr * min_lr_ratio at max_steps;
        "constant": warmup, then lr), weight_decay (on weight matrices and embeddings; not on norms and biases),
        beta1, beta2, eps: AdamW. grad_clip: max global gradient norm (0 = off).
    parallel: "auto" (DDP when launched on several processes, else none), "none", "ddp" (DistributedDataParallel)
        or "fsdp" (FSDP2: fully_shard on every transformer block and on the whole model).
    precision: "fp32", or "bf16" (torch.autocast to bfloat16 around the forward pass; parameters, gradients and
        optimizer state stay float32).
    shuffle, seed: data order (a permutation per epoch) and initialization. save_every: also checkpoint every this
        many steps (0 = only at the end). log_every: loss-log line every this many steps.
    progress: a tqdm bar on rank 0 (only when stderr is a terminal; plain lines otherwise).
    device: torch device (default: cuda:LOCAL_RANK if CUDA is available, else cpu).
    """

    data: str = ""
    out_dir: str = ""
    model: Union[ModelConfig, Dict[str, Any], None] = None
    seq_len: int = 256
    micro_batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 1000
    stop_after: Optional[int] = None
    lr: float = 3e-4
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    parallel: str = "auto"
    precision: str = "fp32"
    shuffle: bool = True
    seed: int = 0
    save_every: int = 0
    log_every: int = 1
    resume: bool = True
    progress: bool = True
    device: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("TrainConfig.data: the directory of token shards (written by `fastlm encode`) is "
                             "required")
        if not self.out_dir:
            raise ValueError("TrainConfig.out_dir: an output directory for checkpoints and logs is required")
        for name, allowed in (("parallel", PARALLEL), ("precision", PRECISION), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {', '.join(map(repr, allowed))}; "
                                 f"got {getattr(self, name)!r}")
        for name in ("seq_len", "micro_batch_size", "grad_accum", "max_steps", "log_every"):
            val = getattr(self, name)
            if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int; got {val!r}")
        for name in ("warmup_steps", "save_every"):
            val = getattr(self, name)
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                raise ValueError(f"TrainConfig.{name} must be an int >= 0; got {val!r}")
        if self.stop_after is not None and (not isinstance(self.stop_after, int) or self.stop_after <= 0):
            raise ValueError(f"TrainConfig.stop_after must be a positive int or None; got {self.stop_after!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0; got {self.lr!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"TrainConfig.min_lr_ratio must be in [0, 1]; got {self.min_lr_ratio!r}")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.eps <= 0:
            raise ValueError("TrainConfig: grad_clip and weight_decay must be >= 0 and eps > 0")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"TrainConfig: beta1 and beta2 must be in [0, 1); got {self.beta1}, {self.beta2}")
        if self.model is not None and not isinstance(self.model, (ModelConfig, dict)):
            raise TypeError(f"TrainConfig.model must be a ModelConfig, a dict of its fields or None; got "
                            f"{type(self.model).__name__}")
        if isinstance(self.model, dict):
            unknown = set(self.model) - {f.name for f in dataclasses.fields(ModelConfig)}
            if unknown:
                raise ValueError(f"TrainConfig.model: unknown ModelConfig fields {sorted(unknown)}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-serializable fields (the model as a dict)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if isinstance(self.model, ModelConfig):
            out["model"] = self.model.to_dict()
        return out


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------
_POSITIONAL = ("data",)
_SHORT = {"out_dir": "-o"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parser_for(annotation: str) -> Any:
    """argparse `type` for a dataclass field annotation (a string: the modules use postponed annotations)."""
    base = annotation.replace("Optional[", "").rstrip("]")
    if base == "int":
        return int
    if base == "float":
        return float
    return str


def _add_fields(group: "argparse._ArgumentGroup", cls: Any, skip: tuple[str, ...],
                choices: Dict[str, tuple[str, ...]], defaults_from_cls: bool) -> None:
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        ann = str(f.type)
        default = f.default if defaults_from_cls else None
        doc_default = f" (default: {f.default})" if f.default is not dataclasses.MISSING else ""
        names = [_flag(f.name)] + ([_SHORT[f.name]] if f.name in _SHORT else [])
        if ann in ("bool", "Optional[bool]"):
            group.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                               help=f"{f.name}{doc_default}")
        else:
            group.add_argument(*names, dest=f.name, type=_parser_for(ann), default=default,
                               choices=choices.get(f.name), metavar=None if f.name in choices else f.name.upper(),
                               help=f"{f.name}{doc_default}")


def build_parser(prog: str = "fastlm train-lm") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Train a decoder-only LM on token shards from `fastlm encode`; launch with "
                               "`torchrun --nproc_per_node N` for DDP or FSDP2 on several GPUs / nodes.")
    p.add_argument("data", help="directory of token shards (fastlm encode ... -o DIR)")
    train = p.add_argument_group("training (TrainConfig)")
    _add_fields(train, TrainConfig, skip=("data", "model"),
                choices={"parallel": PARALLEL, "precision": PRECISION, "schedule": SCHEDULES},
                defaults_from_cls=True)
    model = p.add_argument_group("model (ModelConfig; unset fields keep its defaults, vocab_size comes from the "
                                 "data and max_seq_len from --seq-len)")
    _add_fields(model, ModelConfig, skip=(), choices=dict(_MODEL_CHOICES), defaults_from_cls=False)
    return p


def config_from_args(argv: Optional[List[str]] = None, prog: str = "fastlm train-lm") -> TrainConfig:
    """Parse command-line arguments into a TrainConfig (the model as a dict of the ModelConfig flags given)."""
    ns = vars(build_parser(prog).parse_args(argv))
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model = {k: v for k, v in ns.items() if k in model_fields and v is not None}
    train = {k: v for k, v in ns.items() if k not in model_fields}
    if not train.get("out_dir"):
        raise ValueError("train-lm: -o/--out-dir DIR is required (checkpoints and logs go there)")
    return TrainConfig(model=model, **train)
