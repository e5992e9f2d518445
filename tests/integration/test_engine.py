"""The uncertainty engine end to end: `curator train` then `curator uncertainty` on tiny synthetic sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curator.core.jobs import run
from curator.lab.synthetic import iter_write_isic, iter_write_msd
from tests.integration.test_cli import curator

FAST = ["--epochs", "2", "--size", "32", "--channels", "4,8,16", "--batch-size", "4", "--threads", "2", "-q"]


@pytest.fixture(scope="module")
def isic(tmp_path_factory):
    root = tmp_path_factory.mktemp("isic")
    return run(iter_write_isic(root / "isic", 6, shape=(48, 64)))


def test_train_then_uncertainty_out_of_fold(isic, tmp_path):
    proj = tmp_path / "proj"
    out = curator("train", isic, "--project", proj, "--folds", "3", *FAST)
    assert "trained 3 member(s)" in out.stdout
    specs = sorted((proj / "models").glob("member-*.json"))
    specs = [p for p in specs if not p.name.endswith("relabelled.json")]
    assert len(specs) == 3
    trained_on = [set(json.loads(p.read_text())["trained_on"]) for p in specs]
    assert all(len(t) == 4 for t in trained_on)
    out = curator("uncertainty", "--project", proj, "--tta", "4", "--mc-dropout", "2", "--threads", "2", "-q")
    assert "6 computed" in out.stdout
    from curator.core.engine.uncertainty import load_maps

    maps = sorted((proj / "maps").glob("*.npz"))
    assert len(maps) == 6
    m = load_maps(maps[0])
    assert m.meta["predictions"] == 8 and len(m.meta["members"]) == 1  # 1 held-out member x 4 TTA x 2 MC
    held_out_by = m.meta["members"][0]["name"]
    spec = json.loads((proj / "models" / f"{held_out_by}.json").read_text())
    assert m.meta["case_id"] not in spec["trained_on"]  # out of fold
    for k in ("mean_prob", "entropy", "mutual_info", "aleatoric", "kwon_aleatoric", "kwon_epistemic", "variance",
              "p_given"):
        assert k in m.maps and m.maps[k].dtype == np.float16
    assert m.at_original("entropy").shape == (48, 64)
    # a second run finds everything up to date (resume)
    out = curator("uncertainty", "--project", proj, "--tta", "4", "--mc-dropout", "2", "--threads", "2", "-q")
    assert "0 computed, 6 up to date" in out.stdout


def test_train_resumes_and_refuses_other_settings(isic, tmp_path):
    proj = tmp_path / "proj"
    curator("train", isic, "--project", proj, "--folds", "2", *FAST)
    out = curator("train", isic, "--project", proj, "--folds", "2", *FAST)
    assert "trained 2 member(s)" in out.stdout  # nothing retrained
    out = curator("train", isic, "--project", proj, "--folds", "3", *FAST, check=False)
    assert out.returncode == 1 and "other settings" in out.stderr


def test_project_inside_dataset_is_refused(isic):
    out = curator("train", isic, "--project", isic / "proj", *FAST, check=False)
    assert out.returncode == 1 and "must not lie inside the dataset" in out.stderr
    assert not (isic / "proj").exists()


def test_uncertainty_without_models_is_a_clear_error(tmp_path):
    out = curator("uncertainty", "--project", tmp_path / "nothing", check=False)
    assert out.returncode == 1 and "not a Mask Curator project" in out.stderr


def test_user_supplied_torchscript_model(isic, tmp_path):
    import torch

    from curator.core.engine.models import ModelSpec, build_network
    from curator.core.engine.preprocess import PreprocessSpec

    spec = ModelSpec(channels=[4, 8, 16], strides=[2, 2], num_res_units=0,
                     preprocess=PreprocessSpec("rgb2d", (32, 32)))
    net = build_network(spec).eval()
    ts = torch.jit.trace(net, torch.randn(1, 3, 32, 32))
    ts.save(str(tmp_path / "mine.ts"))
    from curator.core.engine.models import file_sha256

    # TorchScript runs code: it loads only on the user's word, and only the file whose checksum they gave
    (tmp_path / "mine.json").write_text(json.dumps({"torchscript": "mine.ts", "sha256": file_sha256(tmp_path / "mine.ts"),
                                                    "spec": spec.to_json()}))
    proj = tmp_path / "proj"
    from curator.core.project.folder import Project

    Project.create(proj, isic)
    out = curator("uncertainty", "--project", proj, "--model", tmp_path / "mine.json", "--tta", "2", "-q", check=False)
    assert out.returncode == 1 and "--allow-torchscript" in out.stderr
    out = curator("uncertainty", "--project", proj, "--model", tmp_path / "mine.json", "--allow-torchscript",
                  "--tta", "2", "-q")
    assert "6 computed" in out.stdout


def test_3d_msd_train_and_uncertainty(tmp_path):
    data = run(iter_write_msd(tmp_path / "msd", 3, shape=(12, 32, 32)))
    proj = tmp_path / "proj"
    curator("train", data, "--project", proj, "--folds", "3", "--epochs", "1", "--channels", "4,8,16",
            "--patch", "8,24,24", "--batch-size", "2", "--threads", "2", "-q")
    out = curator("uncertainty", "--project", proj, "--tta", "2", "--threads", "2", "-q")
    assert "3 computed" in out.stdout
    from curator.core.engine.uncertainty import load_maps

    m = load_maps(next((proj / "maps").glob("*.npz")))
    assert m.maps["mean_prob"].shape[0] == 3  # background, liver, lesion
    assert m.at_original("variance").shape == (12, 32, 32)
