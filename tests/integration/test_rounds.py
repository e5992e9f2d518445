"""Review rounds that learn (issue 18): decisions and trusted cases feed a fine-tuned ensemble,
which re-scores and re-proposes; trusted masks are never proposed for change."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from curator.core.engine.training import TrainConfig
from curator.core.jobs import run
from curator.core.curation.proposals import ProposalConfig
from curator.core.project.folder import Project
from curator.core.project.pipeline import UncertaintyConfig, iter_batch
from curator.core.project.rounds import iter_rescore
from curator.core.project.scoring import PipelineError
from curator.core.project.store import Store
from curator.lab.synthetic import iter_write_demo

TINY = TrainConfig(folds=3, epochs=2, size=48, channels=(8, 16, 32), batch_size=4, threads=2, relabel=None)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("rounds")
    demo = run(iter_write_demo(root / "demo", n_derm=12, n_ct=2, derm_shape=(96, 128), ct_shape=(8, 32, 32)))
    proj = root / "proj"
    run(iter_batch(demo / "derm", proj, train_cfg=TINY, unc_cfg=UncertaintyConfig(tta=2, threads=2),
                   proposal_cfg=ProposalConfig(tau=0.5, min_confidence=0.5)))
    return proj


def test_a_round_needs_something_reviewed(project):
    with pytest.raises(PipelineError, match="nothing reviewed or trusted"):
        run(iter_rescore(project))


def test_rescore_fine_tunes_on_the_reviewed_masks_and_never_proposes_for_trusted_cases(project):
    from curator.core.project.artifacts import save_mask_version

    p = Project.open(project)
    with Store(p.db_path) as s:
        ids = s.case_ids()
        edited, kept, trusted = ids[0], ids[1], ids[2]
        given = p.open_dataset()[edited].read_mask().array
        fixed = np.zeros_like(given)
        fixed[20:60, 30:90] = given.max()
        path = save_mask_version(p, edited, 1, "edited", fixed)
        s.decide(edited, "edited", mask_path=str(path))
        s.decide(kept, "kept")
        s.set_trusted(trusted)
        before = {r["case_id"]: r for r in csv.DictReader(open(project / "ranking.csv"))}
    res = run(iter_rescore(project, epochs=1))
    assert res.round == 1 and res.evidence == 3 and res.corrected == 1
    p = Project.open(project)
    assert p.current_models_dir == project / "models" / "round-1"
    rounds = json.loads((project / "models" / "rounds.json").read_text())["rounds"]
    assert rounds[-1]["round"] == 1 and rounds[-1]["status"] == "scored"
    base_plan = json.loads((project / "models" / "train.json").read_text())
    round_plan = json.loads((project / "models" / "round-1" / "train.json").read_text())
    assert round_plan["folds"] == base_plan["folds"]  # every case still scored only out of fold
    assert round_plan["config"]["epochs"] == 1 and round_plan["config"]["relabel"] is None
    for spec in p.member_specs():
        doc = json.loads(spec.read_text())
        old = json.loads((project / "models" / spec.name).read_text())
        assert doc["info"]["initialised_from"] == spec.name and doc["info"]["trusted"] >= 2
        assert set(doc["trained_on"]) == set(old["trained_on"])
    with Store(p.db_path) as s:
        prop = s.proposal(trusted)
        assert "a reviewer trusts this mask" in (prop["config"] or {}).get("withheld", "")
        assert s.decision(edited)["decision"] == "edited"  # decisions untouched
        actions = [e["action"] for e in s.audit_log()]
        assert "rescore:start" in actions and "rescore:done" in actions
    after = {r["case_id"]: r for r in csv.DictReader(open(project / "ranking.csv"))}
    assert set(after) == set(before) and any(after[c]["score"] != before[c]["score"] for c in after)
    status = {r["case_id"]: r for r in csv.DictReader(open(project / "proposals.csv"))}
    assert status[trusted]["status"] == "withheld"


def test_an_interrupted_round_resumes_without_training_again(project):
    """A round whose training finished but whose scoring did not (killed) is scored on the next run,
    not trained a second time."""
    p = Project.open(project)
    doc = json.loads(p.rounds_path.read_text())
    doc["rounds"][-1]["status"] = "trained"
    p.rounds_path.write_text(json.dumps(doc))
    stamp = {s.name: s.stat().st_mtime_ns for s in p.member_specs()}
    res = run(iter_rescore(project))
    assert res.round == 1
    assert {s.name: s.stat().st_mtime_ns for s in p.member_specs()} == stamp
    assert json.loads(p.rounds_path.read_text())["rounds"][-1]["status"] == "scored"


def test_trust_and_rescore_from_the_command_line(project, tmp_path):
    from tests.integration.test_cli import curator

    with Store(Project.open(project).db_path) as s:
        ids = s.case_ids()
    listing = tmp_path / "trusted.csv"
    listing.write_text(f"case_id,note\n{ids[3]},checked by Dr A\n# a comment\n{ids[4]}\n")
    bad = curator("trust", "--project", project, "nope", check=False)
    assert bad.returncode == 1 and "not in the project: nope" in bad.stderr
    out = curator("trust", "--project", project, "--file", listing)
    assert "trusted 2 case(s); 3 trusted in the project" in out.stdout
    out = curator("rescore", "--project", project, "--epochs", "1", "--threads", "2", "-q")
    assert out.stdout.startswith("round 2: fine-tuned 3 member(s) on 5 reviewed case(s) (1 with a corrected mask)")
    with Store(Project.open(project).db_path) as s:
        assert {ids[3], ids[4]} <= s.trusted()
        assert all("trusts this mask" in s.proposal(c)["config"]["withheld"] for c in (ids[2], ids[3], ids[4]))
    assert Project.open(project).current_models_dir.name == "round-2"
    out = curator("queue", "--project", project, "--rounds", "2")
    assert "re-scored round 1 after 2 review(s): fine-tuned on 3 reviewed case(s), 1 with a corrected mask" in out.stdout
    assert "re-scored round 2" in out.stdout
    out = curator("trust", "--project", project, ids[4], "--remove")
    assert "untrusted 1 case(s); 2 trusted" in out.stdout


def test_round_modes_set_the_training():
    from curator.core.project.rounds import rescore_config

    base = TrainConfig(epochs=40, lr=2e-3)
    ft = rescore_config(base)
    assert (ft.epochs, ft.lr, ft.relabel, ft.pretrain_epochs) == (10, 1e-3, None, 0)
    assert rescore_config(base, mode="retrain") == base
    with pytest.raises(PipelineError, match="unknown re-scoring mode"):
        rescore_config(base, mode="nope")
