"""The Triton kernels compiled for a real GPU: bf16 included, larger shapes, torch.compile on CUDA.
Every test here needs CUDA and is skipped (with that reason) without it. Shapes: B, S, H, D as elsewhere.

On a GPU session: `python -m pytest -q -n 8 -p gpuboot tests/test_attention_gpu.py` with bench/gpu on
PYTHONPATH (bench/gpu_session.sh does it), under FASTLM_ATTN_TUNE=0 so each variant compiles once; the
autotuner's own path has its test below."""
import pytest

torch = pytest.importorskip("torch")
import fastlm  # noqa: E402
from fastlm.kernels import reference as ref  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for the Triton kernels")]


def _err(a, b):
    return (a.double() - b.double()).abs().max().item()


def _run(fn, leaves, do):
    leaves = [t.detach().requires_grad_() for t in leaves]  # no clone: it would make strided views dense
    out, lse = fn(*leaves)
    return [out, lse] + list(torch.autograd.grad(out, leaves, do.to(out.dtype)))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("B,Sq,Sk,H,Hkv,D,causal", [
    (2, 1024, 1024, 8, 8, 128, True), (1, 513, 2049, 8, 2, 96, True), (3, 777, 300, 4, 1, 160, False),
    (1, 2048, 2048, 4, 4, 256, True), (2, 255, 255, 16, 4, 64, False), (1, 100, 100, 4, 4, 80, True),
    (1, 700, 650, 4, 2, 192, True)])
@pytest.mark.parametrize("rope", [None, "half"])
def test_gpu_vs_reference(dtype, B, Sq, Sk, H, Hkv, D, causal, rope):
    torch.manual_seed(0)
    q = torch.randn(B, Sq, H, D, device="cuda", dtype=dtype)
    k, v = (torch.randn(B, Sk, Hkv, D, device="cuda", dtype=dtype) for _ in range(2))
    do = torch.randn(B, Sq, H, D, device="cuda")
    rot = fastlm.RotaryEmbedding(D) if rope else None
    kw = dict(causal=causal, rope=rot, seqlen_offsets=3)
    got = _run(lambda a, b, c: fastlm.attention(a, b, c, return_lse=True, **kw), (q, k, v), do)

    def reference(a, b, c):
        rt = None
        if rot is not None:
            cos, sin = rot.tables(Sk + Sq + 3, "cuda")
            rt = (cos.to(a.dtype) if a.dtype == torch.float64 else cos, sin.to(a.dtype) if a.dtype == torch.float64
                  else sin, rot.interleaved)
        off = torch.full((B,), 3, device="cuda")
        return ref.attention(a, b, c, causal=causal, rope=rt, rope_q_offsets=off + Sk - Sq if rt else None,
                             rope_k_offsets=off if rt else None)

    low = _run(reference, (q, k, v), do)
    exact = _run(reference, (q.double(), k.double(), v.double()), do)
    for name, a, b, c in zip(("out", "lse", "dq", "dk", "dv"), got, low, exact):
        fin = torch.isfinite(c)
        assert not torch.isnan(a).any(), name
        assert _err(a[fin], c[fin]) <= 2 * _err(b[fin], c[fin]) + 1e-3, name


def test_gpu_deterministic_backward():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 1000, 8, 64, device="cuda", dtype=torch.float16, requires_grad=True)
               for _ in range(3))
    g1 = torch.autograd.grad(fastlm.attention(q, k, v, causal=True).sum(), (q, k, v))
    g2 = torch.autograd.grad(fastlm.attention(q, k, v, causal=True, deterministic=True).sum(), (q, k, v))
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)


def test_gpu_split_kv_decoding_matches_unsplit():
    torch.manual_seed(2)
    kc, vc = (torch.randn(2, 8192, 2, 128, device="cuda", dtype=torch.float16) for _ in range(2))
    q = torch.randn(2, 1, 8, 128, device="cuda", dtype=torch.float16)
    lens = torch.tensor([5000, 8192], device="cuda", dtype=torch.int32)
    a = fastlm.attention_with_kvcache(q, kc, vc, cache_seqlens=lens, num_splits=1)
    b = fastlm.attention_with_kvcache(q, kc, vc, cache_seqlens=lens, num_splits=16)
    assert _err(a, b) < 2e-3


def test_gpu_torch_compile_fullgraph():
    from test_attention import _TinyBlock

    m = _TinyBlock(dim=256, heads=4, kv_heads=2).cuda().half()
    x = torch.randn(2, 300, 256, device="cuda", dtype=torch.float16)
    got = torch.compile(m, fullgraph=True)(x)
    assert _err(got, m(x)) < 1e-2


