"""Run the fuzz harnesses.

    python fuzz/run.py --list                      # the targets, and whether each can run here
    python fuzz/run.py --replay [TARGET...]        # every seed and regression input once, no fuzzer (fast)
    python fuzz/run.py --seconds 5 [TARGET...]     # coverage-guided (atheris/libFuzzer), N seconds per target
    python fuzz/run.py --seconds 5 --jobs 2        # two targets at a time
    python fuzz/run.py --seconds 600 encode_cl100k --keep-corpus   # a long local run; new inputs under fuzz/work/

Each target fuzzes in its own process (atheris never returns), starting from fuzz/corpus/<corpus>/ and
fuzz/regressions/<target>/, with a per-input timeout (a hang is a failure) and an RSS limit (a memory blow-up is
a failure). A failing input is written to fuzz/crashes/<target>-<kind>-<sha1>; turn it into a regression test by
moving it to fuzz/regressions/<target>/ (tests/test_fuzz_regressions.py replays that folder). `--json FILE`
writes the per-target summary (executions, coverage, failures) that RELIABILITY.md quotes.
Exit status: 0 if no target failed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CORPUS, REGRESSIONS, TARGETS  # noqa: E402

CORPUS_OF: Dict[str, str] = {}  # target -> seed folder name, when several targets share one


def _import_targets() -> None:
    import targets_encode  # noqa: F401
    import targets_load  # noqa: F401

    for name in TARGETS:
        if name.startswith(("encode_", "pretokenize_", "normalize_")):
            CORPUS_OF[name] = "text"
        elif name.startswith("decode_"):
            CORPUS_OF[name] = "ids"


def inputs_of(name: str) -> List[Path]:
    """Seed and regression inputs of a target, sorted."""
    out: List[Path] = []
    for d in (CORPUS / CORPUS_OF.get(name, name), REGRESSIONS / name):
        if d.is_dir():
            out += sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
    return out


def replay(names: List[str]) -> int:
    bad = 0
    for name in names:
        t = TARGETS[name]
        why = t.available()
        if why:
            print(f"{name:28s} skipped ({why})")
            continue
        files = inputs_of(name)
        t0 = time.perf_counter()
        for p in files:
            try:
                t.fn(p.read_bytes()[: t.max_len])
            except BaseException as e:  # noqa: BLE001 - report every failure kind
                bad += 1
                print(f"{name}: {p.relative_to(HERE.parent)}: {type(e).__name__}: {e}")
        print(f"{name:28s} {len(files):4d} inputs  {time.perf_counter() - t0:6.2f} s")
    return 1 if bad else 0


def child(name: str, libfuzzer_args: List[str]) -> None:
    """Runs inside the per-target process: instrument fastlm's Python code, then hand control to libFuzzer."""
    import importlib
    import pkgutil

    import atheris

    # The editable install imports fastlm through a custom loader, which atheris.instrument_imports cannot hook
    # (rejected for that reason); so import every module first, then instrument fastlm's functions in place.
    import fastlm

    # torch side and CLI entry points: not reached; a `__main__` module would run its program on import
    skip = ("models", "ops", "demo", "kernels", "bench", "tokdemo", "cli", "train_lm", "__main__")
    todo = [(fastlm.__path__, "fastlm.")]
    while todo:
        path, prefix = todo.pop()
        for m in pkgutil.iter_modules(path, prefix):
            if m.name.split(".")[1] in skip or m.name.endswith(".__main__"):
                continue
            mod = importlib.import_module(m.name)
            if m.ispkg:
                todo.append((mod.__path__, m.name + "."))
    n = 0
    for mod_name, mod in list(sys.modules.items()):
        if mod_name == "fastlm" or mod_name.startswith("fastlm."):
            for obj in list(vars(mod).values()):
                n += _instrument(atheris, obj, mod_name)
    print(f"INFO: instrumented {n} fastlm functions", file=sys.stderr)
    t = TARGETS[name]
    for p in inputs_of(name)[:3]:  # load the tokenizers before the clock starts
        try:
            t.fn(p.read_bytes()[: t.max_len])
        except BaseException:  # noqa: BLE001 - a failing seed is reported by the fuzzer itself
            pass
    fn = t.fn

    def one(data: bytes) -> None:
        fn(data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def _instrument(atheris: Any, obj: Any, mod_name: str) -> int:
    """Instrument the Python functions (and methods of classes) defined in module `mod_name`."""
    import types

    n = 0
    if isinstance(obj, types.FunctionType) and obj.__module__ == mod_name:
        atheris.instrument_func(obj)
        return 1
    if isinstance(obj, type) and obj.__module__ == mod_name:
        for v in list(vars(obj).values()):
            f = v.__func__ if isinstance(v, (staticmethod, classmethod)) else v.fget if isinstance(v, property) else v
            if isinstance(f, types.FunctionType):
                atheris.instrument_func(f)
                n += 1
    return n


def _fuzz_one(name: str, seconds: float, keep: bool, timeout: int, rss_mb: int) -> Tuple[Dict[str, Any], str]:
    crashes = HERE / "crashes"
    t = TARGETS[name]
    work = HERE / "work" / name if keep else Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(exist_ok=True)
    seeds = [str(d) for d in (CORPUS / CORPUS_OF.get(name, name), REGRESSIONS / name) if d.is_dir()]
    args = [str(work), *seeds, f"-max_total_time={int(seconds)}", f"-timeout={timeout}",
            f"-rss_limit_mb={rss_mb}", f"-max_len={t.max_len}", f"-artifact_prefix={crashes}/{name}-",
            "-print_final_stats=1"]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--", *args]
    t0 = time.perf_counter()
    # the wall-clock guard is generous: libFuzzer stops itself at max_total_time (plus a timeout-sized tail)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                           timeout=seconds + 3 * timeout + 180)
        out, rc = r.stderr + r.stdout, r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stderr or b"").decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        rc = -9
    wall = time.perf_counter() - t0
    runs = re.findall(r"Done (\d+) runs in (\d+) second", out)
    stat_runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    cov = re.findall(r"cov: (\d+)", out)
    ft = re.findall(r"ft: (\d+)", out)
    arts = re.findall(r"Test unit written to (\S+)", out)
    n = int(runs[-1][0]) if runs else int(stat_runs[-1]) if stat_runs else 0
    row = {"execs": n, "seconds": round(wall, 1), "cov": int(cov[-1]) if cov else None,
           "ft": int(ft[-1]) if ft else None, "rc": rc, "failures": arts}
    status = "ok" if rc == 0 and not arts else "FAILED"
    report = f"{name:28s} {n:8d} execs  cov {row['cov']}  {wall:6.1f} s  {status}"
    if status != "ok":
        report += "\n" + out[-6000:] + f"\nreproduce: python fuzz/run.py --reproduce {name} {' '.join(arts) or '<input>'}"
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return row, report


