#!/usr/bin/env bash
# Build the self-contained Linux desktop bundle: installer/dist/mask-curator/ (run
# ./mask-curator inside it) and installer/dist/mask-curator-<version>-linux-x86_64.tar.gz.
# Uses the project's environment (installer/setup.sh makes it; CPU PyTorch unless an NVIDIA GPU
# is present). For a CUDA bundle, build on a machine with the CUDA build of torch installed in
# .venv (see installer/README.md).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash installer/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check "pyinstaller>=6.5"
start=$(date +%s)
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath installer/dist --workpath installer/build installer/mask-curator.spec
version=$(.venv/bin/python -c 'import curator; print(curator.__version__)')
tarball="installer/dist/mask-curator-${version}-linux-$(uname -m).tar.gz"
tar -C installer/dist -czf "$tarball" mask-curator
end=$(date +%s)
echo "[build] bundle: installer/dist/mask-curator ($(du -sh installer/dist/mask-curator | cut -f1))"
echo "[build] archive: $tarball ($(du -sh "$tarball" | cut -f1))"
echo "[build] build time: $((end - start)) s"