def _check_vs_reference(got, fn_ref, leaves, do, atol=1e-3):
    low = _run(fn_ref, leaves, do)
    exact = _run(fn_ref, [t.double() for t in leaves], do)
    for name, a, b, c in zip(("out", "lse", "dq", "dk", "dv"), got, low, exact):
        fin = torch.isfinite(c)
        assert torch.equal(torch.isfinite(a), fin), name
        assert _err(a[fin], c[fin]) <= 2 * _err(b[fin], c[fin]) + atol, name


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gpu_varlen_and_padding_mask(dtype):
    torch.manual_seed(3)
    lens_q, lens_k = [1, 300, 0, 1025, 77], [64, 300, 5, 1025, 2000]
    cu_q = torch.tensor([0] + lens_q, device="cuda").cumsum(0).to(torch.int32)
    cu_k = torch.tensor([0] + lens_k, device="cuda").cumsum(0).to(torch.int32)
    q = torch.randn(int(cu_q[-1]), 8, 128, device="cuda", dtype=dtype)
    k, v = (torch.randn(int(cu_k[-1]), 2, 128, device="cuda", dtype=dtype) for _ in range(2))
    do = torch.randn(q.shape, device="cuda")
    kw = dict(causal=True, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, max_seqlen_q=max(lens_q), max_seqlen_k=max(lens_k))
    got = _run(lambda a, b, c: fastlm.attention(a, b, c, return_lse=True, **kw), (q, k, v), do)
    _check_vs_reference(got, lambda a, b, c: ref.attention(a, b, c, causal=True, cu_seqlens_q=cu_q,
                                                           cu_seqlens_k=cu_k), (q, k, v), do)
    # key padding: batch row 1 masks every key (output 0, grads 0, LSE -inf), row 0 masks a ragged tail
    B, Sq, Sk = 3, 600, 900
    q = torch.randn(B, Sq, 4, 64, device="cuda", dtype=dtype)
    k, v = (torch.randn(B, Sk, 4, 64, device="cuda", dtype=dtype) for _ in range(2))
    kpm = torch.ones(B, Sk, dtype=torch.bool, device="cuda")
    kpm[0, 555:] = False
    kpm[1] = False
    do = torch.randn(q.shape, device="cuda")
    got = _run(lambda a, b, c: fastlm.attention(a, b, c, causal=False, key_padding_mask=kpm, return_lse=True),
               (q, k, v), do)
    assert torch.all(got[0][1] == 0) and torch.all(torch.isneginf(got[1][1])) and torch.all(got[2][1] == 0)
    _check_vs_reference(got, lambda a, b, c: ref.attention(a, b, c, key_padding_mask=kpm), (q, k, v), do)


def test_gpu_rope_prepass_equals_rope_in_tile_loop(monkeypatch):
    torch.manual_seed(4)
    q = torch.randn(2, 1000, 8, 128, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(2, 1000, 2, 128, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    do = torch.randn(q.shape, device="cuda")
    for rot in (fastlm.RotaryEmbedding(128), fastlm.RotaryEmbedding(64, interleaved=True)):
        kw = dict(causal=True, rope=rot, seqlen_offsets=torch.tensor([0, 4000], device="cuda"))
        monkeypatch.setenv("FASTLM_ATTN_ROPE_K", "prepass")
        a = _run(lambda x, y, z: fastlm.attention(x, y, z, return_lse=True, **kw), (q, k, v), do)
        monkeypatch.setenv("FASTLM_ATTN_ROPE_K", "tile")
        b = _run(lambda x, y, z: fastlm.attention(x, y, z, return_lse=True, **kw), (q, k, v), do)
        for name, x, y in zip(("out", "lse", "dq", "dk", "dv"), a, b):
            assert _err(x, y) <= 2e-2 * max(1.0, y.abs().max().item()), name


def test_gpu_autotune_path(monkeypatch):
    """The autotuner (FASTLM_ATTN_TUNE=1, the default outside a GPU session) picks a config and agrees with the
    built-in blocks."""
    monkeypatch.delenv("FASTLM_ATTN_CONFIGS", raising=False)
    torch.manual_seed(5)
    q, k, v = (torch.randn(2, 1500, 4, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    do = torch.randn(q.shape, device="cuda")
    monkeypatch.setenv("FASTLM_ATTN_TUNE", "0")
    fixed = _run(lambda a, b, c: fastlm.attention(a, b, c, causal=True, return_lse=True), (q, k, v), do)
    monkeypatch.setenv("FASTLM_ATTN_TUNE", "1")
    tuned = _run(lambda a, b, c: fastlm.attention(a, b, c, causal=True, return_lse=True), (q, k, v), do)
    from fastlm.kernels import launch

    assert launch._fwd_tuned.cache and launch._bwd_tuned.cache  # it did tune
    for name, x, y in zip(("out", "lse", "dq", "dk", "dv"), fixed, tuned):
        assert _err(x, y) < 1e-2, name


def test_gpu_strided_inputs_match_contiguous():
    torch.manual_seed(6)
    B, S, H, Hkv, D = 2, 700, 8, 2, 96
    q = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2)  # (B, S, H, D) view
    k = torch.randn(B, Hkv, S, D + 32, device="cuda", dtype=torch.bfloat16).transpose(1, 2)[..., :D]
    v = torch.randn(B, S, 2 * Hkv, D, device="cuda", dtype=torch.bfloat16)[:, :, ::2]
    do = torch.randn(B, S, H, D, device="cuda")
    rot = fastlm.RotaryEmbedding(64)
    f = lambda a, b, c: fastlm.attention(a, b, c, causal=True, rope=rot, return_lse=True)  # noqa: E731
    strided = _run(f, (q, k, v), do)
    plain = _run(f, (q.contiguous(), k.contiguous(), v.contiguous()), do)
    for name, a, b in zip(("out", "lse", "dq", "dk", "dv"), strided, plain):
        assert _err(a, b) <= 1e-2 * max(1.0, b.abs().max().item()), name