def fuzz(names: List[str], seconds: float, keep: bool, timeout: int, rss_mb: int, jobs: int) -> Dict[str, Any]:
    """Fuzz each target in its own process, `jobs` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    summary: Dict[str, Any] = {}
    ready = []
    for name in names:
        why = TARGETS[name].available()
        if why:
            print(f"{name:28s} skipped ({why})")
            summary[name] = {"skipped": why}
        else:
            ready.append(name)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {n: pool.submit(_fuzz_one, n, seconds, keep, timeout, rss_mb) for n in ready}
        for n in ready:
            row, report = futures[n].result()
            summary[n] = row
            print(report, flush=True)
    return summary


def reproduce(name: str, files: List[str]) -> int:
    t = TARGETS[name]
    for f in files:
        print(f"--- {f}")
        t.fn(Path(f).read_bytes()[: t.max_len])
        print("no failure")
    return 0


def main(argv: List[str]) -> int:
    if argv[:1] == ["--child"]:
        _import_targets()
        child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", help="target names (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--replay", action="store_true", help="run seeds and regressions once, without the fuzzer")
    ap.add_argument("--reproduce", metavar="TARGET", help="run TARGET on the files given as arguments")
    ap.add_argument("--seconds", type=float, default=5.0, help="fuzzing time per target")
    ap.add_argument("--timeout", type=int, default=20, help="seconds one input may take (a hang fails)")
    ap.add_argument("--rss-mb", type=int, default=3072, help="memory limit of a fuzzing process")
    ap.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time")
    ap.add_argument("--keep-corpus", action="store_true", help="keep new inputs under fuzz/work/")
    ap.add_argument("--json", help="write the summary here")
    a = ap.parse_args(argv)
    _import_targets()
    if a.reproduce:
        return reproduce(a.reproduce, a.targets)
    names = a.targets or sorted(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {unknown}; see --list")
    if a.list:
        for n in names:
            print(f"{n:28s} {TARGETS[n].available() or 'ready'}")
        return 0
    if a.replay:
        return replay(names)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("fuzz/run.py: atheris is not installed (pip install atheris); replaying the corpus instead")
        return replay(names)
    t0 = time.perf_counter()
    summary = fuzz(names, a.seconds, a.keep_corpus, a.timeout, a.rss_mb, a.jobs)
    total = sum(r.get("execs", 0) for r in summary.values())
    failed = [n for n, r in summary.items() if r.get("rc", 0) != 0 or r.get("failures")]
    print(f"fuzz: {len(summary)} targets, {total} executions, {time.perf_counter() - t0:.0f} s, "
          f"{len(failed)} failed {failed if failed else ''}")
    if a.json:
        Path(a.json).write_text(json.dumps({"seconds_per_target": a.seconds, "targets": summary}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
