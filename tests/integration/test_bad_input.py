"""The bad-input corpus (tests/integration/corpus.py) through `curator info`, `info --deep` and `batch`.

For every malformed dataset: no crash (no traceback, no "unexpected error"), a message per file
naming the file and the problem, the bad case isolated (every other case usable), nothing silently
wrong. `info` runs over the whole corpus in the default test run; `batch` and `export` over it are
slow (``-m slow``), with a few representative entries in the default run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import ENTRIES, FAMILIES, Entry, build, restore_permissions

BY_NAME = {e.name: e for e in ENTRIES}
TINY = ["--folds", "2", "--epochs", "1", "--size", "32", "--channels", "4,8,16", "--batch-size", "4",
        "--threads", "2", "--tta", "1", "--patch", "8,32,32", "--spacing", "6,6,6", "--no-relabel", "-q"]


def test_the_corpus_is_large_and_covers_every_family():
    assert len(ENTRIES) >= 90
    assert {e.family for e in ENTRIES} == set(FAMILIES)
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)


def _run_main(argv) -> tuple[int, str, str]:
    """``curator ARGV`` in this process (fast); an exception escaping main is a crash."""
    from curator import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def _unprivileged() -> list[str] | None:
    """A command prefix under which file permissions apply to this process: nothing when not root;
    as root, without the capabilities that override them (``setpriv``); None when unavailable."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search",
                            "--inh-caps=-dac_override,-dac_read_search", sys.executable, "-c",
                            "import os; print(os.access('/proc/1/root', os.R_OK))"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


def _run_cli(argv, prefix=()) -> tuple[int, str, str]:
    env = dict(os.environ, CURATOR_PROGRESS="0")
    p = subprocess.run([*prefix, sys.executable, "-m", "curator.cli", *map(str, argv)], capture_output=True, text=True,
                       env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def run_info(e: Entry, root: Path, *, deep: bool) -> tuple[int, str, str]:
    argv = ["info", root, "--json"] + (["--deep"] if deep else [])
    if e.unprivileged:
        prefix = _unprivileged()
        if prefix is None:
            pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
        return _run_cli(argv, prefix)
    return _run_main(argv)


def assess(e: Entry, rc: int, out: str, err: str, *, deep: bool) -> list[str]:
    """What is wrong with `info --json`'s answer for entry ``e`` (empty: as expected)."""
    bad = []
    if "Traceback" in err or "unexpected error" in err:
        return [f"crashed: {err.strip()[-400:]}"]
    ex = e.expect
    try:
        data = json.loads(out)
    except ValueError:
        return [f"no JSON (rc {rc}): {err.strip()[-300:]}"]
    if ex.outcome == "dataset_error":
        if rc != 1:
            bad.append(f"expected the folder to be refused (exit 1), got {rc}")
        msg = " ".join(p["message"] for p in data.get("problems", []))
        if ex.names and ex.names not in msg:
            bad.append(f"refusal does not name {ex.names!r}: {msg[:300]}")
        if "error:" not in err:
            bad.append("no one-line error on stderr")
        return bad
    if rc != 0:
        return [f"info exited {rc}: {err.strip()[-300:]}"]
    cases = {c["id"]: c for c in data["cases"]}
    checked = deep or not ex.deep
    # every message names a file: the case's image or mask (or the series folder)
    for c in data["cases"]:
        names = {Path(c["image"]).name, Path(c["mask"]).name if c["mask"] else None, c["id"]}
        for p in c["problems"]:
            if not any(n and n in p["message"] for n in names):
                bad.append(f"{c['id']}: message names no file: {p['message'][:200]}")
    target = ex.case
    if ex.outcome in ("case_error", "case_warning"):
        if target not in cases:
            return bad + [f"case {target!r} missing; cases: {sorted(cases)[:8]}"]
        probs = cases[target]["problems"]
        sev = "error" if ex.outcome == "case_error" else "warning"
        hits = [p for p in probs if p["code"] in ex.codes and p["severity"] == sev]
        if checked:
            if not hits:
                bad.append(f"{target}: no {sev} {ex.codes}; got {[(p['code'], p['message'][:120]) for p in probs]}")
            elif ex.names and not any(ex.names in p["message"] for p in hits):
                bad.append(f"{target}: message does not name {ex.names!r}: {hits[0]['message'][:200]}")
        if ex.outcome == "case_warning" and any(p["severity"] == "error" for p in probs):
            bad.append(f"{target}: an error where a warning was expected: {probs}")
    others = [c for cid, c in cases.items() if cid != target]
    for c in others:
        errors = [p for p in c["problems"] if p["severity"] == "error"]
        if errors:
            bad.append(f"another case has an error: {c['id']}: {errors[0]['message'][:200]}")
    if ex.outcome == "dataset_warning":
        hits = [p for p in data["problems"] if p["code"] in ex.codes]
        if not hits:
            bad.append(f"no dataset warning {ex.codes}; got {data['problems']}")
        elif ex.names and not any(ex.names in p["message"] for p in hits):
            bad.append(f"dataset warning does not name {ex.names!r}: {hits[0]['message'][:200]}")
    if ex.outcome == "ok":
        warned = [(c["id"], p["code"]) for c in data["cases"] for p in c["problems"]]
        if warned:
            bad.append(f"expected no problems, got {warned}")
    return bad


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data):
    base = tmp_path_factory.mktemp("corpus")
    built = {e.name: build(e, base, shared_data) for e in ENTRIES}
    yield built
    restore_permissions(base)


