"""`fastlm train-lm` on one process: data windows, sampler, LR schedule, exact resume, accumulation, CLI, errors.

The shards are written by `fastlm encode` (python/fastlm/shards.py) with a small BPE tokenizer trained on a
shared corpus, as a user would make them.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import data_path  # noqa: E402

from fastlm.models import DecoderModel, ModelConfig  # noqa: E402
from fastlm.train_lm import TrainConfig, load_model, lr_at, main, train_lm  # noqa: E402
from fastlm.train_lm.config import config_from_args  # noqa: E402
from fastlm.train_lm.data import GlobalSampler, ShardData, rank_rows  # noqa: E402

ONE_THREAD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY: Dict[str, Any] = dict(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)


def make_shards(root: Path, n_lines: int = 1500) -> Path:
    """Token shards of the first n_lines tweets, through `fastlm encode`, with a 400-token BPE tokenizer."""
    import fastlm
    from fastlm.shards import encode_files

    lines = data_path("text", "en_tweets_emotion_train.txt").read_text(encoding="utf-8").splitlines()[:n_lines]
    root.mkdir(parents=True, exist_ok=True)
    tok = fastlm.train("bpe", lines, vocab_size=400, pattern="o200k", special_tokens=["<|endoftext|>"],
                       progress=False)
    tok.save(str(root / "tok.json"))
    (root / "a.txt").write_text("\n".join(lines[: n_lines // 2]) + "\n", encoding="utf-8")
    (root / "b.txt").write_text("\n".join(lines[n_lines // 2:]) + "\n", encoding="utf-8")
    encode_files([root / "a.txt", root / "b.txt"], root / "tok.json", root / "shards", progress=False)
    return root / "shards"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: OpenMP threads only contend (a step is ~20x slower with 2 threads on a loaded machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("corpus"))


def cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    base: Dict[str, Any] = dict(data=str(data), out_dir=str(out), model=dict(TINY), seq_len=16, micro_batch_size=4,
                                max_steps=6, warmup_steps=2, lr=1e-2, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def read_log(out: Path) -> list:
    return [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]


def params(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ----------------------------------------------------------------------------------------------------------------
# data and schedule
# ----------------------------------------------------------------------------------------------------------------
def test_windows_are_the_shard_tokens(shards: Path) -> None:
    from fastlm.shards import read_shard

    d = ShardData(shards, 16)
    index = json.loads((shards / "index.json").read_text())
    toks = [np.asarray(read_shard(shards, s["name"])[0]) for s in index["shards"]]
    n0 = (len(toks[0]) - 1) // 16
    assert len(d) == n0 + (len(toks[1]) - 1) // 16
    np.testing.assert_array_equal(d.window(0), toks[0][:17])
    np.testing.assert_array_equal(d.window(n0 - 1), toks[0][(n0 - 1) * 16:(n0 - 1) * 16 + 17])
    np.testing.assert_array_equal(d.window(n0), toks[1][:17])  # windows never straddle two shards
    b = d.batch(torch.tensor([n0, 0]))
    assert b.dtype == torch.int64 and b.shape == (2, 17) and b[1].tolist() == toks[0][:17].tolist()
    assert d.max_token_id() == max(int(t.max()) for t in toks) < 400


def test_sampler_is_deterministic_resumable_and_split_exactly() -> None:
    a = GlobalSampler(50, seed=3, shuffle=True)
    batches = [a.next_batch(12) for _ in range(9)]  # 4 batches per epoch, the tail of 2 dropped
    assert a.epoch == 2 and a.offset == 12
    for e in range(2):
        epoch = torch.cat(batches[4 * e:4 * e + 4])
        assert len(set(epoch.tolist())) == 48  # no window twice in an epoch
    assert not torch.equal(torch.cat(batches[:4]), torch.cat(batches[4:8]))  # a new order each epoch
    b = GlobalSampler(50, seed=3, shuffle=True)
    for _ in range(5):
        b.next_batch(12)
    c = GlobalSampler(50, seed=3, shuffle=True)
    c.load_state_dict(b.state_dict())
    assert all(torch.equal(c.next_batch(12), x) for x in batches[5:])
    with pytest.raises(ValueError, match="seed"):
        GlobalSampler(50, seed=4, shuffle=True).load_state_dict(b.state_dict())
    # every (micro_step, rank) split of a global batch covers it exactly once
    g = batches[0]
    for world, micro in ((1, 12), (2, 6), (3, 2), (4, 3)):
        accum = 12 // (world * micro)
        parts = [rank_rows(g, micro_step=m, micro_batch=micro, rank=r, world=world)
                 for m in range(accum) for r in range(world)]
        assert sorted(torch.cat(parts).tolist()) == sorted(g.tolist())


def test_lr_schedule(tmp_path: Path) -> None:
    c = TrainConfig(data="x", out_dir="y", lr=1.0, warmup_steps=4, max_steps=104, min_lr_ratio=0.1)
    assert [lr_at(s, c) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(54, c) == pytest.approx(0.55)  # half way through the cosine
    assert lr_at(104, c) == pytest.approx(0.1) and lr_at(103, c) > 0.1
    assert lr_at(50, dataclasses.replace(c, schedule="constant")) == 1.0


# ----------------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------------
def test_resume_continues_exactly(shards: Path, tmp_path: Path) -> None:
    # dropout, accumulation and activation checkpointing all on: the RNG state and the sampler position must be
    # restored for the resumed steps to be bit-identical
    model = dict(TINY, dropout=0.1, gradient_checkpointing=True)
    full = train_lm(cfg(shards, tmp_path / "full", model=model, grad_accum=2, micro_batch_size=2))
    assert full.first_step == 0 and full.steps == 6 and len(full.losses) == 6
    part = train_lm(cfg(shards, tmp_path / "part", model=model, grad_accum=2, micro_batch_size=2, stop_after=3))
    assert part.steps == 3 and part.losses == full.losses[:3]
    rest = train_lm(cfg(shards, tmp_path / "part", model=model, grad_accum=2, micro_batch_size=2))
    assert rest.first_step == 3 and rest.steps == 6
    assert rest.losses == full.losses[3:]  # identical, not just close
    assert [r["loss"] for r in read_log(tmp_path / "part")] == full.losses
    assert [r["step"] for r in read_log(tmp_path / "part")] == list(range(1, 7))
    a, b = load_model(tmp_path / "full"), load_model(tmp_path / "part")
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n
    ck_a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    ck_b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert ck_a["sampler"] == ck_b["sampler"] and ck_a["step"] == ck_b["step"] == 6
    for k, st in ck_a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], ck_b["optimizer"]["state"][k]["exp_avg_sq"]), k
    # resuming at max_steps does nothing
    again = train_lm(cfg(shards, tmp_path / "part", model=model, grad_accum=2, micro_batch_size=2))
    assert again.first_step == again.steps == 6 and again.losses == []


def test_accumulation_is_the_same_global_batch(shards: Path, tmp_path: Path) -> None:
    one = train_lm(cfg(shards, tmp_path / "one", micro_batch_size=4, grad_accum=1))
    acc = train_lm(cfg(shards, tmp_path / "acc", micro_batch_size=1, grad_accum=4))
    np.testing.assert_allclose(acc.losses, one.losses, rtol=1e-5)
    assert one.losses[-1] < one.losses[0]  # it learns
    a, b = load_model(tmp_path / "one"), load_model(tmp_path / "acc")
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(q, p, atol=2e-5, rtol=1e-4, msg=n)


def test_outputs_log_config_and_model(shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = train_lm(cfg(shards, out, max_steps=3, save_every=2, precision="bf16"))
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3]
    assert {"loss", "lr", "grad_norm", "tokens", "elapsed_s", "tokens_per_s"} <= set(log[0])
    assert log[-1]["tokens"] == 3 * 4 * 16 and all(math.isfinite(r["loss"]) for r in log)
    conf = json.loads((out / "config.json").read_text())
    assert conf["train"]["model"]["vocab_size"] == 448  # max id 399 + 1, rounded up to a multiple of 64
    assert conf["train"]["model"]["max_seq_len"] == 16 and conf["world_size"] == 1
    model = load_model(out)
    assert isinstance(model, DecoderModel) and model.cfg.d_model == 32
    assert res.model is not None
    for (n, p), q in zip(res.model.named_parameters(), model.parameters()):
        assert torch.equal(p.detach(), q), n
    assert not list(out.glob(".*.tmp"))  # no temp file left behind


def test_explicit_model_config_and_mismatch_on_resume(shards: Path, tmp_path: Path) -> None:
    mc = ModelConfig(vocab_size=512, max_seq_len=32, **TINY)
    res = train_lm(cfg(shards, tmp_path / "r", model=mc, max_steps=2))
    assert res.model_config == mc
    with pytest.raises(ValueError, match="d_model: 32 -> 48"):
        train_lm(cfg(shards, tmp_path / "r", model=mc.replace(d_model=48), max_steps=3))
    # gradient checkpointing may change between runs (same weights)
    train_lm(cfg(shards, tmp_path / "r", model=mc.replace(gradient_checkpointing=True), max_steps=3))


def test_user_errors_are_clear(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fastlm encode"):
        train_lm(cfg(tmp_path / "nowhere", tmp_path / "o"))
    with pytest.raises(ValueError, match="seq_len"):
        train_lm(cfg(shards, tmp_path / "o", seq_len=10 ** 7))
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        train_lm(cfg(shards, tmp_path / "o", model=dict(TINY, vocab_size=100)))
    with pytest.raises(ValueError, match="max_seq_len"):
        train_lm(cfg(shards, tmp_path / "o", model=dict(TINY, max_seq_len=8)))
    with pytest.raises(ValueError, match="global batch"):
        train_lm(cfg(shards, tmp_path / "o", micro_batch_size=10 ** 6))
    for bad in (dict(parallel="tp"), dict(precision="fp8"), dict(grad_accum=0), dict(lr=0.0),
                dict(model={"d_modle": 3})):
        with pytest.raises(ValueError):
            cfg(shards, tmp_path / "o", **bad)
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "checkpoint.pt").write_bytes(b"PK\x03\x04 half a file")
    with pytest.raises(ValueError, match="checkpoint.pt: not a readable"):
        train_lm(cfg(shards, torn))
    train_lm(cfg(shards, torn, resume=False, max_steps=1))  # --no-resume starts over


# ----------------------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------------------
def test_cli_reaches_every_option() -> None:
    c = config_from_args(["shards", "-o", "run", "--parallel", "fsdp", "--precision", "bf16", "--grad-accum", "4",
                          "--lr", "1e-3", "--warmup-steps", "10", "--schedule", "constant", "--no-shuffle",
                          "--d-model", "256", "--n-kv-heads", "2", "--gradient-checkpointing", "--position",
                          "learned", "--rotary-dim", "16", "--no-tie-embeddings", "--stop-after", "7"])
    assert (c.data, c.out_dir, c.parallel, c.precision, c.grad_accum, c.lr, c.warmup_steps, c.schedule,
            c.shuffle, c.stop_after) == ("shards", "run", "fsdp", "bf16", 4, 1e-3, 10, "constant", False, 7)
    assert c.model == {"d_model": 256, "n_kv_heads": 2, "gradient_checkpointing": True, "position": "learned",
                       "rotary_dim": 16, "tie_embeddings": False}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "model"}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    help_text = subprocess.run([sys.executable, "-m", "fastlm.cli", "train-lm", "--help"], capture_output=True,
                               text=True, timeout=300, env=ONE_THREAD_ENV).stdout
    for name in train_fields | model_fields:
        assert "--" + name.replace("_", "-") in help_text, name


def test_cli_trains_and_fails_in_one_line(shards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastlm.cli import main as fastlm_main

    args = [str(shards), "-o", str(tmp_path / "cli"), "--d-model", "32", "--n-layers", "1", "--n-heads", "2",
            "--d-ff", "64", "--seq-len", "16", "--micro-batch-size", "2", "--max-steps", "2", "--no-progress"]
    assert fastlm_main(["train-lm", *args]) == 0
    assert "trained steps 1..2" in capsys.readouterr().out
    assert len(read_log(tmp_path / "cli")) == 2
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastlm train-lm: error:") and len(err.splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "fastlm.train_lm", *args[:3], "--max-steps", "3", "--no-progress",
                        "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64", "--seq-len", "16",
                        "--micro-batch-size", "2"], capture_output=True, text=True, timeout=600,
                       env=ONE_THREAD_ENV)
    assert r.returncode == 0, r.stderr
    assert "trained steps 3..3" in r.stdout  # resumed the CLI run above
