"""`curator decide` goes through the review session: the same decisions made with the command line
and with the app's session leave the same store rows and the same mask files; the decisions that
need no pixels are recorded for a case that cannot be read, and accepting it says why it cannot be."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from curator.core.project.session import ReviewSession
from curator.core.project.store import Store


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from tests.review_project import make_review_project

    return make_review_project(tmp_path_factory.mktemp("decide"))


def _cli(*argv) -> tuple[int, str, str]:
    from curator import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def _regions(proj, case_id) -> list[int]:
    with Store(proj / "curator.db") as store:
        return sorted(int(r["id"]) for r in store.proposal(case_id)["regions"])


def _by_cli(proj) -> None:
    first = _regions(proj, "case_0")[0]
    for argv in (["case_0", "accept", "--regions", first, "--note", "one region"], ["case_1", "accept"],
                 ["case_2", "exclude", "--note", "blurred"], ["case_3", "keep"], ["case_1", "reopen"],
                 ["case_1", "flag", "--note", "ask an expert"], ["case_3", "note", "--note", "checked twice"]):
        rc, out, err = _cli("decide", "--project", proj, *argv, "--reviewer", "ann")
        assert rc == 0, err
        assert out.startswith(f"{argv[0]}: ")


def _by_session(proj) -> None:
    """The same decisions, made as the app makes them: show the case, then press the button."""
    s = ReviewSession(reviewer="ann")
    s.open_project(proj)
    s.goto("case_0")
    first = min(s.accepted_regions)
    for rid in s.accepted_regions - {first}:
        s.toggle_region(rid, False)
    assert s.accept(note="one region")
    assert s.goto("case_1") and s.accept()
    assert s.goto("case_2") and s.exclude(note="blurred")
    assert s.goto("case_3") and s.keep()
    assert s.goto("case_1") and s.reopen() and s.flag(note="ask an expert")
    assert s.goto("case_3")
    s.set_note("checked twice")
    s.close()


def _record(proj) -> dict:
    """What the decisions left: decision rows, audit rows and proposals (times and ids left out,
    paths relative to the project) and the bytes of every mask file the decisions wrote."""
    root = str(proj)
    with Store(proj / "curator.db") as store:
        db = store.db
        decisions = [{k: v for k, v in dict(r).items() if k != "updated"}
                     for r in db.execute("SELECT * FROM decisions ORDER BY case_id")]
        audit = [{k: v for k, v in dict(r).items() if k not in ("id", "ts")}
                 for r in db.execute("SELECT * FROM audit WHERE case_id IS NOT NULL ORDER BY id")]
        proposals = [dict(r) for r in db.execute("SELECT * FROM proposals ORDER BY case_id")]
    text = json.dumps([decisions, audit, proposals], sort_keys=True, default=str).replace(root, "PROJECT")
    files = {str(p.relative_to(proj)): p.read_bytes() for p in sorted(proj.rglob("*"))
             if p.is_file() and p.parent.name not in ("maps",) and p.suffix != ".db" and "-wal" not in p.name
             and "-shm" not in p.name and "proposals" not in p.parts}
    return {"rows": json.loads(text), "files": files}


def test_decide_through_the_cli_and_through_the_session_record_the_same(template, tmp_path):
    from tests.review_project import copy_project

    a, b = copy_project(template, tmp_path / "cli"), copy_project(template, tmp_path / "app")
    before = _record(a)
    _by_cli(a)
    _by_session(b)
    by_cli, by_app = _record(a), _record(b)
    assert by_cli["rows"] == by_app["rows"]
    assert by_cli["files"].keys() == by_app["files"].keys() and by_cli["files"] == by_app["files"]
    decided = {d["case_id"]: d for d in by_cli["rows"][0]}
    assert decided["case_0"]["decision"] == "accepted" and decided["case_0"]["regions"] == json.dumps(
        [_regions(a, "case_0")[0]])
    assert decided["case_1"]["decision"] == "flagged" and decided["case_1"]["note"] == "ask an expert"
    assert decided["case_2"]["decision"] == "excluded" and decided["case_3"]["note"] == "checked twice"
    assert set(by_cli["files"]) - set(before["files"])  # the accepted masks were kept as files


def test_accepting_at_the_batch_threshold_keeps_the_batch_proposal_and_its_run(template, tmp_path):
    """Accepting the proposal as the batch made it must not store it again as the app's own: the
    decision names the model run that proposed it."""
    from tests.review_project import copy_project

    proj = copy_project(template, tmp_path / "p")
    with Store(proj / "curator.db") as store:
        made = store.proposal("case_1")
    s = ReviewSession()
    s.open_project(proj)
    assert s.goto("case_1") and s.accept()
    s.close()
    with Store(proj / "curator.db") as store:
        after, d = store.proposal("case_1"), store.decision("case_1")
    assert after["run_id"] == made["run_id"] and after["config"] == made["config"]
    assert d["model_run"] == made["run_id"]


def test_a_case_that_cannot_be_read_can_be_excluded_but_not_accepted(tmp_path):
    from tests.review_project import make_review_project

    proj = make_review_project(tmp_path, n=3)
    (tmp_path / "data" / "images" / "case_0.png").write_bytes(b"not a png at all")
    rc, _out, err = _cli("decide", "--project", proj, "case_0", "accept")
    assert rc == 1 and "case_0 cannot be accepted:" in err and "Traceback" not in err
    rc, out, err = _cli("decide", "--project", proj, "case_0", "exclude", "--note", "file is damaged")
    assert rc == 0 and out.strip() == "case_0: excluded (locked)", err
    with Store(proj / "curator.db") as store:
        d = store.decision("case_0")
    assert d["decision"] == "excluded" and d["note"] == "file is damaged"


def test_decide_names_what_it_cannot_do(template, tmp_path):
    from tests.review_project import copy_project

    proj = copy_project(template, tmp_path / "p")
    rc, _out, err = _cli("decide", "--project", proj, "no_such_case", "keep")
    assert rc == 1 and "no case 'no_such_case'" in err
    rc, _out, err = _cli("decide", "--project", proj, "case_3", "accept")  # nothing proposed there
    assert rc == 1 and "case_3 has no proposed change to accept" in err
    rc, _out, err = _cli("decide", "--project", proj, "case_0", "accept", "--regions", "99")
    assert rc == 1 and "case_0 has no change region 99" in err
    assert _cli("decide", "--project", proj, "case_0", "keep")[0] == 0
    rc, _out, err = _cli("decide", "--project", proj, "case_0", "exclude")
    assert rc == 1 and "case_0 is locked (kept)" in err
