#!/usr/bin/env bash
# Set up Mask Curator (installer/setup.sh) and open the desktop app on the built-in demo dataset.
# With no display (a server), the app starts on a virtual screen instead, saves a screenshot of
# the window and exits. Extra arguments go to `curator demo`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash installer/setup.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/curator demo "$@"
fi
shot="$ROOT/demo-screenshot.png"
echo "[demo] no display: running the app on a virtual screen and saving $shot" >&2
if command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/curator demo --screenshot "$shot" "$@"
fi
exec .venv/bin/curator demo --no-gui "$@"
