"""The GPU session's plumbing, on CPU: bench/gpu_session.sh parses, the sweep's pick rule, the report's tables and
its fold into RESULTS.md, and importing fastlm from the source tree with no extension built (bench/gpu/gpuboot).
The measurements themselves need a GPU (bench/gpu_session.sh runs them)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "bench" / "gpu"


@pytest.fixture()
def gpu_modules(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(GPU))
    monkeypatch.setenv("GPU_SESSION_WORK", str(tmp_path / "work"))
    import importlib

    import report

    return importlib.reload(report)


def test_session_script_parses():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    r = subprocess.run([bash, "-n", str(ROOT / "bench" / "gpu_session.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sweep_picks_the_fastest_relative_to_the_default(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    monkeypatch.syspath_prepend(str(GPU))
    import tune
    from fastlm.kernels import launch

    d = list(launch.DEFAULT_BLOCKS["fwd"][64])
    rows = [dict(kind="fwd", D=64, causal=c, block=d, ms=1.0) for c in (False, True)]
    rows += [dict(kind="fwd", D=64, causal=False, block=[64, 64, 4, 3], ms=0.5),
             dict(kind="fwd", D=64, causal=True, block=[64, 64, 4, 3], ms=1.2),  # mean 0.85: the best
             dict(kind="fwd", D=64, causal=False, block=[64, 32, 4, 2], ms=0.1, spills=16),  # spills: never picked
             dict(kind="fwd", D=64, causal=True, block=[64, 32, 4, 2], ms=0.1, spills=16),
             dict(kind="fwd", D=64, causal=False, block=[128, 32, 4, 3], ms=0.2)]  # one side only: not comparable
    best = tune.pick(rows)
    assert best == {"fwd": {64: {"block": [64, 64, 4, 3], "vs_default": 0.85}}}


def _parts(work: Path):
    (work / "parts").mkdir(parents=True)
    (work / "steps.jsonl").write_text('{"step": "env", "rc": 0, "seconds": 3, "limit": 60}\n'
                                      '{"step": "tune", "rc": 124, "seconds": 100, "limit": 100}\n')
    (work / "parts" / "env.json").write_text(json.dumps({"gpu": "NVIDIA H200", "sms": 132, "torch": "2.11",
                                                         "matmul_bf16_tflops": 790.0}))
    (work / "parts" / "attention.json").write_text(json.dumps({"rows": [
        {"S": 4096, "D": 128, "causal": True, "pass": "fwd", "rope": False, "fastlm": 300.0, "sdpa-flash": 400.0,
         "sdpa-cudnn": 500.0},
        {"S": 8192, "D": 64, "causal": False, "pass": "fwd+bwd", "rope": False, "error": "skipped: budget"}]}))
    (work / "parts" / "models.json").write_text(json.dumps({
        "model": "Llama", "batch": 8, "seq": 2048, "fastlm_tokens_per_s": 120000, "hf-sdpa_tokens_per_s": 100000,
        "ratio_fastlm_vs_hf": 1.2, "logits_check": "ok", "fastlm_peak_gib": 30.0, "hf-sdpa_peak_gib": 35.0}))
    (work / "tuned_configs.json").write_text(json.dumps({"fwd": {"128": [128, 64, 8, 3]}}))
    (work / "junit.xml").write_text(
        '<testsuite><testcase name="test_a" time="1.5"/><testcase name="test_b" time="0.1">'
        '<failure message="out: error 0.3 &gt; 0.1"/></testcase><testcase name="test_c"><skipped/></testcase>'
        '</testsuite>')


def test_report_tables_and_fold(gpu_modules, tmp_path):
    report = gpu_modules
    work, out = tmp_path / "work", tmp_path / "out"
    _parts(work)
    assert report.main(["--work", str(work), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md", "tuned_configs.json"]
    md = (out / "results.md").read_text()
    assert "NVIDIA H200" in md and "| tune | 124 | 100 | 100 |" in md
    assert "1 passed, 1 failed, 1 skipped" in md and "FAILED `test_b`: out: error 0.3 > 0.1" in md
    assert "| 4096 | 128 | True | fwd | False | 300.0 | - | 400.0 | 500.0 | 0.75 | 0.60 |" in md
    assert "skipped: budget" in md and "**1.20x** (bar 1.2x)" in md and '{"fwd": {"128": [128, 64, 8, 3]}}' in md
    target = tmp_path / "RESULTS.md"
    target.write_text("# Benchmark results\n\nkept\n")
    for _ in range(2):  # a rerun replaces the block instead of adding a second one
        assert report.main(["--results", str(out / "results.json"), "--into", str(target)]) == 0
    text = target.read_text()
    assert text.startswith("# Benchmark results\n\nkept\n") and text.count(report.BEGIN) == 1
    assert "## GPU session" in text and text.rstrip().endswith(report.END)


def test_fastlm_imports_from_the_source_tree_without_the_extension(tmp_path):
    pytest.importorskip("torch")
    # a fresh interpreter where the built extension cannot be imported, as on a bare GPU machine
    code = ("import sys\n"
            "class NoExtension:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'fastlm._core':\n"
            "            raise ImportError('not built')\n"
            "sys.meta_path.insert(0, NoExtension())\n"
            f"sys.path.insert(0, {str(GPU)!r})\n"
            "import gpuboot, fastlm, fastlm.ops, fastlm.models\n"
            "assert gpuboot.HOW == 'source tree', gpuboot.HOW\n"
            f"assert fastlm.kernels.__file__.startswith({str(ROOT / 'kernels')!r}), fastlm.kernels.__file__\n"
            "assert fastlm.attention is fastlm.ops.attention\n"
            "try:\n    fastlm._core.Tokenizer\nexcept ImportError as e:\n    print('core:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "core: fastlm._core.Tokenizer: the C++ tokenizer core is not built" in r.stdout
