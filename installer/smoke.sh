#!/usr/bin/env bash
# Smoke test of a built bundle: its headless self-test, then the GUI on a virtual screen with a
# screenshot (installer/dist/smoke-screenshot.png) and the cold start time to a usable window.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=${1:-$ROOT/installer/dist/mask-curator/mask-curator}
[ -x "$APP" ] || { echo "[smoke] no bundle at $APP; run installer/build.sh first" >&2; exit 1; }
export CURATOR_HOME=$(mktemp -d)
echo "[smoke] self-test" >&2
"$APP" --selftest
shot="$ROOT/installer/dist/smoke-screenshot.png"
rm -f "$shot"
echo "[smoke] GUI under Xvfb" >&2
start=$(date +%s.%N)
# the demo: synthetic data generated on first use, a quick Batch relabel, then the screenshot
xvfb-run -a -s "-screen 0 1600x1000x24" "$APP" demo --screenshot "$shot" --startup-time
end=$(date +%s.%N)
[ -s "$shot" ] || { echo "[smoke] no screenshot was written" >&2; exit 1; }
echo "[smoke] screenshot: $shot ($(stat -c %s "$shot") bytes); GUI run took $(echo "$end - $start" | bc) s"
echo "[smoke] passed"
