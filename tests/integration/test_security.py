"""Models that cannot run code, and a full or read-only disk: `curator batch --model` and friends."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from curator.core.jobs import run
from tests.integration.test_cli import curator


@pytest.fixture(scope="module")
def small_isic(tmp_path_factory) -> Path:
    from curator.lab.synthetic import iter_write_isic

    return run(iter_write_isic(tmp_path_factory.mktemp("sec") / "isic", 4, shape=(48, 64)))


PREPROCESS = {"kind": "rgb2d", "size": [32, 32]}
SPEC = {"arch": "unet", "spatial_dims": 2, "in_channels": 3, "labels": [0, 1], "channels": [4, 8, 16],
        "strides": [2, 2], "num_res_units": 0, "preprocess": PREPROCESS}


def _evil_torchscript(path: Path, victim: Path) -> None:
    """A TorchScript model that overwrites ``victim`` (any file it can reach) when it runs."""
    import torch

    src = path.with_suffix(".py")
    src.write_text(
        "import torch\n"
        "class Evil(torch.nn.Module):\n"
        "    def __init__(self, target: str):\n"
        "        super().__init__()\n"
        "        self.target = target\n"
        "    def forward(self, x):\n"
        "        t = torch.from_file(self.target, shared=True, size=8, dtype=torch.uint8)\n"
        "        t.fill_(88)\n"
        "        y = torch.cat([x[:, :1] * 0 + 1, x[:, :1] * 0], 1)\n"
        "        return y + (t.sum() * 0).to(x.dtype)\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("evil_model", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.jit.script(mod.Evil(str(victim))).save(str(path))


def test_a_torchscript_model_is_refused_without_the_flag_and_a_checksum(small_isic, tmp_path):
    from curator.core.engine.models import file_sha256

    victim = tmp_path / "outside" / "precious.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"original")
    models = tmp_path / "models"
    models.mkdir()
    _evil_torchscript(models / "evil.ts", victim)
    spec = models / "evil.json"
    spec.write_text(json.dumps({"name": "evil", "torchscript": "evil.ts", "spec": SPEC}))
    out = curator("batch", small_isic, "--project", tmp_path / "p1", "--model", spec, "--tta", "1", "-q", check=False)
    assert out.returncode == 1 and "--allow-torchscript" in out.stderr and "Traceback" not in out.stderr
    assert victim.read_bytes() == b"original"
    out = curator("batch", small_isic, "--project", tmp_path / "p2", "--model", spec, "--allow-torchscript", "--tta",
                  "1", "-q", check=False)
    assert out.returncode == 1 and "sha256" in out.stderr and victim.read_bytes() == b"original"
    doc = json.loads(spec.read_text())
    doc["sha256"] = "0" * 64
    spec.write_text(json.dumps(doc))
    out = curator("batch", small_isic, "--project", tmp_path / "p3", "--model", spec, "--allow-torchscript", "--tta",
                  "1", "-q", check=False)
    assert out.returncode == 1 and "does not match" in out.stderr and victim.read_bytes() == b"original"
    # the user's explicit word and the right checksum: it runs (and does what it does)
    doc["sha256"] = file_sha256(models / "evil.ts")
    spec.write_text(json.dumps(doc))
    curator("batch", small_isic, "--project", tmp_path / "p4", "--model", spec, "--allow-torchscript", "--tta", "1", "-q")
    assert victim.read_bytes() == b"XXXXXXXX"


def test_spec_paths_are_confined_to_the_specs_folder(tmp_path):
    from curator.core.engine.models import ModelSpec, build_network, load_member, save_member

    js = save_member(tmp_path / "m" / "member", build_network(ModelSpec.from_json(SPEC)), ModelSpec.from_json(SPEC))
    assert load_member(js).name == "member"
    doc = json.loads(js.read_text())
    for weights in ("/etc/passwd", "../member.pt", str(tmp_path / "m" / ".." / "x.pt")):
        js.write_text(json.dumps({**doc, "weights": weights}))
        with pytest.raises(ValueError, match="outside the spec's folder"):
            load_member(js)
    (tmp_path / "m" / "link.pt").symlink_to("/etc/passwd")  # a link inside that leads outside
    js.write_text(json.dumps({**doc, "weights": "link.pt", "sha256": None}))
    with pytest.raises(ValueError, match="outside the spec's folder"):
        load_member(js)
    js.write_text(json.dumps({**doc, "torchscript": "/etc/passwd"}))
    with pytest.raises(ValueError, match="--allow-torchscript"):
        load_member(js)
    with pytest.raises(ValueError, match="outside the spec's folder"):
        load_member(js, allow_torchscript=True)


def test_weights_that_are_not_pytorch_are_a_clear_error(small_isic, tmp_path):
    import torch

    from curator.core.engine.models import load_member

    d = tmp_path / "m"
    d.mkdir()
    (d / "w.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    spec = d / "w.json"
    spec.write_text(json.dumps({"name": "w", "weights": "w.pt", "spec": SPEC}))
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_member(spec)
    out = curator("batch", small_isic, "--project", tmp_path / "p", "--model", spec, "--tta", "1", "-q", check=False)
    assert out.returncode == 1 and "not a PyTorch weights file" in out.stderr and "Traceback" not in out.stderr
    # a pickle that would run code is refused by weights_only loading
    torch.save({"x": torch.zeros(1), "f": os.system}, d / "w.pt")
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_member(spec)
    # weights of another network
    torch.save({"x": torch.zeros(1)}, d / "w.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_member(spec)


def _run_main(argv):
    import contextlib
    import io

    from curator import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "no permission")])
def test_batch_on_a_full_or_read_only_disk_says_so(small_isic, tmp_path, monkeypatch, code, words):
    from curator.core.io import files as cio

    real = cio.atomic_path

    def failing(dest, **kw):
        raise OSError(code, os.strerror(code), str(dest))

    monkeypatch.setattr(cio, "atomic_path", failing)
    rc, out, err = _run_main(["batch", small_isic, "--project", tmp_path / "p", "--folds", "2", "--epochs", "1",
                              "--size", "32", "--channels", "4,8,16", "--tta", "1", "-q"])
    monkeypatch.setattr(cio, "atomic_path", real)
    assert rc == 1 and words in err and "Traceback" not in err and "unexpected" not in err, err


def test_batch_into_a_read_only_project_folder(small_isic, tmp_path):
    """The real thing where permissions apply (as root: without the override capabilities)."""
    from tests.integration.test_bad_input import _run_cli, _unprivileged

    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("root without setpriv: permissions cannot be made to apply")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, out, err = _run_cli(["batch", small_isic, "--project", ro / "p", "--epochs", "1", "--folds", "2",
                                 "-q"], prefix)
    finally:
        ro.chmod(0o755)
    assert rc == 1 and "Traceback" not in err and ("permission" in err.lower()), err
