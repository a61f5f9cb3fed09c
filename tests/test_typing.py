"""Typing: py.typed ships, the committed _core.pyi matches the built extension, the package passes mypy --strict.

The mypy check is a ratchet: every file must be clean except those in PENDING (files whose owners still have
errors to fix); a PENDING file that becomes clean fails the test until it is removed from the list, so the
list only shrinks.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI

import fastlm

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "python" / "fastlm"

# Files with known mypy --strict errors, to be fixed by their owners (see the report of `tools/run_mypy.sh`).
PENDING: set = set()


def need_module(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{name} is a test dependency (pip install fastlm[test])")
        pytest.skip(f"{name} is not installed")


def test_py_typed_ships_with_the_package():
    assert (PKG / "py.typed").is_file()
    installed = Path(fastlm.__file__).resolve().parent
    assert (installed / "py.typed").is_file()
    assert (installed / "_core.pyi").is_file()


def test_core_stubs_match_the_built_extension():
    need_module("pybind11_stubgen")
    if shutil.which("bash") is None:  # pragma: no cover
        pytest.skip("needs bash")
    r = subprocess.run(["bash", str(ROOT / "tools" / "gen_stubs.sh"), "--check"], capture_output=True, text=True,
                       env={**__import__("os").environ, "PYTHON": sys.executable}, timeout=120)
    assert r.returncode == 0, (
        "python/fastlm/_core.pyi is stale or could not be generated. Rebuild (pip install --no-build-isolation -e .),"
        f" run tools/gen_stubs.sh and commit the file.\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")


def test_stubs_cover_every_public_core_name():
    stub = (PKG / "_core.pyi").read_text(encoding="utf-8")
    names = {n for n in dir(fastlm._core) if not n.startswith("_")}
    declared = set(re.findall(r"^(?:class|def) (\w+)", stub, flags=re.M))
    declared |= set(re.findall(r"^(\w+)\s*:", stub, flags=re.M))
    assert names <= declared, f"missing from _core.pyi: {sorted(names - declared)} (run tools/gen_stubs.sh)"


def test_mypy_strict():
    need_module("mypy")
    r = subprocess.run(["bash", str(ROOT / "tools" / "run_mypy.sh")], capture_output=True, text=True,
                       env={**__import__("os").environ, "PYTHON": sys.executable}, cwd=ROOT, timeout=600)
    out = r.stdout + r.stderr
    if "error:" not in out:
        assert r.returncode == 0, out[-4000:]
    errors: dict = {}
    for line in out.splitlines():
        m = re.match(r"^([^:]+\.pyi?):\d+: error:", line)
        if m:
            errors.setdefault(m.group(1), []).append(line)
    new = {f: e for f, e in errors.items() if f not in PENDING}
    assert not new, "mypy --strict errors (run tools/run_mypy.sh):\n" + "\n".join(l for e in new.values() for l in e)
    fixed = sorted(PENDING - set(errors))
    assert not fixed, f"these files now pass mypy --strict: remove them from PENDING in tests/test_typing.py: {fixed}"
