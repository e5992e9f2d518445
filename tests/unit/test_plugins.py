"""The extension points the core defines: model architectures (``mask_curator.models``) and
executors (``mask_curator.executors``), found through installed distributions' entry points."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from curator.core.project.executors import ExecutorError, LocalExecutor, executor_names, make_executor


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution installed on sys.path (a dist-info folder with entry points, and its module),
    as `pip install` leaves it."""
    (tmp_path / "tinyplug.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class TinyConv(nn.Conv2d):
            pass

        def build(spec):
            return TinyConv(spec.in_channels, spec.out_channels, 3, padding=1)

        class EchoExecutor:
            name = "echo"
            remote = False

            def __init__(self, **options):
                self.options = options

            def close(self):
                pass
    """))
    info = tmp_path / "tinyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mask_curator.models]\ntinyconv = tinyplug:build\n\n"
                                           "[mask_curator.executors]\necho = tinyplug:EchoExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("tinyplug", None)


def test_a_model_plugin_builds_its_architecture(installed_plugin):
    import torch

    from curator.core.engine.models import ModelSpec, build_network

    net = build_network(ModelSpec(arch="tinyconv", in_channels=3, labels=[0, 1, 2]))
    assert type(net).__module__ == "tinyplug"
    assert net(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_an_unknown_architecture_says_which_exist():
    from curator.core.engine.models import ModelSpec, build_network

    with pytest.raises(ValueError, match="unknown model architecture 'nosuch'.*unet, segresnet"):
        build_network(ModelSpec(arch="nosuch"))


def test_an_executor_plugin_is_found_by_name_with_its_options(installed_plugin):
    assert "echo" in executor_names()
    ex = make_executor("echo", address="auto", unused=None)
    assert type(ex).__module__ == "tinyplug" and ex.options == {"address": "auto"}


def test_local_is_the_default_executor_and_takes_no_address():
    assert isinstance(make_executor(None), LocalExecutor) and isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(ExecutorError, match="--address is for a cluster executor"):
        make_executor("local", address="auto")


def test_a_missing_executor_says_in_one_line_how_to_install_it(monkeypatch):
    import curator.core.project.executors as executors

    monkeypatch.setattr(executors, "_entry_points", lambda: {})
    with pytest.raises(ExecutorError) as err:
        make_executor("ray")
    msg = str(err.value)
    assert "\n" not in msg and "no executor 'ray' is installed" in msg and "pip install -e plugins/mask-curator-ray" in msg
    with pytest.raises(ExecutorError, match="no executor 'dask' is installed.*mask_curator.executors"):
        make_executor("dask")


def test_the_core_never_imports_ray():
    """`curator batch` without --executor ray must work where Ray is not installed."""
    import subprocess

    code = ("import sys, curator.cli, curator.core.project.pipeline, curator.core.project.executors, "
            "curator.core.project.scoring, curator.core.engine.ensemble; "
            "curator.core.project.executors.make_executor('local'); "
            "assert not any(m == 'ray' or m.startswith(('ray.', 'mask_curator_ray')) for m in sys.modules), "
            "sorted(m for m in sys.modules if 'ray' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batch_with_a_missing_executor_fails_in_one_line_before_writing(tmp_path, monkeypatch, capsys):
    import curator.core.project.executors as executors
    from curator import cli

    monkeypatch.setattr(executors, "_entry_points", lambda: {})
    data = tmp_path / "data"
    data.mkdir()
    rc = cli.main(["batch", str(data), "--project", str(tmp_path / "p"), "--executor", "ray", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "pip install -e plugins/mask-curator-ray" in err
    assert not (tmp_path / "p").exists()
    rc = cli.main(["batch", str(data), "--project", str(tmp_path / "p"), "--address", "auto", "-q"])
    assert rc == 1 and "--address is for a cluster executor" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
