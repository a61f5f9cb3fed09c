"""Training checkpoints of `fastlm train-lm`: one file, written atomically by rank 0, resumed exactly.

checkpoint.pt (torch.save, loadable with weights_only=True) holds
    version, type         1, "fastlm.train_lm.checkpoint"
    step                  optimizer steps done
    model_config          ModelConfig fields (rebuild the model with load_model)
    model, optimizer      full (unsharded) state dicts keyed by parameter name, whatever the wrapping
    schedule              the LR schedule's parameters (the LR is a function of step)
    sampler               data position: epoch, offset, and the order's identity (n, seed, shuffle)
    rng                   every rank's torch CPU (and CUDA) generator state, in rank order
    tokens, world_size    tokens trained on so far; the world size that wrote it
    data_max_token_id     the largest token id in the data (checked against vocab_size without a rescan)

Written like python/fastlm/_io.py (temp file in the same directory, fsync, rename, fsync of the directory), but
streamed: torch.save goes straight into the temp file, so a large model is not held twice in memory as bytes.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..models.config import ModelConfig
from ..models.decoder import DecoderModel

__all__ = ["CHECKPOINT", "save_checkpoint", "load_checkpoint", "load_model", "rng_state", "set_rng_state"]

CHECKPOINT = "checkpoint.pt"
VERSION = 1
TYPE = "fastlm.train_lm.checkpoint"


def save_checkpoint(path: Union[str, "os.PathLike[str]"], payload: Dict[str, Any]) -> None:
    """Write `payload` (plus version and type) to `path` atomically."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"version": VERSION, "type": TYPE, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load_checkpoint(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Read a checkpoint (CPU tensors). A file that is not one raises ValueError naming it."""
    try:
        ck = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # a torn or foreign file: torch raises RuntimeError, pickle errors, EOFError, ...
        raise ValueError(f"{path}: not a readable fastlm training checkpoint ({type(e).__name__}: {e}); "
                         "delete it or pass resume=False / --no-resume to start over") from None
    if not isinstance(ck, dict) or ck.get("type") != TYPE:
        raise ValueError(f"{path}: not a fastlm training checkpoint (no type {TYPE!r})")
    if ck.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {ck.get('version')!r}; this fastlm reads version {VERSION}")
    return ck


def load_model(path: Union[str, "os.PathLike[str]"]) -> DecoderModel:
    """The trained DecoderModel of a checkpoint (or of an out_dir holding checkpoint.pt), on CPU, eval mode."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT
    ck = load_checkpoint(p)
    cfg = ModelConfig(**{**ck["model_config"], "gradient_checkpointing": False})
    model = DecoderModel(cfg)
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, ck["model"], options=StateDictOptions(full_state_dict=True))
    return model.eval()


def rng_state(device: torch.device) -> Dict[str, Any]:
    """This process's generator states (CPU, and the current CUDA device's)."""
    out: Dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng_state(state: Dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
