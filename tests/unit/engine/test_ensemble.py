"""curator.core.engine.ensemble: member tasks train on the masks reviewers decided."""

from __future__ import annotations

import numpy as np
import pytest

from curator.core.engine.ensemble import MemberTask, _reviewed_labels
from curator.core.engine.prepare import PreparedCase
from curator.core.engine.preprocess import PreprocessSpec
from curator.core.engine.training_data import TrainError


def _task(tmp_path, files):
    return MemberTask(name="m", dataset=str(tmp_path), layout=None, models_dir=str(tmp_path), cache_dir=None,
                      config={}, preprocess=PreprocessSpec("rgb2d", (16, 16)).to_json(), labels=(0, 255),
                      train_ids=("a", "b"), label_files=tuple(files))


def test_a_reviewed_mask_replaces_the_given_one_on_the_working_grid(tmp_path):
    given = np.zeros((16, 16), np.uint8)
    prepared = {c: PreparedCase(c, np.zeros((3, 16, 16), np.float16), given, (32, 32), None) for c in "ab"}
    decided = np.zeros((32, 32), np.uint8)
    decided[:, 16:] = 255  # the right half, in the dataset's label values, at the original size
    np.savez_compressed(tmp_path / "a.v1.npz", labels=decided)
    out = _reviewed_labels(prepared, _task(tmp_path, [("a", str(tmp_path / "a.v1.npz"))]))
    assert out["a"].labels[:, 8:].all() and not out["a"].labels[:, :8].any()  # class 1 on the 16 x 16 grid
    assert out["b"] is prepared["b"] and prepared["a"].labels is given  # nothing else touched
    np.savez_compressed(tmp_path / "bad.npz", labels=np.zeros((5, 5), np.uint8))
    with pytest.raises(TrainError, match="shape"):
        _reviewed_labels(prepared, _task(tmp_path, [("a", str(tmp_path / "bad.npz"))]))


def test_a_round_goes_on_from_the_labels_the_previous_round_relabelled_except_trusted_ones(tmp_path):
    from curator.core.engine.ensemble import _carried_labels

    lab = np.zeros((16, 16), np.uint8)
    prepared = {c: PreparedCase(c, np.zeros((3, 16, 16), np.float16), lab, (16, 16), None) for c in "abc"}
    ones = np.ones((16, 16), np.uint8)
    np.savez_compressed(tmp_path / "m.relabelled.npz", a=ones, b=ones, c=ones, d=ones)
    (tmp_path / "m.json").write_text("{}")
    task = MemberTask(name="m2", dataset=str(tmp_path), layout=None, models_dir=str(tmp_path), cache_dir=None,
                      config={}, preprocess={}, labels=(0, 1), train_ids=("a", "b"), probe_ids=("c",),
                      trusted_ids=("b",), init=str(tmp_path / "m.json"))
    carried = _carried_labels(task, prepared)
    assert set(carried) == {"a"}  # b is trusted, c is held out, d is not a case here
    assert _carried_labels(MemberTask(**{**task.__dict__, "init": None}), prepared) == {}
