"""fastlm under torch.distributed: 2 CPU processes (gloo backend) spawned by the test.

One spawn runs every scenario, because process start-up and the distributed imports cost far more than the
tiny models (the tests then check its results):
  1. `fastlm train-lm` (the CLI entry) in a torchrun-style environment (RANK / WORLD_SIZE / MASTER_ADDR,
     env:// rendezvous), parallel=auto -> DDP;
  2. train_lm with FSDP2: uninterrupted, stopped + resumed, and with bf16 autocast + activation checkpointing;
  3. one optimizer step of DDP and FSDP2 (fully_shard per block) over an encoder (MLM), a decoder and an
     encoder-decoder model, compared on rank 0 with the same step on one process.
The same global batch on one process is the oracle: same losses, same parameters, within fp32 tolerance.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from test_train_lm import TINY, make_shards  # noqa: E402

from fastlm.models import DecoderModel, EncoderDecoderModel, EncoderModel, ModelConfig  # noqa: E402
from fastlm.models.objectives import IGNORE, clm_loss, shift_right, token_cross_entropy  # noqa: E402
from fastlm.train_lm import TrainConfig, fully_shard_blocks, load_model, main, train_lm  # noqa: E402

WORLD = 2
STEPS = 3
SPAWN_TIMEOUT_S = 900


# AdamW's eps at 1e-6 (not 1e-8) for the comparisons: a gradient component that is ~0 up to rounding (a sum
# that cancels) is divided by its own magnitude + eps, so with eps = 1e-8 the summation order of 1 vs 2 ranks
# can move such a component by ~lr / 100; with 1e-6 the same rounding noise stays below fp32 tolerance.
def _train_cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    base: Dict[str, Any] = dict(data=str(data), out_dir=str(out), model=dict(TINY), seq_len=16, micro_batch_size=2,
                                max_steps=STEPS, warmup_steps=1, lr=1e-2, eps=1e-6, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _cli_args(data: Path, out: Path) -> List[str]:
    return [str(data), "-o", str(out), "--d-model", "32", "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2",
            "--d-ff", "64", "--seq-len", "16", "--micro-batch-size", "1", "--grad-accum", "2",
            "--max-steps", str(STEPS), "--warmup-steps", "1", "--lr", "1e-2", "--eps", "1e-6", "--no-progress"]


# ----------------------------------------------------------------------------------------------------------------
# model-level scenario: one step of DDP / FSDP2 against the same step on one process
# ----------------------------------------------------------------------------------------------------------------
def _model_cases() -> Dict[str, Tuple[Callable[[], torch.nn.Module], Callable[..., torch.Tensor]]]:
    def decoder() -> torch.nn.Module:
        return DecoderModel(ModelConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64,
                                        max_seq_len=32, gradient_checkpointing=True))

    def dec_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        return clm_loss(m(ids), ids)

    def encoder() -> torch.nn.Module:  # BERT-like: learned positions, post-norm, GELU, token types, MLM head
        return EncoderModel(ModelConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=32,
                                        position="learned", norm="layer", norm_position="post", activation="gelu",
                                        type_vocab_size=2, embedding_norm=True, bias=True)).for_masked_lm()

    def enc_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        # every 4th token masked (token 1) and predicted: the same number of targets in every row, so the mean
        # over each rank's rows averages to the mean over the global batch
        picked = (torch.arange(ids.shape[1]) % 4 == 0)[None].expand_as(ids)
        labels = ids.masked_fill(~picked, IGNORE)
        return token_cross_entropy(m(ids.masked_fill(picked, 1)), labels)

    def encdec() -> torch.nn.Module:  # T5-like: relative position bias, RMSNorm, ReLU, 1 decoder layer
        return EncoderDecoderModel(ModelConfig(vocab_size=61, d_model=32, n_layers=2, n_decoder_layers=1,
                                               n_heads=4, d_ff=64, max_seq_len=32, position="relative",
                                               activation="relu", gradient_checkpointing=True))

    def encdec_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        src, tgt = ids[:, :10], ids[:, 10:]
        return token_cross_entropy(m(src, None, shift_right(tgt, 0, 0)), tgt)

    return {"decoder": (decoder, dec_loss), "encoder": (encoder, enc_loss), "encdec": (encdec, encdec_loss)}


def _full(p: torch.Tensor) -> torch.Tensor:
    full = getattr(p, "full_tensor", None)  # FSDP2 parameters are DTensors
    return (full() if full is not None else p).detach()


def _model_scenario(rank: int) -> Dict[str, Any]:
    from torch.distributed.tensor import DTensor

    report: Dict[str, Any] = {}
    for name, (build, loss_fn) in _model_cases().items():
        ids = torch.randint(2, 61, (2 * WORLD, 16), generator=torch.Generator().manual_seed(5))  # global batch
        torch.manual_seed(0)
        ref = build()
        ref.train()
        init = {n: p.detach().clone() for n, p in ref.named_parameters()}
        ref_loss = loss_fn(ref, ids)
        torch.autograd.backward(ref_loss)
        torch.optim.SGD(ref.parameters(), lr=0.5).step()
        ref_params = {n: p.detach() for n, p in ref.named_parameters()}
        ref_update = torch.cat([(p - init[n]).flatten() for n, p in ref_params.items()])  # = -lr * gradient
        report[f"{name}/update_norm"] = float(ref_update.norm())
        for mode in ("ddp", "fsdp"):
            torch.manual_seed(0)
            model = build()
            model.train()
            wrapped = (torch.nn.parallel.DistributedDataParallel(model) if mode == "ddp"
                       else fully_shard_blocks(model))
            opt = torch.optim.SGD(wrapped.parameters(), lr=0.5)
            loss = loss_fn(wrapped, ids[2 * rank:2 * rank + 2])  # this rank's half of the global batch
            torch.autograd.backward(loss)
            opt.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            key = f"{name}/{mode}"
            report[key + "/loss"] = [mean.item() / WORLD, ref_loss.item()]
            after = {n.removeprefix("module."): _full(p) for n, p in wrapped.named_parameters()}  # DDP's prefix
            update = torch.cat([(after[n] - init[n]).flatten() for n in ref_params])
            # the whole update (every parameter's gradient) relative to the one-process update
            report[key + "/update_err"] = float((update - ref_update).norm() / ref_update.norm())
            report[key + "/n_params"] = [len(after), len(ref_params)]
            if mode == "fsdp":
                blk = [(n, p) for n, p in wrapped.named_parameters() if ".blocks." in n]
                report[key + "/sharded"] = all(isinstance(p, DTensor) and p.to_local().shape[0] < p.shape[0]
                                               for _, p in blk)
    return report


# ----------------------------------------------------------------------------------------------------------------
# the spawned worker
# ----------------------------------------------------------------------------------------------------------------
def _worker(rank: int, port: int, data: str, root: str) -> None:
    torch.set_num_threads(1)
    r = Path(root)
    # 1. the CLI as torchrun launches it: env:// rendezvous; train_lm creates and destroys the group
    env = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
               LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(WORLD))
    os.environ.update(env)
    try:
        assert main(_cli_args(Path(data), r / "ddp_cli")) == 0, "fastlm train-lm failed under torchrun-style env"
    finally:
        for k in env:
            os.environ.pop(k, None)
    assert not dist.is_initialized()
    # 2. + 3. inside a program that owns its process group
    dist.init_process_group("gloo", init_method=f"file://{r / 'rendezvous'}", rank=rank, world_size=WORLD)
    try:
        fsdp = train_lm(_train_cfg(Path(data), r / "fsdp", parallel="fsdp"))
        part = train_lm(_train_cfg(Path(data), r / "fsdp_resumed", parallel="fsdp", stop_after=2))
        rest = train_lm(_train_cfg(Path(data), r / "fsdp_resumed", parallel="fsdp"))
        mixed = train_lm(_train_cfg(Path(data), r / "fsdp_bf16", parallel="fsdp", precision="bf16",
                                    model=dict(TINY, gradient_checkpointing=True), max_steps=2))
        models = _model_scenario(rank)
        if rank == 0:
            (r / "report.json").write_text(json.dumps({
                "fsdp": fsdp.losses, "part": part.losses, "rest": rest.losses, "rest_first": rest.first_step,
                "bf16": mixed.losses, "models": models}))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def spawned(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    import torch.multiprocessing as mp

    data = make_shards(tmp_path_factory.mktemp("corpus"))
    root = tmp_path_factory.mktemp("dist")
    ctx = mp.spawn(_worker, args=(_free_port(), str(data), str(root)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + SPAWN_TIMEOUT_S  # a deadlock must fail the test, not hang the suite
    while not ctx.join(timeout=5):  # join() re-raises a worker's exception (and stops the other worker)
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the distributed workers did not finish within {SPAWN_TIMEOUT_S} s")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # the single-process oracles: the same global batches (2 ranks x micro 2)
        single = train_lm(_train_cfg(data, root / "single", micro_batch_size=4))
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "single": single, "report": json.loads((root / "report.json").read_text())}


def _log_losses(out: Path) -> List[float]:
    return [json.loads(l)["loss"] for l in (out / "log.jsonl").read_text().splitlines()]


def _assert_same_params(a: torch.nn.Module, b: torch.nn.Module, atol: float) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert pa.keys() == pb.keys()
    for n in pa:
        torch.testing.assert_close(pb[n], pa[n], atol=atol, rtol=1e-4, msg=n)


def test_ddp_training_matches_one_process(spawned: Dict[str, Any]) -> None:
    root, single = spawned["root"], spawned["single"]
    assert len(single.losses) == STEPS
    ddp = _log_losses(root / "ddp_cli")  # 2 ranks x micro 1 x accumulation 2
    np.testing.assert_allclose(ddp, single.losses, rtol=1e-5)
    conf = json.loads((root / "ddp_cli" / "config.json").read_text())
    assert conf["world_size"] == WORLD and conf["train"]["parallel"] == "auto"
    _assert_same_params(load_model(root / "single"), load_model(root / "ddp_cli"), atol=2e-5)


def test_fsdp2_training_matches_one_process(spawned: Dict[str, Any]) -> None:
    root, single, rep = spawned["root"], spawned["single"], spawned["report"]
    np.testing.assert_allclose(rep["fsdp"], single.losses, rtol=1e-5)
    _assert_same_params(load_model(root / "single"), load_model(root / "fsdp"), atol=2e-5)


def test_fsdp2_resume_continues_exactly(spawned: Dict[str, Any]) -> None:
    root, rep = spawned["root"], spawned["report"]
    assert rep["part"] == rep["fsdp"][:2] and rep["rest_first"] == 2
    assert rep["rest"] == rep["fsdp"][2:]  # identical after resuming from the sharded run's checkpoint
    _assert_same_params(load_model(root / "fsdp"), load_model(root / "fsdp_resumed"), atol=0.0)


def test_fsdp2_with_bf16_autocast_and_checkpointing(spawned: Dict[str, Any]) -> None:
    rep = spawned["report"]
    assert len(rep["bf16"]) == 2 and all(np.isfinite(rep["bf16"]))
    # bf16 rounding changes the loss a little, not a lot
    np.testing.assert_allclose(rep["bf16"][0], rep["fsdp"][0], rtol=2e-2)


@pytest.mark.parametrize("name", ["decoder", "encoder", "encdec"])
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_models_step_like_one_process(spawned: Dict[str, Any], name: str, mode: str) -> None:
    rep = spawned["report"]["models"]
    key = f"{name}/{mode}"
    dist_loss, ref_loss = rep[key + "/loss"]
    assert dist_loss == pytest.approx(ref_loss, rel=1e-5)
    n_seen, n_ref = rep[key + "/n_params"]
    assert n_seen == n_ref  # every parameter compared (tied ones once)
    assert rep[f"{name}/update_norm"] > 1e-2  # a real step
    assert rep[key + "/update_err"] < 1e-5
    if mode == "fsdp":
        assert rep[key + "/sharded"], "block parameters must be resharded after forward / backward"


def test_fully_shard_blocks_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="no fastlm transformer blocks"):
        fully_shard_blocks(torch.nn.Linear(2, 2))
