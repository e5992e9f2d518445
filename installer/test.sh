#!/usr/bin/env bash
# Set up Mask Curator (installer/setup.sh) and run the whole test suite: the import-purity
# contracts, then pytest (unit, integration and GUI tests; GUI tests under Xvfb).
# Extra arguments go to pytest, e.g. `bash installer/test.sh -m slow` for the benchmarks.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash installer/setup.sh
export CURATOR_TEST_DATA=${CURATOR_TEST_DATA:-$ROOT/../shared/data}
export CURATOR_HOME=${CURATOR_HOME:-$ROOT/.venv/curator-home}
export PYTHONDONTWRITEBYTECODE=1
echo "[test] core purity (import-linter)" >&2
.venv/bin/lint-imports --no-cache
echo "[test] pytest" >&2
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest "$@"
