"""Settings → Run on: Batch relabel in the app runs on the executor chosen there (a plugin's, e.g.
ray), with its cluster address; Cancel closes the job, which stops the executor's tasks (the Ray
plugin's own tests check that closing stops them)."""

from __future__ import annotations

import pytest


def test_batch_runs_on_the_executor_chosen_in_settings(curator_widget, demo_data, monkeypatch, tmp_path):
    import curator.gui.controller as controller
    from curator.gui.dialogs import SettingsDialog

    viewer, widget = curator_widget
    c = widget.controller
    dialog = SettingsDialog(c.settings)
    names = [dialog.executor.itemText(i) for i in range(dialog.executor.count())]
    assert names[0] == "local"
    pytest.importorskip("mask_curator_ray")
    assert "ray" in names
    dialog.executor.setCurrentText("ray")
    dialog.address.setText("auto")
    dialog.apply()
    assert (c.settings.executor, c.settings.executor_address) == ("ray", "auto")
    reloaded = type(c.settings)().load()
    assert (reloaded.executor, reloaded.executor_address) == ("ray", "auto")

    seen = {}
    monkeypatch.setattr(controller, "_in_process", lambda target, *args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(c, "_start", lambda name, job: job.close() or True)  # the job is not run here
    assert c.start_batch(demo_data / "derm")
    assert seen["executor"] == "ray" and seen["executor_options"] == {"address": "auto"}


def test_settings_saved_before_an_option_existed_get_its_default(monkeypatch, tmp_path):
    import json

    from curator.core.engine.training import TrainConfig
    from curator.gui.settings import Settings

    monkeypatch.setattr(Settings, "path", lambda self: tmp_path / "settings.json")
    old = {k: v for k, v in TrainConfig(epochs=12).to_json().items() if k != "min_steps"}
    (tmp_path / "settings.json").write_text(json.dumps({"train": old}))
    s = Settings().load()
    assert s.train.epochs == 12 and s.train.min_steps == TrainConfig().min_steps == 6
