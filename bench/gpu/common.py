"""Shared pieces of the GPU session scripts (bench/gpu_session.sh): where results go, timing, parallel warm-up.

Every script writes its figures with save_part(name, obj) as JSON under $GPU_SESSION_WORK/parts/; report.py
merges the parts into $OUT/results.json and $OUT/results.md after each step, so a session cut short still returns
what it measured.

Compilation is the expensive part of a short session (a few seconds per kernel variant and block config, one
core each), so scripts first run every (variant, config) once in parallel worker processes (`warm`), which fills
Triton's on-disk cache (TRITON_CACHE_DIR); the timing process then loads each kernel from that cache.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Tuple

import gpuboot  # noqa: F401  (fastlm importable from the source tree)

ROOT = gpuboot.ROOT
WORK = Path(os.environ.get("GPU_SESSION_WORK", "/tmp/fastlm_gpu_session"))
PARTS = WORK / "parts"


def save_part(name: str, obj: Any) -> Path:
    PARTS.mkdir(parents=True, exist_ok=True)
    path = PARTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)
    return path


def load_part(name: str) -> Optional[Any]:
    path = PARTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def time_ms(fn: Callable[[], Any], *, warmup: int = 10, rep: int = 40) -> float:
    """Median milliseconds per call (triton.testing.do_bench: L2 flushed between calls, CUDA events)."""
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))


def workers(default_max: int = 14) -> int:
    """Warm-up processes: the cores less one or two for the parent, capped (each holds a CUDA context)."""
    n = os.cpu_count() or 4
    return max(1, min(default_max, n - 2, int(os.environ.get("GPU_SESSION_WORKERS", default_max))))


def _call(fn_path: str, task: Any) -> Tuple[Any, Optional[str], float]:
    import importlib

    mod, name = fn_path.rsplit(":", 1)
    fn = getattr(importlib.import_module(mod), name)
    t0 = time.perf_counter()
    try:
        fn(task)
        return task, None, time.perf_counter() - t0
    except Exception as e:  # reported by the caller; the task's config is simply not used
        return task, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", time.perf_counter() - t0


def warm(fn_path: str, tasks: Iterable[Any], *, deadline_s: float) -> List[dict]:
    """Run fn(task) once per task in parallel spawned processes ("module:function"); returns one row per task
    with its error (None if it ran) and seconds. Tasks still queued at the deadline are cancelled."""
    import multiprocessing as mp

    tasks = list(tasks)
    rows: List[dict] = []
    t_end = time.monotonic() + deadline_s
    ex = ProcessPoolExecutor(max_workers=min(workers(), max(1, len(tasks))), mp_context=mp.get_context("spawn"))
    late = False
    try:
        futs = {ex.submit(_call, fn_path, t): t for t in tasks}
        try:
            for f in as_completed(futs, timeout=max(1.0, t_end - time.monotonic())):
                task, err, secs = f.result()
                rows.append({"task": task, "error": err, "s": round(secs, 2)})
        except Exception as e:  # the deadline (or a dead worker): keep what finished
            late = True
            done = {repr(r["task"]) for r in rows}
            for f, t in futs.items():
                if repr(t) not in done:
                    rows.append({"task": t, "error": f"not warmed: {type(e).__name__}", "s": None})
    finally:
        # past the deadline, do not wait for compiles in flight (they finish in the background and exit)
        ex.shutdown(wait=not late, cancel_futures=True)
    return rows


def device_info() -> dict:
    import torch
    import triton

    info = {"torch": torch.__version__, "triton": triton.__version__, "cuda": torch.version.cuda,
            "fastlm_from": gpuboot.HOW}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, sms=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
                    capability=f"{p.major}.{p.minor}")
    return info


def run_guarded(name: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement; on failure print the traceback and return {"error": ...} instead of raising."""
    try:
        return fn()
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
