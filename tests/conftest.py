"""Shared test helpers: the shared data folder, and the rule that missing data skips locally but fails in CI."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        if IN_CI:
            pytest.fail(f"shared data folder missing: {DATA}")
        pytest.skip(f"shared data folder missing: {DATA}")
    return DATA
