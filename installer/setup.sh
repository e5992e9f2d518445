#!/usr/bin/env bash
# Set up Mask Curator in this checkout: the system libraries Qt needs (when missing and running as
# root), a virtual environment at .venv, the package with its GUI and test extras, and the plugins under
# plugins/ (the Ray executor; CURATOR_PLUGINS=none leaves them out). Machines
# without an NVIDIA GPU get the CPU build of PyTorch through resources/constraints-cpu.txt.
# Idempotent: a second run with unchanged requirements returns in seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# -- Python ---------------------------------------------------------------------------------------
if ! command -v "$PY" >/dev/null 2>&1; then
  say "no $PY found; install Python 3.11 or newer (e.g. apt-get install python3 python3-venv)"; exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  say "Mask Curator needs Python >= 3.11; $PY is $("$PY" -V 2>&1)"; exit 1
fi

# -- System libraries (Debian/Ubuntu) -------------------------------------------------------------
# Xvfb and the xcb/OpenGL libraries Qt and napari's canvas load; python3-venv where venv is split out.
APT_WANTED="xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 \
libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 \
libdbus-1-3 libxkbcommon0 libx11-xcb1"
if command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for p in $APT_WANTED; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing="$missing python3-venv python$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
  fi
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      say "installing system packages:$missing"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      avail=""
      for p in $missing; do
        cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
        if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then avail="$avail $p"; fi
      done
      # shellcheck disable=SC2086
      [ -z "$avail" ] || apt-get install -y -qq --no-install-recommends $avail >/dev/null
    else
      say "missing system packages:$missing"
      say "install them with: sudo apt-get install$missing   (the GUI and its tests need them)"
    fi
  fi
fi

# -- Virtual environment --------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment at .venv"
  "$PY" -m venv "$VENV"
fi

# -- PyTorch build: CPU unless an NVIDIA GPU answers ----------------------------------------------
CONSTRAINTS="$ROOT/resources/constraints-cpu.txt"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  CONSTRAINTS="$ROOT/resources/constraints-gpu.txt"
  say "NVIDIA GPU found: installing the CUDA build of PyTorch"
fi

EXTRAS=${CURATOR_EXTRAS:-gui,test}
stamp_now=$(cat pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)-$EXTRAS
stamp_file="$VENV/.mask-curator-installed"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_now" ] && "$VENV/bin/python" -c 'import curator' 2>/dev/null; then
  say "environment up to date"
else
  say "installing mask-curator[$EXTRAS] into .venv (first time: a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" -e ".[$EXTRAS]"
  echo "$stamp_now" > "$stamp_file"
fi

# -- Plugins (plugins/*): each installed, editable, with its own dependencies (the Ray executor brings
# Ray), so that the test command runs their tests too. The base install above stays without them.
# CURATOR_PLUGINS=none skips them; CURATOR_PLUGINS="mask-curator-ray" names the ones to install.
PLUGINS=${CURATOR_PLUGINS:-all}
for dir in "$ROOT"/plugins/*/; do
  name=$(basename "$dir")
  [ -f "$dir/pyproject.toml" ] || continue
  case " $PLUGINS " in *" all "*|*" $name "*) ;; *) continue ;; esac
  pstamp=$( (echo "$dir"; cat "$dir/pyproject.toml" "$CONSTRAINTS") | sha256sum | cut -c1-16)
  pfile="$VENV/.plugin-$name-installed"
  if [ -f "$pfile" ] && [ "$(cat "$pfile")" = "$pstamp" ]; then
    continue
  fi
  say "installing plugin $name into .venv"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" -e "$dir"
  echo "$pstamp" > "$pfile"
done
"$VENV/bin/python" -c 'import torch, curator; print(f"[setup] mask-curator {curator.__version__}, torch {torch.__version__}")' >&2
