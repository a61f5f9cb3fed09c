"""Turn bench/results.json (written by the benchmark session) into the table in bench/RESULTS.md and a PNG plot.

    python bench/report.py            # rewrites the generated block of RESULTS.md and bench/results.png
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def table(rows: list) -> str:
    lines = ["| suite | case | anchor | fastlm MB/s | anchor MB/s | ratio (x faster) |", "|---|---|---|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["suite"], r["case"], r["anchor"])):
        lines.append(f"| {r['suite']} | {r['case']} | {r['anchor']} | {r['fastlm_MBps']:.1f} | {r['anchor_MBps']:.1f} | "
                     f"{r['ratio']:.2f} |")
    return "\n".join(lines)


def plot(rows: list, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if not r["anchor"].startswith("fastlm")]
    labels = [f"{r['suite']}\n{r['case']} vs {r['anchor']}" for r in rows]
    fig, ax = plt.subplots(figsize=(10, max(3, 0.42 * len(rows))))
    ax.barh(range(len(rows)), [r["ratio"] for r in rows], color="#3a7")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up of fastlm over the anchor (same input, same process; >1 = fastlm faster)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    data = json.loads((HERE / "results.json").read_text())
    rows, meta = data["rows"], data["meta"]
    md = HERE / "RESULTS.md"
    text = md.read_text() if md.exists() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    block = (f"{BEGIN}\nMachine: {meta['machine']}; date {meta['date']}; Python {meta['python']}.\n\n"
             f"{table(rows)}\n\n![ratios](results.png)\n{END}")
    a, b = text.index(BEGIN), text.index(END) + len(END)
    md.write_text(text[:a] + block + text[b:])
    plot(rows, HERE / "results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
