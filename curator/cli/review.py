"""Project commands: ``export``, ``relink``, ``decide`` and ``queue``."""

from __future__ import annotations

import json
import sys

from curator.cli.common import add_limit_options, progress_runner
from curator.core.curation.decisions import ACTIONS, DECISIONS


def cmd_export(args) -> int:
    from curator.core.project.export import iter_export
    from curator.core.project.folder import Project

    project = Project.open(args.project)
    res = progress_runner(args.quiet)(
        iter_export(project, args.out, take_proposals_above=args.accept_proposals_above,
                    take_top=args.accept_top, overwrite=args.overwrite, reviewer=args.reviewer,
                    deidentify_seg=args.deidentify_seg), "export")
    if res.failed_corrections:
        n = len(res.failed_corrections)
        print(f"curator export: error: the export at {res.out} is incomplete: {n} accepted or edited correction(s) "
              "could not be written (their original masks were copied instead):", file=sys.stderr)
        for cid, why in sorted(res.failed_corrections.items()):
            why = str(why)
            print(f"  {why}" if why.startswith(f"{cid}:") else f"  {cid}: {why}", file=sys.stderr)
        print(f"exported {res.out} with {n} correction(s) missing: {len(res.changed)} changed, "
              f"{len(res.unchanged)} unchanged, {len(res.excluded)} excluded; see changes.csv and provenance.json")
        return 1
    print(f"exported {res.out}: {len(res.changed)} changed, {len(res.unchanged)} unchanged, "
          f"{len(res.excluded)} excluded; see changes.csv and provenance.json")
    if res.failed:
        print(f"{len(res.failed)} case(s) with problems were copied as they are:", file=sys.stderr)
        for cid, why in sorted(res.failed.items()):
            print(f"  {cid}: {why}", file=sys.stderr)
    if res.not_copied:
        print(f"{len(res.not_copied)} file(s) of the dataset could not be read and are not in the export:",
              file=sys.stderr)
        for rel, why in sorted(res.not_copied.items()):
            print(f"  {rel}: {why}", file=sys.stderr)
    return 0


def cmd_relink(args) -> int:
    """Point a project at its dataset's new place (after checking it holds the same data)."""
    from curator.core.project.folder import Project

    project = Project.open(args.project)
    done = project.relink(args.dataset, force=args.force)
    checked = "not checked (--force)" if done["forced"] else "the same data"
    print(f"{project.root}: dataset now {done['to']} (was {done['from']}; {checked})")
    return 0


def cmd_decide(args) -> int:
    """Record a review decision from the command line (scripts, tests, quick triage), through the
    same review session as the app (only ``accept`` reads the case's image and masks)."""
    from curator.core.project.session import ReviewSession

    session = ReviewSession(reviewer=args.reviewer)
    try:
        session.open_project(args.project, goto_last=False, check=False)
        d = session.decide(args.case, args.decision, note=args.note,
                           regions=[int(r) for r in args.regions.split(",")] if args.regions else None)
    finally:
        session.close()
    print(f"{args.case}: {d['decision']}{' (locked)' if d['locked'] else ''}")
    return 0


def cmd_queue(args) -> int:
    from curator.core.project.folder import Project
    from curator.core.project.rounds import describe_rounds
    from curator.core.project.store import Store

    project = Project.open(args.project)
    with Store(project.db_path) as store:
        rows = store.queue(args.status, limit=args.limit or None)
        rounds = store.review_rounds(args.rounds) if args.rounds else []
    if rounds:
        print(f"review rounds of {args.rounds}: errors found per round (the DataHeroes loop)")
        for r in rounds:
            print(f"  round {r.round}: {r.errors_found}/{r.reviewed} errors ({100 * r.hit_rate:.0f} %), "
                  f"{r.cumulative_errors} in all{'  <- plateau: further review finds little' if r.plateau else ''}")
        for line in describe_rounds(project):
            print(line)
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    lines = []
    for r in rows[: args.limit or None]:
        score = f"{r['score']:.3f}" if r["score"] is not None else "  -  "
        change = f"{100 * r['change_fraction']:.1f}%" if r["change_fraction"] is not None else "-"
        fail = f"  FAILED: {r['failed']}" if r["failed"] else ""
        lines.append(f"{r['rank'] or '-':>5}  {r['case_id']:<24} score {score}  change {change:>6}  {r['decision']}{fail}\n")
    sys.stdout.writelines(lines)  # one write, not one per case (100,000 cases: 0.1 s instead of 1.4 s)
    return 0


def add_export(sub) -> None:
    s = sub.add_parser("export", help="write the cleaned dataset with changes.csv and provenance.json")
    s.add_argument("project", help="project folder")
    s.add_argument("out", help="output folder (must not exist, or be empty, unless --overwrite)")
    s.add_argument("--accept-proposals-above", type=float, metavar="SCORE",
                   help="unreviewed cases scoring at least this take their proposals")
    s.add_argument("--accept-top", type=int, metavar="N", help="unreviewed cases ranked 1..N take their proposals")
    s.add_argument("--overwrite", action="store_true", help="replace OUT")
    s.add_argument("--deidentify-seg", action="store_true",
                   help="DICOM SEG masks leave out the patient's name, ID, birth date and sex (by default they "
                        "carry them, to be returned to the same study)")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_limit_options(s)
    s.set_defaults(func=cmd_export)


def add_relink(sub) -> None:
    s = sub.add_parser("relink", help="point a project at its dataset's new place (checks it holds the same data)")
    s.add_argument("project", help="project folder")
    s.add_argument("dataset", help="where the dataset is now")
    s.add_argument("--force", action="store_true", help="relink even where files differ from when the project was made")
    s.set_defaults(func=cmd_relink)


def add_decide(sub) -> None:
    s = sub.add_parser("decide", help="record a review decision for one case (accept, keep, exclude, flag, ...)")
    s.add_argument("--project", required=True)
    s.add_argument("case", help="case id")
    s.add_argument("decision", choices=ACTIONS)
    s.add_argument("--regions", help="accept only these proposal regions (comma list of region ids)")
    s.add_argument("--note", help="a note kept with the decision")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    s.set_defaults(func=cmd_decide)


def add_queue(sub) -> None:
    s = sub.add_parser("queue", help="the review queue: cases by score with their decisions")
    s.add_argument("--project", required=True)
    s.add_argument("--status", choices=[*DECISIONS, "failed"])
    s.add_argument("--limit", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.add_argument("--rounds", type=int, default=0, metavar="N",
                   help="instead: errors found per round of N reviews, and whether they have reached a plateau")
    s.set_defaults(func=cmd_queue)
