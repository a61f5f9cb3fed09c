"""Benchmark helpers: shared data, best-of timing for the anchor libraries, and a results collector.

Each benchmark times fastlm with pytest-benchmark and the anchor with `best_of` in the same process and on the
same input, asserts identical output, and records the ratio in `extra_info` (collected into
bench/results.json at the end of the session; `python bench/report.py` turns it into RESULTS.md + PNG).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import pytest

# As in tests/conftest.py: the root's kernels/ folder must not shadow the `kernels` distribution transformers uses.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parents[1]]

from fastlm.bench import best_of  # noqa: F401  (re-exported: the benchmarks import it from here)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS: list = []


def record(benchmark, *, suite: str, case: str, anchor: str, mbytes: float, anchor_s: float) -> None:
    ours = benchmark.stats.stats.min
    row = {"suite": suite, "case": case, "anchor": anchor, "MB": round(mbytes, 3),
           "fastlm_MBps": round(mbytes / ours, 2), "anchor_MBps": round(mbytes / anchor_s, 2),
           "ratio": round(anchor_s / ours, 2)}
    benchmark.extra_info.update(row)
    RESULTS.append(row)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        pytest.skip(f"shared data folder missing: {DATA}")
    return DATA


def pytest_sessionfinish(session, exitstatus):
    if RESULTS:
        out = Path(__file__).with_name("results.json")
        meta = {"machine": f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}",
                "date": time.strftime("%Y-%m-%d"), "python": platform.python_version()}
        old = {}
        if out.exists():
            try:
                old = json.loads(out.read_text())
            except ValueError:
                old = {}
        rows = [r for r in old.get("rows", []) if (r["suite"], r["case"], r["anchor"]) not in
                {(x["suite"], x["case"], x["anchor"]) for x in RESULTS}] + RESULTS
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
