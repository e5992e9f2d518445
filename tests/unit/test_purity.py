"""Contracts: the core never imports Qt or napari; the command line starts without heavy imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import curator.core
import curator.lab  # noqa: F401  (the research tools obey the same purity)

GUI_MODULES = ("qtpy", "PySide6", "PyQt5", "PyQt6", "napari", "magicgui", "superqt", "vispy")


def _core_modules() -> list[str]:

    mods = [m.name for pkg in (curator.core, curator.lab) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return sorted(mods)


def test_importing_every_core_module_loads_no_gui_library():
    mods = _core_modules()
    assert "curator.core.io.readers" in mods and "curator.core.data.discover" in mods
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
    core = [c for c in contracts if "curator.core" in c.get("source_modules", ()) and "napari" in c["forbidden_modules"]][0]
    assert set(GUI_MODULES) <= set(core["forbidden_modules"]) and "curator.lab" in core["source_modules"]
    layers = [c for c in contracts if c["type"] == "layers"][0]["layers"]
    assert layers[:5] == ["curator.core.project", "curator.core.curation", "curator.core.engine", "curator.core.data",
                          "curator.core.io"]
