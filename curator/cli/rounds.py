"""Review rounds: ``trust`` (vouch for masks) and ``rescore`` (learn from the reviews so far)."""

from __future__ import annotations

import sys
from pathlib import Path

from curator.cli.common import CliError, add_device_options, progress_runner


def read_case_list(path) -> list[str]:
    """Case ids from a list file: one per line, or the first column of a CSV; ``#`` starts a comment."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the case list {path}: {exc}") from exc
    ids = []
    for line in text.splitlines():
        cell = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
        if cell and cell != "case_id":
            ids.append(cell)
    return ids


def trust_cases(store, ids, trusted: bool = True) -> list[str]:
    """Mark cases trusted (or not); refuses, naming them, ids the project does not hold."""
    known = set(store.case_ids())
    unknown = [c for c in ids if c not in known]
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise CliError(f"not in the project: {', '.join(unknown[:5])}{more}; nothing was marked")
    for c in ids:
        store.set_trusted(c, trusted)
    return list(ids)


def cmd_trust(args) -> int:
    from curator.core.project.folder import Project
    from curator.core.project.store import Store

    ids = list(args.case or []) + (read_case_list(args.file) if args.file else [])
    if not ids:
        raise CliError("name the cases to trust (CASE ... or --file LIST)")
    project = Project.open(args.project)
    with Store(project.db_path, reviewer=args.reviewer) as store:
        done = trust_cases(store, ids, not args.remove)
        total = len(store.trusted())
    print(f"{'untrusted' if args.remove else 'trusted'} {len(done)} case(s); {total} trusted in the project")
    return 0


def cmd_rescore(args) -> int:
    from curator.core.project.rounds import iter_rescore

    try:
        job = iter_rescore(args.project, mode=args.mode, epochs=args.epochs, trusted_weight=args.trusted_weight,
                           device=args.device, threads=args.threads, executor=args.executor,
                           executor_options={"address": args.address}, reviewer=args.reviewer)
        res = progress_runner(args.quiet)(job, "rescore")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    project = Path(args.project).resolve()
    how = "retrained" if args.mode == "retrain" else "fine-tuned"
    print(f"round {res.round}: {how} {len(res.members)} member(s) on {res.evidence} reviewed case(s) "
          f"({res.corrected} with a corrected mask); re-ranked {len(res.ranked)} case(s): {project / 'ranking.csv'}")
    print(res.proposals.calibration.describe())
    for cid, why in sorted(res.proposals.failed.items()):
        print(f"  {cid}: {why}", file=sys.stderr)
    return 0


def add_trust(sub) -> None:
    s = sub.add_parser("trust", help="vouch for cases' masks: never relabelled or proposed for change, the "
                       "calibration's first reference")
    s.add_argument("--project", required=True)
    s.add_argument("case", nargs="*", help="case ids")
    s.add_argument("--file", metavar="LIST", help="a file of case ids (one per line, or a CSV's first column)")
    s.add_argument("--remove", action="store_true", help="take the trust back")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    s.set_defaults(func=cmd_trust)


def add_rescore(sub) -> None:
    s = sub.add_parser("rescore", help="a review round: fine-tune the ensemble on the decisions and trusted cases, "
                       "then re-rank and re-propose the unreviewed cases (resumable)")
    s.add_argument("--project", required=True)
    s.add_argument("--mode", default="finetune", choices=["finetune", "retrain"],
                   help="finetune: every member goes on from its weights (default); retrain: the batch's training "
                   "again from scratch, with the reviewed labels (as long as the batch's)")
    s.add_argument("--epochs", type=int, default=None, help="training epochs (default: a quarter of the batch's; "
                   "retrain: the batch's)")
    s.add_argument("--trusted-weight", type=float, default=None, metavar="W",
                   help="loss weight of the reviewed cases (default: the batch's, 1)")
    s.add_argument("--executor", default="local", metavar="NAME", help="where training and scoring run (as batch)")
    s.add_argument("--address", metavar="auto|HOST:PORT", help="the cluster a plugin executor joins")
    s.add_argument("--reviewer", help="name recorded in the audit log")
    add_device_options(s)
    s.set_defaults(func=cmd_rescore)
