"""Ahead-of-time compilation of the attention / RoPE kernels for a GPU target, on any machine (no GPU needed).

The interpreter (TRITON_INTERPRET=1) runs the kernels' Python but never Triton's compiler, so a kernel can pass
every interpreter test and still fail to compile, spill registers or overflow shared memory on a real GPU. This
module closes that gap without one: tests/test_attention_compile.py compiles every constexpr variant for sm_90 and
sm_80, and bench/gpu/tune.py drops block configs that spill before timing the rest on a GPU.

How: the launcher runs on CPU tensors of the real shapes with `launch._capture` set, which records each launch
(kernel, grid, args, constexprs) instead of running it. Each launch is then bound by Triton's own binder (the same
signature and the same 16-byte-divisibility / ==1 specialisations as a JIT launch with those tensors) and compiled
with `triton.compile` for the target. Resources come from the cubin via `cuobjdump -res-usage` (shipped with
Triton's CUDA backend): REG registers per thread, LOCAL bytes of per-thread local memory (spills), and Triton's
own count of shared memory. Rejected alternative: hand-written signatures, which drift from the launcher.

Dimension legend: B batch, Sq/Sk query/key tokens, H query heads, Hkv key/value heads, D head dim, R rotary dim.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
import triton

from . import launch as _launch
from . import rope as _rope

Block = Tuple[int, int, int, int]
# Largest dynamic shared memory one block may use (opt-in), bytes: H100/H200 227 KiB, A100 163 KiB.
SMEM_LIMIT = {90: 232448, 80: 166912}


@dataclass
class Launch:
    kernel: object
    grid: object
    args: tuple
    consts: dict
    kind: str  # "fwd", "dq", "dkdv" or "rope"


@dataclass
class Compiled:
    kind: str
    block: Optional[Block]
    arch: int
    regs: int
    local_bytes: int  # per-thread local memory: register spills (and stack)
    shared: int
    seconds: float

    @property
    def fits(self) -> bool:
        return self.local_bytes == 0 and self.shared <= SMEM_LIMIT.get(self.arch, SMEM_LIMIT[80])


def capture(fn: Callable[[], object]) -> List[Launch]:
    """Run fn (which calls the launcher on CPU tensors) and return the launches it would have made."""
    rec: list = []
    _launch._capture = _rope._capture = rec
    try:
        fn()
    finally:
        _launch._capture = _rope._capture = None
    return [Launch(*r) for r in rec]


def attention_launches(*, B=2, Sq=256, Sk=256, H=4, Hkv=2, D=128, dtype=torch.bfloat16, causal=True, rope=None,
                       rotary_dim=None, varlen=False, kpm=False, backward=True, kvcache=False,
                       num_splits=1) -> List[Launch]:
    """The launches of one attention call (forward, and backward unless kvcache / backward=False).

    rope: None, "half" or "interleaved"; rotary_dim defaults to D. varlen packs B sequences of Sq/Sk tokens.
    kvcache: a decoding step (seqused_k set, split into num_splits); forward only."""
    g = torch.Generator().manual_seed(0)

    def t(*shape, dt=dtype):
        return torch.randn(*shape, generator=g).to(dt)

    kw = {}
    if varlen:
        q, k, v = t(B * Sq, H, D), t(B * Sk, Hkv, D), t(B * Sk, Hkv, D)
        kw.update(cu_q=torch.arange(0, B + 1, dtype=torch.int32) * Sq,
                  cu_k=torch.arange(0, B + 1, dtype=torch.int32) * Sk, max_seqlen_q=Sq, max_seqlen_k=Sk)
    else:
        q, k, v = t(B, Sq, H, D), t(B, Sk, Hkv, D), t(B, Sk, Hkv, D)
    if kpm:
        kw["kpm"] = torch.ones(B, Sk, dtype=torch.uint8)
    if rope is not None:
        r = rotary_dim or D
        cos, sin = t(Sq + Sk + 16, r // 2, dt=torch.float32), t(Sq + Sk + 16, r // 2, dt=torch.float32)
        kw.update(rope=(cos, sin, rope == "interleaved"), q_off=torch.full((B,), Sk - Sq + 3, dtype=torch.int32),
                  k_off=torch.full((B,), 3, dtype=torch.int32))
    scale = D ** -0.5
    if kvcache:
        fwd_kw = dict(kw, seqused_k=torch.full((B,), Sk, dtype=torch.int32), num_splits=num_splits)
        fwd_kw.pop("k_off", None)
        return capture(lambda: _launch.attention_forward(q, k, v, causal=causal, scale=scale, **fwd_kw))

    def run():
        out, lse = _launch.attention_forward(q, k, v, causal=causal, scale=scale, **kw)
        if backward:
            _launch.attention_backward(torch.randn_like(out), q, k, v, out, lse, causal=causal, scale=scale, **kw)
    return capture(run)


def _cuobjdump() -> str:
    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")


def available() -> Optional[str]:
    """None if AOT compilation for CUDA works here, else the reason it does not."""
    try:
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.compiler import make_backend  # noqa: F401
        from triton.runtime.jit import create_function_from_signature  # noqa: F401
    except ImportError as e:
        return f"this Triton ({triton.__version__}) lacks the compiler entry points: {e}"
    if not os.path.exists(_cuobjdump()):
        return "Triton's CUDA backend (with its bundled ptxas / cuobjdump) is not installed"
    return None


def compile_launch(ln: Launch, block: Optional[Block] = None, *, arch: int = 90) -> Compiled:
    """Compile one captured launch for sm_<arch>. block: (BLOCK_M, BLOCK_N, num_warps, num_stages) for the
    attention kernels (default: the launcher's DEFAULT_BLOCKS for this kind and DP); ignored for rope."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    fn = ln.kernel
    kw = dict(ln.consts)
    if ln.kind != "rope":
        block = block or _launch.DEFAULT_BLOCKS[ln.kind][kw["DP"]]
        kw.update(BLOCK_M=block[0], BLOCK_N=block[1], num_warps=block[2], num_stages=block[3])
    kw["debug"] = False
    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, spec, options = binder(*ln.args, **kw)
    options, signature, constexprs, attrs = fn._pack_args(backend, kw, bound, spec, options)
    t0 = time.perf_counter()
    k = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=target, options=options.__dict__)
    secs = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.cubin")
        with open(path, "wb") as f:
            f.write(k.asm["cubin"])
        res = subprocess.run([_cuobjdump(), "-res-usage", path], capture_output=True, text=True, check=True).stdout
    regs = int(re.search(r"REG:(\d+)", res).group(1))
    local = int(re.search(r"LOCAL:(\d+)", res).group(1))
    stack = int(re.search(r"STACK:(\d+)", res).group(1))
    return Compiled(ln.kind, block if ln.kind != "rope" else None, arch, regs, local + stack, int(k.metadata.shared),
                    secs)
