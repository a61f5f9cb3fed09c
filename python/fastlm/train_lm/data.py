"""Training data for `fastlm train-lm`: fixed-length windows over the token shards of `fastlm encode`, and the
resumable sampler that hands every rank its part of each global batch.

Dimension legend: N windows in the data, G global batch (windows per optimizer step, all ranks and micro-steps),
M micro-batch (windows per rank per forward/backward), S sequence length (tokens the model sees per window).

A window is S + 1 consecutive tokens of one shard, and windows start every S tokens: the model reads tokens 0..S-1
and predicts tokens 1..S, so consecutive windows share one token and no target is ever skipped. Windows cross
document boundaries (the eot token that `fastlm encode` appends separates them), as GPT-2 style pre-training
does. Rejected alternative: one document per row with padding, which wastes compute on short documents and
needs a loss mask; per-document attention masks (varlen) would need the packed layout in the models.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["ShardData", "GlobalSampler", "rank_rows"]


class ShardData:
    """The windows of the shards in `path` (a directory written by `fastlm encode`), read through numpy.memmap.

    Every window's data is read on demand, so memory stays proportional to a batch, not to the corpus.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], seq_len: int):
        if not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"seq_len must be a positive int; got {seq_len!r}")
        self.path = Path(path)
        self.seq_len = seq_len
        index_path = self.path / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: no token shards here (write them with `fastlm encode FILES "
                                    f"--tokenizer TOK -o {self.path}`)")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            dtype = np.dtype(index["dtype"])
            shards: List[Dict[str, Any]] = list(index["shards"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{index_path}: not a fastlm shard index ({type(e).__name__}: {e})") from None
        if dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
            raise ValueError(f"{index_path}: dtype must be uint16 or uint32, got {dtype}")
        self.index = index
        self.names: List[str] = []
        self.tokens: List[np.ndarray[Any, np.dtype[Any]]] = []
        counts: List[int] = []
        for entry in shards:
            name = str(entry["name"])
            bin_path = self.path / f"{name}.bin"
            n = int(entry["n_tokens"])
            try:
                size = bin_path.stat().st_size
            except OSError:
                raise FileNotFoundError(f"{bin_path}: shard listed in {index_path} is missing") from None
            if size != n * dtype.itemsize:
                raise ValueError(f"{bin_path}: {size} bytes, but {index_path} says {n} {dtype} tokens "
                                 f"({n * dtype.itemsize} bytes); re-run `fastlm encode`")
            self.names.append(name)
            # an empty file cannot be mapped
            self.tokens.append(np.memmap(bin_path, dtype=dtype, mode="r", shape=(n,)) if n else
                               np.zeros(0, dtype=dtype))
            counts.append(max(0, (n - 1) // seq_len))
        self.n_tokens = sum(len(t) for t in self.tokens)
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])  # (n_shards + 1,) first window
        if self.num_windows == 0:
            raise ValueError(f"{self.path}: {self.n_tokens} tokens in {len(shards)} shard(s) give no window of "
                             f"seq_len + 1 = {seq_len + 1} tokens; use a smaller seq_len or more data")

    @property
    def num_windows(self) -> int:
        return int(self._starts[-1])

    def __len__(self) -> int:
        return self.num_windows

    def max_token_id(self) -> int:
        """The largest token id in the data (one pass over the shards, in blocks)."""
        best = 0
        for t in self.tokens:
            for i in range(0, len(t), 1 << 24):
                best = max(best, int(t[i:i + (1 << 24)].max()))
        return best

    def window(self, i: int) -> np.ndarray[Any, np.dtype[Any]]:
        """Window i: (S + 1,) tokens."""
        if not 0 <= i < self.num_windows:
            raise IndexError(f"window {i} out of range 0..{self.num_windows - 1}")
        shard = int(np.searchsorted(self._starts, i, side="right")) - 1
        start = (i - int(self._starts[shard])) * self.seq_len
        return np.asarray(self.tokens[shard][start:start + self.seq_len + 1])

    def batch(self, rows: Tensor) -> Tensor:
        """rows (M,) window indices -> (M, S + 1) int64 tokens."""
        out = np.empty((len(rows), self.seq_len + 1), dtype=np.int64)
        for j, i in enumerate(rows.tolist()):
            out[j] = self.window(i)
        return torch.from_numpy(out)


class GlobalSampler:
    """The order in which windows are used: epoch e visits every window once, in the order of a permutation
    seeded by (seed, e) (or in file order without shuffling). Every rank builds the same order, so the only state
    is (epoch, offset): how many windows of this epoch are already used. A global batch that would run past the
    end of an epoch starts the next one instead (the tail of at most G - 1 windows is dropped), so every step
    sees exactly G windows.

    Rejected alternative: torch's DistributedSampler, which splits each epoch between ranks once (so a run resumed
    with another world size or batch size sees different data) and has no position to save mid-epoch.
    The permutation costs 8 bytes per window per rank (80 MB for 10M windows).
    """

    def __init__(self, n: int, *, seed: int, shuffle: bool):
        if n <= 0:
            raise ValueError("GlobalSampler: no windows")
        self.n, self.seed, self.shuffle = int(n), int(seed), bool(shuffle)
        self.epoch, self.offset = 0, 0
        self._order_epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def _epoch_order(self) -> Tensor:
        if self._order_epoch != self.epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
                self._order = torch.randperm(self.n, generator=g)
            else:
                self._order = torch.arange(self.n)
            self._order_epoch = self.epoch
        return self._order

    def next_batch(self, size: int) -> Tensor:
        """The window indices (G,) of the next global batch; advances the position."""
        if not 0 < size <= self.n:
            raise ValueError(f"a global batch of {size} windows does not fit in the data ({self.n} windows of "
                             "seq_len + 1 tokens); use a smaller batch or seq_len, or more data")
        if self.offset + size > self.n:
            self.epoch, self.offset = self.epoch + 1, 0
        rows = self._epoch_order()[self.offset:self.offset + size]
        self.offset += size
        return rows

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset, "n": self.n, "seed": self.seed,
                "shuffle": int(self.shuffle)}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        for key in ("n", "seed", "shuffle"):
            if int(state[key]) != int(getattr(self, key)):
                raise ValueError(f"the checkpoint's data order does not match this run: {key} was {state[key]}, "
                                 f"now {int(getattr(self, key))} (same data, seq_len, seed and shuffle are needed "
                                 "to resume)")
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])


def rank_rows(batch: Tensor, *, micro_step: int, micro_batch: int, rank: int, world: int) -> Tensor:
    """The rows (M,) of global batch (G,) that `rank` processes in micro-step `micro_step`: micro-step a of
    rank r takes rows (a * world + r) * M ... + M, so one global batch is the same set of windows for any
    split between ranks and accumulation steps."""
    start = (micro_step * world + rank) * micro_batch
    return batch[start:start + micro_batch]
