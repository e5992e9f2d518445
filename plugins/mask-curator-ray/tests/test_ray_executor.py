"""The Ray executor gives exactly the local executor's models, maps, ranking and proposals; its
tasks write into the project folder (not through the driver); Cancel stops its tasks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from curator.core.jobs import Cancelled, run
from curator.core.project.pipeline import UncertaintyConfig, iter_batch
from curator.core.curation.proposals import ProposalConfig
from curator.core.engine.training import TrainConfig

# tiny and deterministic: one thread per task (torch's CPU sums depend on the thread count), a
# fixed proposal gate so that calibration is no factor
TRAIN = dict(folds=2, epochs=2, size=32, channels=(4, 8, 16), batch_size=4, threads=1, seed=3)
UNC = dict(tta=2, threads=1)
PROP = dict(tau=0.5, min_confidence=0.5)


def _batch(data, project, executor, **kw):
    return iter_batch(data, project, train_cfg=TrainConfig(**{**TRAIN, **kw}), unc_cfg=UncertaintyConfig(**UNC),
                      proposal_cfg=ProposalConfig(**PROP), executor=executor)


def test_ray_gives_the_local_ranking_and_proposals(ray_session, tiny_demo, tmp_path, monkeypatch):
    local = run(_batch(tiny_demo, tmp_path / "local", "local"))
    # the Ray tasks, not this process, write members and maps into the project folder: here saving
    # them fails (patched where the training and the scorer look them up)
    import curator.core.engine.training as training
    import curator.core.project.scoring as scoring

    def refuse(*a, **k):
        raise AssertionError("the driver wrote a result that a Ray task should have written")

    monkeypatch.setattr(training, "save_member", refuse)
    monkeypatch.setattr(scoring, "save_maps", refuse)
    remote = run(_batch(tiny_demo, tmp_path / "ray", "ray"))
    monkeypatch.undo()

    assert remote.ranked == local.ranked and len(remote.ranked) == 8
    for name in ("ranking.csv", "proposals.csv"):
        assert (tmp_path / "ray" / name).read_text() == (tmp_path / "local" / name).read_text()
    for member in sorted((tmp_path / "local" / "models").glob("*.pt")):
        assert (tmp_path / "ray" / "models" / member.name).read_bytes() == member.read_bytes()
    lmaps = sorted((tmp_path / "local" / "maps").glob("*.npz"))
    assert [p.name for p in lmaps] == [p.name for p in sorted((tmp_path / "ray" / "maps").glob("*.npz"))]
    for p in lmaps:
        with np.load(p) as a, np.load(tmp_path / "ray" / "maps" / p.name) as b:
            for k in a.files:
                assert np.array_equal(a[k], b[k]), (p.name, k)
    lprops = sorted(p.name for p in (tmp_path / "local" / "proposals").glob("*.png"))
    assert lprops and lprops == sorted(p.name for p in (tmp_path / "ray" / "proposals").glob("*.png"))
    for name in lprops:
        assert (tmp_path / "ray" / "proposals" / name).read_bytes() == (tmp_path / "local" / "proposals" / name).read_bytes()


def test_cancel_stops_the_ray_tasks(ray_session, ray_processes, tiny_demo, tmp_path):
    """Cancel in the app closes the batch's job generator (curator.core.jobs.run with should_stop,
    as the job's process does): the member tasks running on Ray stop."""
    seen = {}

    def training_on_ray():
        seen.update(ray_processes("ray::_train_member"))
        return bool(seen)

    job = _batch(tiny_demo, tmp_path / "p", "ray", epochs=200)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        run(job, should_stop=training_on_ray)
    assert seen, "no member task ever ran"
    deadline = time.monotonic() + 20
    while ray_processes("ray::_train_member") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ray_processes("ray::_train_member"), "member tasks still run after Cancel"
    assert time.monotonic() - t0 < 120
    assert not list((Path(tmp_path) / "p" / "models").glob("member-*.json"))  # 200 epochs never finished