@pytest.mark.parametrize("deep", [False, True], ids=["header", "deep"])
def test_info_on_every_corpus_entry(corpus, deep):
    """`curator info --json` (and `--deep`) on all the corpus: 0 crashes, every message names the
    file and the problem, the bad case isolated. Failures are collected and shown together."""
    failures = {}
    prefix = _unprivileged()
    for e in ENTRIES:
        if e.unprivileged and prefix is None:
            continue
        rc, out, err = run_info(e, corpus[e.name], deep=deep)
        bad = assess(e, rc, out, err, deep=deep)
        if bad:
            failures[e.name] = bad
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_info_text_output_never_crashes_and_names_the_file(corpus):
    """The table `curator info` prints (not JSON) for a few entries of each family."""
    seen = set()
    for e in ENTRIES:
        if e.family in seen or e.unprivileged:
            continue
        seen.add(e.family)
        rc, out, err = _run_main(["info", corpus[e.name]])
        assert "Traceback" not in err and "unexpected error" not in err, err
        if e.expect.outcome == "dataset_error":
            assert rc == 1 and err.startswith("curator info: error:"), err
        else:
            assert rc == 0 and "summary:" in out
            if e.expect.outcome == "case_error" and not e.expect.deep:
                assert e.expect.names in out, out


# -- batch over the corpus ----------------------------------------------------------------------------

# in the default run: the entries that crashed or were silently wrong in the issue (the rest: -m slow)
DEFAULT_BATCH = ["trunc_niigz_image", "label_300", "long_name_240", "formula_names", "grey_0_128_255",
                 "stray_2_7_in_01", "bomb_png_9000", "symlink_loop_dir", "self_link"]


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in filenames + dirnames:
            p = Path(dirpath) / n
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def _ranked(project: Path) -> list[str]:
    from curator.core.io.files import csv_unescape

    with open(project / "ranking.csv", newline="") as fh:
        return [csv_unescape(r["case_id"]) for r in csv.DictReader(fh)]


def batch_and_export(e: Entry, root: Path, work: Path) -> list[str]:
    """Batch (tiny settings) and export one corpus entry; what went wrong (empty: fine)."""
    from curator.core.data.discover import open_dataset

    before = _snapshot(root)
    project, out = work / f"{e.name}-project", work / f"{e.name}-out"
    prefix = []
    if e.unprivileged:
        prefix = _unprivileged()
        if prefix is None:
            return []
    argv = ["batch", root, "--project", project, *TINY]
    rc, so, se = _run_cli(argv, prefix) if e.unprivileged else _run_main(argv)
    bad = []
    if "Traceback" in se or "unexpected error" in se:
        return [f"batch crashed: {se.strip()[-500:]}"]
    if e.expect.outcome == "dataset_error":
        if rc != 1 or "error:" not in se:
            bad.append(f"batch should refuse the folder with one line, got rc {rc}: {se[-300:]}")
        return bad
    if rc != 0:
        return [f"batch exited {rc}: {se.strip()[-500:]}"]
    if e.unprivileged:  # what is usable as the batch saw it (without root's override)
        info = json.loads(_run_cli(["info", root, "--json"], prefix)[1])
        usable = {c["id"] for c in info["cases"] if not any(p["severity"] == "error" for p in c["problems"])}
    else:
        ds = open_dataset(root)
        ds.check()
        usable = {c.id for c in ds.cases if c.ok}
    ranked = set(_ranked(project))
    if e.expect.outcome == "case_error":
        if e.expect.case in ranked:
            bad.append(f"the bad case {e.expect.case} was ranked")
        if e.expect.case not in se:
            bad.append(f"batch did not report {e.expect.case} as failed: {se[-300:]}")
        missing = {c for c in usable if c != e.expect.case} - ranked
    else:
        missing = usable - ranked
    if missing:
        bad.append(f"usable cases not ranked: {sorted(missing)}")
    rc, so, se = _run_cli(["export", project, out, "--accept-top", "100", "-q"], prefix) if e.unprivileged else \
        _run_main(["export", project, out, "--accept-top", "100", "-q"])
    if "Traceback" in se or "unexpected error" in se:
        bad.append(f"export crashed: {se.strip()[-500:]}")
    elif rc != 0 and "could not be written" not in se:
        bad.append(f"export exited {rc}: {se.strip()[-400:]}")
    if _snapshot(root) != before:
        bad.append("the source folder changed")
    if e.name == "grey_0_128_255" and rc == 0:  # the grey levels survive the export
        import numpy as np
        from PIL import Image

        values = set(np.unique(np.asarray(Image.open(out / "masks" / f"{e.expect.case}.png"))).tolist())
        if not (values <= {0, 128, 255} and 128 in values):
            bad.append(f"the exported grey mask holds {sorted(values)}")
    return bad


