"""Shared test helpers: the shared data folder, and the rule that missing data skips locally but fails in CI."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# `python -m pytest` puts the checkout root on sys.path. There the top-level kernels/ folder (shipped inside the
# wheel as fastlm.kernels) would shadow the unrelated `kernels` distribution that transformers imports; the
# tests never import anything from the root, so it comes off the path.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def data_path(*parts: str) -> Path:
    """Path of a shared data file; skips the test if absent (fails under CI=true)."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        msg = f"shared data file missing: {p}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return p


def text_files() -> list:
    d = DATA / "text"
    if not d.exists():
        return []
    return sorted(d.glob("*.txt"))


def sample_lines(per_file: int, *, nonempty: bool = False, utf8_demo_lines: "int | None" = None) -> list:
    """The first `per_file` lines of every shared text file (only non-empty ones if `nonempty`), then every
    blns string and the lines of UTF-8-demo.txt (the first `utf8_demo_lines` of them, or all)."""
    files = text_files()
    if not files:
        data_path("text")
    out: list = []
    for p in files:
        lines = p.read_text(encoding="utf-8").split("\n")
        out += ([x for x in lines if x] if nonempty else lines)[:per_file]
    out += json.loads(data_path("unicode", "blns.json").read_text(encoding="utf-8"))
    out += data_path("unicode", "UTF-8-demo.txt").read_text(encoding="utf-8").split("\n")[:utf8_demo_lines]
    return out


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        if IN_CI:
            pytest.fail(f"shared data folder missing: {DATA}")
        pytest.skip(f"shared data folder missing: {DATA}")
    return DATA
