"""Merge a GPU session's parts into results.json + results.md, and fold them into bench/RESULTS.md.

    python bench/gpu/report.py --work /tmp/fastlm_gpu_session --out gpu_out       # after each step (the script)
    python bench/gpu/report.py --results gpu_out/results.json --into bench/RESULTS.md

The second form replaces the block between <!-- gpu:begin --> and <!-- gpu:end --> in RESULTS.md (appended at
the end the first time) with the tables of results.md, so a rerun updates the same block.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BEGIN, END = "<!-- gpu:begin -->", "<!-- gpu:end -->"
IMPLS = ("fastlm", "fastlm-tile", "sdpa-flash", "sdpa-cudnn")


def collect(work: Path) -> dict:
    res: dict = {"steps": [], "parts": {}}
    steps = work / "steps.jsonl"
    if steps.exists():
        res["steps"] = [json.loads(line) for line in steps.read_text().splitlines() if line.strip()]
    for p in sorted((work / "parts").glob("*.json")):
        try:
            res["parts"][p.stem] = json.loads(p.read_text())
        except ValueError as e:
            res["parts"][p.stem] = {"error": f"unreadable part: {e}"}
    junit = work / "junit.xml"
    if junit.exists():
        res["parts"]["correctness"] = _junit(junit)
    tuned = work / "tuned_configs.json"
    if tuned.exists():
        res["tuned_configs"] = json.loads(tuned.read_text())
    return res


def _junit(path: Path) -> dict:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return {"error": f"junit unreadable: {e}"}
    out = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "slowest": []}
    cases = []
    for tc in root.iter("testcase"):
        name = tc.get("name", "?")
        t = float(tc.get("time", 0) or 0)
        cases.append((t, name))
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if bad is not None:
            out["failed"] += 1
            out["failures"].append({"test": name, "message": (bad.get("message") or "")[:300]})
        elif tc.find("skipped") is not None:
            out["skipped"] += 1
        else:
            out["passed"] += 1
    out["slowest"] = [{"test": n, "s": round(t, 1)} for t, n in sorted(cases, reverse=True)[:5]]
    return out


def _fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def markdown(res: dict) -> str:
    parts = res["parts"]
    env = parts.get("env", {})
    lines = ["## GPU session", ""]
    if env:
        lines.append(f"Machine: {env.get('gpu', '?')} ({env.get('sms', '?')} SMs, {env.get('memory_gib', '?')} GiB), "
                     f"torch {env.get('torch')}, Triton {env.get('triton')}, CUDA {env.get('cuda')}; measured "
                     f"ceilings: bf16 matmul {env.get('matmul_bf16_tflops', '?')} TFLOP/s, device copy "
                     f"{env.get('copy_GBps', '?')} GB/s. Command: `bash bench/gpu_session.sh`.")
        lines.append("")
    if res["steps"]:
        lines += ["| step | exit | seconds | limit |", "|---|---:|---:|---:|"]
        for s in res["steps"]:
            lines.append(f"| {s['step']} | {s['rc']} | {s['seconds']} | {s['limit']} |")
        lines.append("")
    c = parts.get("correctness")
    if c:
        lines.append(f"Correctness (tests/test_attention_gpu.py against the float64 reference): {c.get('passed', 0)} "
                     f"passed, {c.get('failed', 0)} failed, {c.get('skipped', 0)} skipped.")
        for f in c.get("failures", [])[:10]:
            lines.append(f"- FAILED `{f['test']}`: {f['message']}")
        lines.append("")
    t = parts.get("tune")
    if t:
        lines += [f"Block sweep (S={t.get('seqlen')}, B*S={t.get('tokens')}, bf16; time relative to the built-in "
                  "default, mean of causal and bidirectional):", "",
                  "| kernel | DP | best (M, N, warps, stages) | time vs default |", "|---|---:|---|---:|"]
        for kind, per in t.get("best", {}).items():
            for dp, b in per.items():
                lines.append(f"| {kind} | {dp} | {tuple(b['block'])} | {b['vs_default']:.2f}x |")
        bad = [r for r in t.get("rows", []) if "error" in r]
        if bad:
            lines.append(f"\n{len(bad)} configs did not run (e.g. {bad[0]['kind']} {tuple(bad[0]['block'])}: "
                         f"{bad[0]['error']}).")
        lines.append("")
    a = parts.get("attention")
    if a:
        lines += ["Attention, bf16, TFLOP/s (B*S = 16384 tokens, H = 2048 / D; RoPE rows: fused vs "
                  "apply_rope + SDPA):", "",
                  "| S | D | causal | pass | rope | " + " | ".join(IMPLS) + " | fastlm / flash | fastlm / cudnn |",
                  "|---:|---:|---|---|---|" + "---:|" * (len(IMPLS) + 2)]
        for r in a.get("rows", []):
            if "error" in r:
                lines.append(f"| {r['S']} | {r['D']} | {r['causal']} | {r['pass']} | {r['rope']} | "
                             f"{r['error']} |" + " |" * (len(IMPLS) + 1))
                continue
            ours = r.get("fastlm")
            ratio = [(_fmt(ours / r[b], 2) if ours and r.get(b) else "-") for b in ("sdpa-flash", "sdpa-cudnn")]
            lines.append(f"| {r['S']} | {r['D']} | {r['causal']} | {r['pass']} | {r['rope']} | "
                         + " | ".join(_fmt(r.get(n)) for n in IMPLS) + f" | {ratio[0]} | {ratio[1]} |")
        lines.append("")
    m = parts.get("models")
    if m:
        if "error" in m:
            lines.append(f"Model training step: {m['error']}")
        else:
            lines.append(f"Model training step ({m['model']}, B={m['batch']}, S={m['seq']}, AdamW): fastlm "
                         f"{m['fastlm_tokens_per_s']:,} tok/s, HF Llama (sdpa) {m['hf-sdpa_tokens_per_s']:,} tok/s: "
                         f"**{m['ratio_fastlm_vs_hf']:.2f}x** (bar 1.2x); logits check: {m['logits_check']}; peak "
                         f"memory {m['fastlm_peak_gib']} vs {m['hf-sdpa_peak_gib']} GiB.")
        lines.append("")
    f = parts.get("fsdp")
    if f:
        if "error" in f:
            lines.append(f"FSDP2 + bf16: {f['error']}")
        else:
            lines.append(f"FSDP2 + bf16 autocast, one GPU ({f['model']}, B={f['batch']}, S={f['seq']}): "
                         f"{f['fsdp2_tokens_per_s']:,} tok/s vs {f['unsharded_tokens_per_s']:,} unsharded "
                         f"({f['ratio_fsdp2_vs_unsharded']:.2f}x); first-step loss check: "
                         f"{f['first_step_loss_check']}.")
        lines.append("")
    if res.get("tuned_configs"):
        lines += ["Tuned blocks (FASTLM_ATTN_CONFIGS format; copy into kernels/launch.py DEFAULT_BLOCKS):", "",
                  "```json", json.dumps(res["tuned_configs"]), "```", ""]
    return "\n".join(lines)


def fold(results: Path, into: Path) -> None:
    md = markdown(json.loads(results.read_text()))
    text = into.read_text() if into.exists() else ""
    block = f"{BEGIN}\n{md}\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    into.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="the session's scratch folder (GPU_SESSION_WORK)")
    ap.add_argument("--out", type=Path, help="write results.json and results.md here")
    ap.add_argument("--results", type=Path, help="a results.json to fold (with --into)")
    ap.add_argument("--into", type=Path, help="the markdown file to fold the tables into (bench/RESULTS.md)")
    args = ap.parse_args(argv)
    if args.work and args.out:
        res = collect(args.work)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("results.json", json.dumps(res, indent=1, default=str)), ("results.md", markdown(res))):
            tmp = args.out / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, args.out / name)
        if res.get("tuned_configs"):
            (args.out / "tuned_configs.json").write_text(json.dumps(res["tuned_configs"], indent=1))
        return 0
    if args.results and args.into:
        fold(args.results, args.into)
        print(f"folded {args.results} into {args.into}")
        return 0
    ap.error("give --work and --out, or --results and --into")
    return 2


if __name__ == "__main__":
    sys.exit(main())
