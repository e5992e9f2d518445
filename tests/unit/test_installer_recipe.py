"""The desktop bundle's recipe stays consistent with the package (the build itself is too heavy
for every CI run; installer/build.sh and installer/smoke.sh do it for real)."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "installer"))
import recipe  # noqa: E402


def test_every_module_named_by_the_napari_manifest_is_a_hidden_import():
    manifest = yaml.safe_load((ROOT / "curator" / "napari.yaml").read_text())
    modules = {c["python_name"].split(":")[0] for c in manifest["contributions"]["commands"]}
    assert modules <= set(recipe.HIDDEN_IMPORTS), modules - set(recipe.HIDDEN_IMPORTS)


def test_entry_points_are_bundled_with_their_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    script_module = project["scripts"]["curator"].split(":")[0]
    assert script_module in recipe.HIDDEN_IMPORTS
    assert project["entry-points"]["napari.manifest"]["mask-curator"] == "curator:napari.yaml"
    assert project["name"] in recipe.COPY_METADATA  # napari finds the plugin through it
    assert "napari" in recipe.COPY_METADATA and "npe2" in recipe.COPY_METADATA
    assert "curator" in recipe.COLLECT_ALL


def test_hidden_imports_exist():
    missing = [m for m in recipe.HIDDEN_IMPORTS if importlib.util.find_spec(m.split(".")[0]) is None]
    ours = [m for m in recipe.HIDDEN_IMPORTS if m.startswith("curator.") and importlib.util.find_spec(m) is None]
    assert not ours, ours
    # third-party: base dependencies must resolve; GUI ones only where the GUI is installed
    gui = {"napari_builtins", "napari_svg", "vispy", "qtpy", "PySide6"}
    assert not [m for m in missing if m.split(".")[0] not in gui], missing


def test_readers_and_codecs_for_every_format_are_included():
    for needed in ("pylibjpeg", "openjpeg", "SimpleITK", "nibabel", "highdicom"):
        assert needed in recipe.HIDDEN_IMPORTS or needed in recipe.COLLECT_ALL, needed


def test_data_files_and_scripts_exist():
    for src, _dest in recipe.DATA_FILES:
        assert (ROOT / src).exists(), src
    assert (ROOT / recipe.ENTRY_SCRIPT).exists()
    spec = (ROOT / "installer" / "mask-curator.spec").read_text()
    assert "import recipe" in spec and "COLLECT(" in spec
    for script in ("build.sh", "smoke.sh"):
        assert (ROOT / "installer" / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_desktop_entry_is_complete():
    text = (ROOT / "resources" / "mask-curator.desktop").read_text()
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for key in ("Name", "Exec", "Icon", "Type", "Categories"):
        assert fields.get(key), key
    assert fields["Type"] == "Application"
    assert (ROOT / "resources" / "icons" / f"{fields['Icon']}.png").exists()
