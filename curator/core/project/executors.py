"""Where the batch's work runs: executors, chosen by name, found through entry points.

The batch hands an executor two kinds of work: training the ensemble's members (one
:class:`~curator.core.engine.ensemble.MemberTask` per member) and scoring the cases
(:mod:`curator.core.project.scoring`: the models loaded once per scorer, cases handed out in
shards). :class:`LocalExecutor`, the default, runs them here one after another. Other executors come from separately installed plugins (``plugins/mask-curator-ray``)
that register a class under the entry point group ``mask_curator.executors``; the core never
imports them. An executor class takes keyword options (``address=...``) and offers:

- ``iter_train(tasks, *, prepared=None)``: a job generator returning the members' ``.json`` paths,
  in the order of ``tasks``;
- ``iter_score(job, items, *, members=None, prepared=None)``: a job generator scoring
  ``items`` (``(case, seed)`` pairs) and returning ``{case_id: {"in_fold": bool} | {"failed": why}}``;
- ``close()``: release what it started. Closing a job generator mid-way (a cancel) must stop the
  work it started elsewhere.

``remote`` (a class attribute) says whether the work runs outside this process; a remote executor
gets no in-memory objects and reads the preparation cache in the project folder instead.
"""

from __future__ import annotations

from typing import Generator, Sequence

from curator.core.engine.ensemble import iter_member_tasks
from curator.core.errors import CuratorError
from curator.core.jobs import Progress
from curator.core.project.scoring import Scorer

__all__ = ["ENTRY_POINT_GROUP", "ExecutorError", "LocalExecutor", "make_executor", "executor_class", "executor_names"]

ENTRY_POINT_GROUP = "mask_curator.executors"

# how to install the executors this project ships as plugins (the one-line error says it)
_INSTALL_HINTS = {
    "ray": "install the Ray plugin: pip install -e plugins/mask-curator-ray (from a Mask Curator checkout; "
           "installer/setup.sh does it)",
}


class ExecutorError(CuratorError):
    """An executor cannot be made or its work failed; the message says why."""


class LocalExecutor:
    """Runs every task in this process, one after another (the default)."""

    name = "local"
    remote = False

    def __init__(self, **options):
        unknown = {k: v for k, v in options.items() if v is not None}
        if unknown:
            raise ExecutorError(f"the local executor takes no options ({', '.join(sorted(unknown))}); "
                                "--address is for a cluster executor such as --executor ray")

    def iter_train(self, tasks, *, prepared: dict | None = None) -> Generator[Progress, None, list[str]]:
        return (yield from iter_member_tasks(tasks, prepared=prepared))

    def iter_score(self, job, items: Sequence[tuple], *, members=None, prepared: dict | None = None
                   ) -> Generator[Progress, None, dict]:
        scorer = Scorer(job, members=members, prepared=prepared)
        out: dict[str, dict] = {}
        for i, (case, seed) in enumerate(items):
            yield Progress(i, len(items), f"uncertainty {case.id}")
            out[case.id] = yield from scorer.iter_case(case, seed)
            yield Progress(i + 1, len(items), f"uncertainty {case.id} done")
        return out

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def executor_names() -> list[str]:
    """The executors one can name: ``local`` and every installed plugin's."""
    return ["local"] + sorted(n for n in _entry_points() if n != "local")


def make_executor(name: str | None = "local", **options):
    """The executor called ``name`` (``local``, or an installed plugin's), made with ``options``."""
    return executor_class(name)(**{k: v for k, v in options.items() if v is not None})


def executor_class(name: str | None = "local"):
    """The class of the executor called ``name``; a one-line :class:`ExecutorError` saying how to
    install it when no installed plugin provides it."""
    if not name or name == "local":
        return LocalExecutor
    eps = _entry_points()
    if name not in eps:
        hint = _INSTALL_HINTS.get(name, f"install the plugin that provides it (entry point group {ENTRY_POINT_GROUP})")
        raise ExecutorError(f"no executor '{name}' is installed (installed: {', '.join(executor_names())}); {hint}")
    try:
        return eps[name].load()
    except ImportError as exc:
        raise ExecutorError(f"the executor '{name}' cannot be loaded ({exc}); "
                            f"{_INSTALL_HINTS.get(name, 'reinstall its plugin')}") from exc