@pytest.mark.parametrize("name", DEFAULT_BATCH)
def test_batch_isolates_the_bad_case(name, tmp_path, shared_data):
    e = BY_NAME[name]
    root = build(e, tmp_path / "data", shared_data)
    try:
        bad = batch_and_export(e, root, tmp_path)
    finally:
        restore_permissions(tmp_path / "data")
    assert not bad, bad


@pytest.mark.slow
def test_batch_and_export_over_the_whole_corpus(corpus, tmp_path):
    """`batch` (tiny settings) then `export` on every corpus entry marked for it."""
    failures = {}
    for e in ENTRIES:
        if not e.batch:
            continue
        bad = batch_and_export(e, corpus[e.name], tmp_path)
        if bad:
            failures[e.name] = bad
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


@pytest.mark.slow
def test_the_bundled_30_slice_ct_with_default_settings(tmp_path, shared_data):
    """The real CT (30 slices) with the default patch (32, 96, 96) and network: it crashed in the
    sliding window (`Sizes of tensors must match ... 15 but got 16`)."""
    from tests.integration.corpus import ct

    root = ct(tmp_path / "ct", shared_data, ids=("ct_a", "ct_b"))
    rc, out, err = _run_main(["batch", root, "--project", tmp_path / "p", "--folds", "2", "--epochs", "1", "--tta", "1",
                              "--threads", "2", "-q"])
    assert rc == 0, err
    assert sorted(_ranked(tmp_path / "p")) == ["ct_a", "ct_b"]


# -- files that vanish while they are used ------------------------------------------------------------


def test_a_file_that_vanishes_after_discovery_is_named_by_info(tmp_path, shared_data):
    from curator.core.data.discover import open_dataset
    from tests.integration.corpus import BAD, ham

    root = ham(tmp_path / "ds", shared_data)
    ds = open_dataset(root)
    (root / "masks" / f"{BAD}.png").unlink()  # gone between listing and reading
    ds.check()
    bad = ds[BAD]
    assert [p.code for p in bad.problems] == ["unreadable_mask"] and f"{BAD}.png: file not found" in bad.problems[0].message
    assert all(c.ok for c in ds.cases if c.id != BAD)


def test_a_file_that_vanishes_during_batch_fails_its_case_and_the_rest_go_on(tmp_path, shared_data, monkeypatch):
    from curator.core.data.cases import Case
    from tests.integration.corpus import BAD, ham

    root = ham(tmp_path / "ds", shared_data)
    real = Case.read_image

    def vanishing(self):
        if self.id == BAD and self.image.exists():
            self.image.unlink()  # deleted by someone else after the batch checked it
        return real(self)

    monkeypatch.setattr(Case, "read_image", vanishing)
    rc, out, err = _run_main(["batch", root, "--project", tmp_path / "p", *TINY])
    assert rc == 0 and BAD in err and "file not found" in err, err
    assert BAD not in _ranked(tmp_path / "p") and len(_ranked(tmp_path / "p")) == 3


def test_a_file_that_vanishes_during_export_is_reported(tmp_path, shared_data, monkeypatch):
    from curator.core.project import export as exp
    from tests.integration.corpus import BAD, ham

    root = ham(tmp_path / "ds", shared_data)
    rc, _, err = _run_main(["batch", root, "--project", tmp_path / "p", *TINY])
    assert rc == 0, err
    real = exp._copy_hash

    def vanishing(src, dst):
        if src.name == f"{BAD}.jpg" and src.exists():
            src.unlink()
        return real(src, dst)

    monkeypatch.setattr(exp, "_copy_hash", vanishing)
    rc, out, err = _run_main(["export", tmp_path / "p", tmp_path / "out", "-q"])
    assert rc == 0 and f"images/{BAD}.jpg" in err and "could not be read" in err, err
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert f"images/{BAD}.jpg" in prov["summary"]["files_not_copied"]
    # an accepted correction whose mask vanishes makes the export incomplete: exit 1
    from curator.core.project.store import Store

    with Store(tmp_path / "p" / "curator.db") as store:
        store.decide(HAM1, "accepted", pixels=(0, 0))
    (root / "masks" / f"{HAM1}.png").unlink()
    rc, out, err = _run_main(["export", tmp_path / "p", tmp_path / "out2", "-q"])
    assert rc == 1 and HAM1 in err and "could not be written" in err, err


HAM1 = "ISIC_0027287"
