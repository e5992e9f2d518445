"""GUI tests run with a real napari viewer (pytest-qt) and need a display: Xvfb in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")


def pytest_collection_modifyitems(config, items):
    no_display = not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen"
    for item in items:
        if "tests/gui" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.gui)
            if no_display:
                item.add_marker(pytest.mark.skip(reason="no display: run GUI tests under xvfb-run"))


@pytest.fixture(autouse=True)
def _own_settings(tmp_path, monkeypatch):
    """Each GUI test starts from the default user settings: what one test saves through the Settings
    dialog must not reach the next (a saved tau of 0.6 once did)."""
    from curator.gui.settings import Settings

    monkeypatch.setattr(Settings, "path", lambda self: tmp_path / "user-settings.json")


ARTIFACTS = Path(os.environ.get("CURATOR_ARTIFACTS", Path(__file__).resolve().parents[2] / ".venv" / "artifacts"))


@pytest.fixture
def artifacts() -> Path:
    """Where tests leave screenshots for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    from curator.core.jobs import run
    from curator.lab.synthetic import iter_write_demo

    root = tmp_path_factory.mktemp("guidemo") / "demo"
    return run(iter_write_demo(root, n_derm=10, n_ct=2, derm_shape=(192, 256), ct_shape=(16, 64, 64)))


@pytest.fixture(scope="session")
def demo_project(demo_data, tmp_path_factory) -> Path:
    """A project on the demo dermoscopy set with a finished (tiny) batch, for the review tests. Ten
    cases are too few to calibrate the region gate (the batch would withhold every proposal), so
    the gate is fixed, as a user does in Settings: these tests are about the review mechanics."""
    from curator.core.jobs import run
    from curator.core.project.pipeline import UncertaintyConfig, iter_batch
    from curator.core.curation.proposals import ProposalConfig
    from curator.core.engine.training import RelabelConfig, TrainConfig

    proj = tmp_path_factory.mktemp("guiproj") / "proj"
    run(iter_batch(demo_data / "derm", proj, train_cfg=tiny_train(), unc_cfg=UncertaintyConfig(tta=2, threads=2),
                   proposal_cfg=ProposalConfig(tau=0.6, min_confidence=0.5)))
    return proj


def tiny_train():
    from curator.core.engine.training import RelabelConfig, TrainConfig

    return TrainConfig(folds=3, epochs=3, size=64, channels=(8, 16, 32), batch_size=4, threads=2,
                       relabel=RelabelConfig())


@pytest.fixture
def fresh_copy(tmp_path):
    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return copy


@pytest.fixture
def curator_widget(make_napari_viewer, qtbot):
    """A Curator panel docked in a fresh viewer, set to tiny job settings."""
    from dataclasses import replace

    from curator.gui.main_widget import CuratorWidget

    viewer = make_napari_viewer()
    widget = CuratorWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Mask Curator")
    s = widget.controller.settings
    s.train = tiny_train()
    s.uncertainty = replace(s.uncertainty, tta=2, threads=2)
    s.proposal = replace(s.proposal, tau=0.6)
    yield viewer, widget
    if widget.controller.jobs.busy:
        widget.controller.jobs.cancel()
        widget.controller.jobs.wait(60)
    widget.controller.close()
