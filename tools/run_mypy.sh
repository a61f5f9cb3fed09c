#!/usr/bin/env bash
# Type-checks the public Python package (python/fastlm, with the generated _core.pyi) under mypy --strict.
#   tools/run_mypy.sh            # all of python/fastlm
#   tools/run_mypy.sh FILE...    # only these files (still strict, same config)
# Needs: pip install mypy (and torch for fastlm.ops / kernels; without it those imports are Any).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec "${PYTHON:-python}" -m mypy --config-file tools/mypy.ini "$@"
