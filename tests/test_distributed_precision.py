"""Mixed precision and activation checkpointing, the two memory levers of large-model training (one process).

- torch.autocast("cpu", bfloat16) through the attention op and the three model kinds: q/k/v cast together,
  RoPE tables and LSE kept float32, gradients float32 and close to the float32 ones.
- gradient checkpointing (non-reentrant, per block) gives the same gradients as plain blocks, with dropout on,
  while keeping far fewer activations.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import pytest

torch = pytest.importorskip("torch")

import fastlm  # noqa: E402
from fastlm import ops  # noqa: E402
from fastlm.models import (DecoderModel, EncoderDecoderModel, EncoderModel, ModelConfig, generate,  # noqa: E402
                           set_gradient_checkpointing)
from fastlm.models.objectives import IGNORE, clm_loss, shift_right, token_cross_entropy  # noqa: E402

BF16 = torch.bfloat16


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cases(dropout: float) -> Dict[str, Tuple[Callable[..., torch.nn.Module], Callable[..., torch.Tensor]]]:
    common: Dict[str, Any] = dict(vocab_size=67, d_model=32, n_heads=4, d_ff=64, max_seq_len=32, dropout=dropout)

    def dec(**kw: Any) -> torch.nn.Module:
        return DecoderModel(ModelConfig(n_layers=3, n_kv_heads=2, **common, **kw))

    def enc(**kw: Any) -> torch.nn.Module:
        return EncoderModel(ModelConfig(n_layers=2, position="learned", norm="layer", norm_position="post",
                                        activation="gelu", bias=True, embedding_norm=True, **common,
                                        **kw)).for_masked_lm()

    def encdec(**kw: Any) -> torch.nn.Module:  # T5-style relative bias (its own attention path) + rope decoder
        return EncoderDecoderModel(ModelConfig(n_layers=2, n_decoder_layers=2, position="relative",
                                               activation="geglu", **common, **kw))

    def dec_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        return clm_loss(m(ids), ids)

    def enc_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        picked = ids % 3 == 0
        mask = torch.ones_like(ids)
        mask[0, -3:] = 0  # some padding, so the key-padding mask is exercised
        return token_cross_entropy(m(ids.masked_fill(picked, 1), mask), ids.masked_fill(~picked, IGNORE))

    def encdec_loss(m: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
        src, tgt = ids[:, :12], ids[:, 12:]
        return token_cross_entropy(m(src, None, shift_right(tgt, 0, 0)), tgt)

    return {"decoder": (dec, dec_loss), "encoder": (enc, enc_loss), "encdec": (encdec, encdec_loss)}


IDS = torch.randint(2, 67, (3, 24), generator=torch.Generator().manual_seed(1))


def _grads(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], seed: int = 7
           ) -> Tuple[float, Dict[str, torch.Tensor], int]:
    """(loss, gradients, bytes of tensors kept for backward by the outer graph)."""
    model.zero_grad(set_to_none=True)
    kept: List[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept.append(t.numel() * t.element_size())
        return t

    torch.manual_seed(seed)  # the same dropout masks
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(model, IDS)
    torch.autograd.backward(loss)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads, sum(kept)


# ----------------------------------------------------------------------------------------------------------------
# activation checkpointing
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["decoder", "encoder", "encdec"])
def test_checkpointed_blocks_give_the_same_gradients(name: str) -> None:
    build, loss_fn = _cases(dropout=0.1)[name]
    torch.manual_seed(0)
    model = build()
    model.train()
    loss, plain, kept_plain = _grads(model, loss_fn)
    set_gradient_checkpointing(model, True)
    loss_ck, ck, kept_ck = _grads(model, loss_fn)
    assert loss_ck == loss
    assert plain.keys() == ck.keys() and len(plain) == len(list(model.parameters()))
    for n in plain:
        torch.testing.assert_close(ck[n], plain[n], atol=1e-6, rtol=1e-5, msg=n)
    assert kept_ck < 0.5 * kept_plain, (kept_ck, kept_plain)  # the blocks' activations are not kept
    # the config switch builds the same thing; eval mode and no_grad never recompute
    torch.manual_seed(0)
    via_cfg = build(gradient_checkpointing=True)
    via_cfg.train()
    _, ck2, kept2 = _grads(via_cfg, loss_fn)
    assert kept2 == kept_ck and all(torch.equal(ck2[n], ck[n]) for n in ck)
    set_gradient_checkpointing(model, False)
    _, again, kept_again = _grads(model, loss_fn)
    assert kept_again == kept_plain and all(torch.equal(again[n], plain[n]) for n in plain)


def test_set_gradient_checkpointing_needs_a_fastlm_model() -> None:
    with pytest.raises(TypeError, match="no fastlm model"):
        set_gradient_checkpointing(torch.nn.Linear(2, 2))


# ----------------------------------------------------------------------------------------------------------------
# autocast
# ----------------------------------------------------------------------------------------------------------------
def test_attention_op_under_autocast() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 64, 4, 64, generator=g, requires_grad=True)
    k = torch.randn(2, 64, 2, 64, generator=g, requires_grad=True)
    v = torch.randn(2, 64, 2, 64, generator=g, requires_grad=True)
    rope = ops.RotaryEmbedding(64)
    with torch.autocast("cpu", dtype=BF16):
        out, lse = fastlm.attention(q, k, v, causal=True, rope=rope, seqlen_offsets=20000, return_lse=True)
        # mixed input dtypes are cast together (outside autocast they are an error)
        mixed = fastlm.attention(q, k.detach().to(BF16), v.detach().to(torch.float16), causal=True)
        direct, direct_lse = torch.ops.fastlm.attn_fwd(q, k, v, None, None, None, None, None, None, None, None, 64,
                                                       64, True, 0.125, False, 1)
    assert out.dtype == BF16 and lse.dtype == torch.float32 and mixed.dtype == BF16
    assert direct.dtype == BF16 and direct_lse.dtype == torch.float32
    with pytest.raises(ValueError, match="dtype"):
        fastlm.attention(q, k.detach().to(BF16), v, causal=True)
    # Accuracy: the exact answer for the bf16-rounded inputs, rounded once to bf16. With the RoPE tables cast to
    # bf16 (what a cast-every-input autocast rule does) about 40% of these outputs differ at position 20000.
    exact = fastlm.attention(*(t.detach().to(BF16).double() for t in (q, k, v)), causal=True, rope=rope,
                             seqlen_offsets=20000).to(BF16)
    assert (out != exact).float().mean().item() < 0.01
    torch.autograd.backward(out.float().sum())
    assert q.grad is not None and q.grad.dtype == torch.float32 and k.grad is not None
    assert bool(torch.isfinite(q.grad).all()) and float(q.grad.abs().sum()) > 0
    # float64 is not an autocast type: it stays float64
    with torch.autocast("cpu", dtype=BF16):
        assert fastlm.attention(q.detach().double(), k.detach().double(), v.detach().double()).dtype == torch.float64


def test_half_inputs_are_computed_in_float32_on_cpu() -> None:
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 40, 2, 32, generator=g).to(torch.float16) for _ in range(3))
    out = fastlm.attention(q, k, v, causal=True)
    exact = fastlm.attention(q.double(), k.double(), v.double(), causal=True).to(torch.float16)
    assert out.dtype == torch.float16 and (out != exact).float().mean().item() < 0.01


@pytest.mark.parametrize("name", ["decoder", "encoder", "encdec"])
def test_models_train_under_cpu_autocast(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, loss_fn = _cases(dropout=0.0)[name]
    torch.manual_seed(0)
    model = build()
    model.train()
    _, ref, _ = _grads(model, loss_fn)
    seen: List[Tuple[torch.dtype, torch.dtype]] = []
    real = ops.attention

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: Any) -> Any:
        out = real(q, k, v, **kw)
        seen.append((q.dtype, out.dtype))
        return out

    monkeypatch.setattr(ops, "attention", spy)
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=BF16):
        logits = model(IDS) if name != "encdec" else model(IDS[:, :12], None, IDS[:, 12:])
        loss = loss_fn(model, IDS)
    assert logits.dtype == BF16 and loss.dtype == torch.float32 and bool(torch.isfinite(loss))
    torch.autograd.backward(loss)
    if name != "encdec":  # T5's relative bias takes the plain PyTorch path, not the fused op
        assert seen and all(out == BF16 for _, out in seen)
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32 and bool(torch.isfinite(p.grad).all()), n
    flat_ref = torch.cat([ref[n].flatten() for n, _ in model.named_parameters()])
    flat = torch.cat([p.grad.flatten() for _, p in model.named_parameters() if p.grad is not None])
    cos = torch.nn.functional.cosine_similarity(flat, flat_ref, dim=0).item()
    assert cos > 0.99, cos  # bf16 rounding, not a different gradient


@pytest.mark.parametrize("name", ["decoder", "encdec"])
def test_generation_under_autocast_uses_a_bf16_cache(name: str) -> None:
    build, _ = _cases(dropout=0.0)[name]
    torch.manual_seed(0)
    model = build().eval()
    prompt = IDS[:2, :6]
    with torch.autocast("cpu", dtype=BF16):
        cache = model.new_cache(2, 16)
        out = generate(model, prompt, max_new_tokens=5)
    assert cache.layers[0].k.dtype == BF16
    assert model.new_cache(2, 16).layers[0].k.dtype == torch.float32  # outside autocast: the weights' dtype
    assert out.shape[0] == 2 and out.shape[1] == (6 + 5 if name == "decoder" else 1 + 5)
    assert int(out.max()) < 67
    # a float32 cache under autocast: the step's inputs follow the cache
    q = torch.randn(1, 1, 4, 8)
    kc, vc = torch.zeros(1, 4, 2, 8), torch.zeros(1, 4, 2, 8)
    with torch.autocast("cpu", dtype=BF16):
        o = ops.attention_with_kvcache(q.to(BF16), kc, vc, k_new=torch.randn(1, 1, 2, 8).to(BF16),
                                       v_new=torch.ones(1, 1, 2, 8).to(BF16), cache_seqlens=0)
    assert o.dtype == torch.float32 and torch.equal(vc[0, 0], torch.ones(2, 8))
