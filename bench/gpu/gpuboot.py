"""Make `fastlm` importable on a GPU machine straight from a source checkout, without building anything.

The GPU session needs only the Python layer, the Triton kernels and the models; the C++ tokenizer core is not
used. So, unless fastlm is installed (then this does nothing): python/ goes on sys.path, `fastlm.kernels` is
mapped to kernels/ (the wheel's package mapping), and if no built `_core` extension is found, `fastlm._core` is a
placeholder module whose attributes raise ImportError naming the reason -- `import fastlm` only binds the module,
so the tokenizer layer imports, and any real use of the core fails loudly instead of silently.
Rejected alternative: building the extension on the GPU machine first (a minute of device time for code the
session never runs).

Imported by every bench/gpu script, and by pytest through `-p gpuboot` (bench/gpu on PYTHONPATH).
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _NoCore(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"fastlm._core.{name}: the C++ tokenizer core is not built on this machine "
                          "(bench/gpu/gpuboot.py runs the kernels and models from the source tree)")


def boot() -> str:
    """Returns how fastlm was found: 'installed' or 'source tree'."""
    try:
        import fastlm._core  # noqa: F401  (an install or an editable build)
        import fastlm.kernels  # noqa: F401
        if not isinstance(sys.modules["fastlm._core"], _NoCore):
            return "installed"
        return "source tree"
    except ImportError:
        for name in [m for m in sys.modules if m == "fastlm" or m.startswith("fastlm.")]:
            del sys.modules[name]
    src = ROOT / "python"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    if not list((src / "fastlm").glob("_core*.so")) and not list((src / "fastlm").glob("_core*.pyd")):
        sys.modules["fastlm._core"] = _NoCore("fastlm._core")
    import fastlm

    fastlm._core = sys.modules["fastlm._core"]  # type: ignore[attr-defined]  (a pre-seeded module is not bound)
    kspec = importlib.util.spec_from_file_location("fastlm.kernels", ROOT / "kernels" / "__init__.py",
                                                   submodule_search_locations=[str(ROOT / "kernels")])
    mod = importlib.util.module_from_spec(kspec)
    sys.modules["fastlm.kernels"] = mod
    kspec.loader.exec_module(mod)
    fastlm.kernels = mod  # type: ignore[attr-defined]
    return "source tree"


HOW = boot()
