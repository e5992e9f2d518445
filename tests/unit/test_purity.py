"""Contracts: the core never imports Qt or napari; the command line starts without heavy imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import curator.core

GUI_MODULES = ("qtpy", "PySide6", "PyQt5", "PyQt6", "napari", "magicgui", "superqt", "vispy")


def _core_modules() -> list[str]:
    return sorted(f"curator.core.{m.name}" for m in pkgutil.iter_modules(curator.core.__path__))


def test_importing_every_core_module_loads_no_gui_library():
    mods = _core_modules()
    assert "curator.core.io" in mods and "curator.core.dataset" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {GUI_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"curator.core pulled in GUI modules: {out.stdout}"


def test_cli_help_does_not_import_torch_or_gui():
    code = (
        "import sys\n"
        "from curator import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'monai', 'SimpleITK', 'napari', 'qtpy', 'PySide6') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout or out.stdout.strip().endswith("HEAVY="), out.stdout


def test_import_linter_contract_is_declared():
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    contracts = cfg["tool"]["importlinter"]["contracts"]
    core = [c for c in contracts if c["source_modules"] == ["curator.core"]][0]
    assert set(GUI_MODULES) <= set(core["forbidden_modules"])
