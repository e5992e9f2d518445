"""The Ray executor: the batch's member training and case scoring as Ray tasks and actors.

``curator batch DATASET --project DIR --executor ray [--address auto|HOST:PORT]``

- Training: one Ray task per ensemble member (:func:`curator.core.engine.ensemble.iter_member_task`),
  one CPU each, or one GPU each where the cluster has GPUs. A task whose worker dies (a node lost, a
  SIGKILL) is run again by Ray (``max_retries``); it resumes from the member's last epoch
  checkpoint in the project folder and writes the same member files.
- Scoring: one actor per free CPU (or GPU) loads the models once
  (:class:`curator.core.project.scoring.Scorer`) and scores shards of cases handed out as actors free up.
  An actor that dies is restarted and its shard run again (``max_restarts``/``max_task_retries``);
  a case scored twice writes the same ``maps/<case>.npz`` again (atomically), never a second one.

How data and results move: through the project folder, not the object store. Tasks get paths,
settings and case ids; they read the dataset and the preparation cache the batch wrote into the
project, and write members and maps into the project folder. Every node must therefore see the
dataset and the project folder at the same paths (one machine, or a shared file system such as
NFS or Lustre mounted alike everywhere). Only small results (file paths, per-case status) go
back through Ray. Proposals and ranking then run in the batch's own process, as they do locally.

Without ``address`` a local Ray is started sized to this machine (``ray.init(num_cpus=...)``) and
stopped when the batch ends; with ``address`` (``auto``, ``HOST:PORT``) the running cluster is
joined and left running. Closing the batch's job generator (Cancel in the app, Ctrl+C) cancels the
outstanding tasks and kills the scoring actors.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Generator, Sequence

from curator.core.engine.ensemble import iter_member_task
from curator.core.jobs import Progress, run
from curator.core.project.executors import ExecutorError
from curator.core.project.scoring import PipelineError, Scorer

__all__ = ["RayExecutor"]


def _train_member(task):
    """Ray task: train one member (its process title is ``ray::_train_member``)."""
    return run(iter_member_task(task))


class _ScorerActor:
    """Ray actor: the ensemble loaded once, then shards of cases scored one after another."""

    def __init__(self, job):
        self.scorer = Scorer(job)

    def score(self, items):
        return [(case.id, run(self.scorer.iter_case(case, seed))) for case, seed in items]


class RayExecutor:
    """Runs the batch's tasks on Ray. Options: ``address`` (join a cluster; default: start a local
    one), ``num_cpus`` (of the local one; default: this machine's cores), ``cpus_per_task``,
    ``gpus_per_task`` (default: 1 where the cluster has GPUs, else 0), ``max_retries`` (per task
    and per actor), ``shard_size`` (cases per scoring call; default: about four shards per actor)."""

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, cpus_per_task: int = 1,
                 gpus_per_task: float | None = None, max_retries: int = 3, shard_size: int | None = None,
                 poll_s: float = 0.25):
        import ray

        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if address:
                    ray.init(address=address, **kw)
                else:
                    ray.init(address="local", num_cpus=int(num_cpus or os.cpu_count() or 1), **kw)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"cannot reach a Ray cluster at {address or 'a new local one'}: {exc}") from exc
            self._started = True
        res = ray.cluster_resources()
        self.cpus_per_task = max(1, int(cpus_per_task))
        self.gpus_per_task = float(gpus_per_task) if gpus_per_task is not None else (1.0 if res.get("GPU", 0) >= 1 else 0.0)
        self.max_retries = int(max_retries)
        self.shard_size = shard_size
        self.poll_s = poll_s

    # -- helpers ---------------------------------------------------------------------------------
    def _threads(self, config: dict) -> int:
        """CPU threads (and CPUs reserved) per task: the batch's ``--threads`` where given, so that a
        task computes exactly what the local executor computes with those threads (torch's CPU
        sums depend on the thread count), else ``cpus_per_task``."""
        return max(1, int(config.get("threads") or self.cpus_per_task))

    def slots(self, cpus: int | None = None) -> int:
        """How many tasks the cluster runs at once (its GPUs when tasks take GPUs, else its CPUs)."""
        res = self._ray.cluster_resources()
        if self.gpus_per_task:
            return max(1, int(res.get("GPU", 0) // self.gpus_per_task))
        return max(1, int(res.get("CPU", 1) // (cpus or self.cpus_per_task)))

    def _get(self, ref, what: str):
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task's own error: raise it as its own type
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise PipelineError(f"{what} failed on Ray: {exc}") from exc
        except ray.exceptions.RayError as exc:  # workers or actors lost beyond their retries
            raise PipelineError(f"{what} failed on Ray after {self.max_retries} retries: {exc}") from exc

    # -- the executor interface ------------------------------------------------------------------
    def iter_train(self, tasks, *, prepared=None) -> Generator[Progress, None, list[str]]:
        """One task per member; returns the members' ``.json`` paths in the order of ``tasks``."""
        ray = self._ray
        fn = ray.remote(_train_member)
        refs = {}
        for i, t in enumerate(tasks):
            n = self._threads(t.config)
            opts = fn.options(num_cpus=n, num_gpus=self.gpus_per_task, max_retries=self.max_retries,
                              retry_exceptions=False)
            refs[opts.remote(replace(t, config={**t.config, "threads": n}))] = i
        out: list[str | None] = [None] * len(tasks)
        pending = list(refs)
        yield Progress(0, len(tasks), f"training {len(tasks)} member(s) on Ray "
                                      f"({self.slots(self._threads(tasks[0].config))} at a time)")
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=self.poll_s)
                for r in ready:
                    i = refs[r]
                    out[i] = self._get(r, tasks[i].name)
                    yield Progress(sum(p is not None for p in out), len(tasks), f"{tasks[i].name} trained")
                if not ready:
                    yield Progress(len(tasks) - len(pending), len(tasks), f"training on Ray: {len(pending)} to go")
        finally:
            for r in pending:  # cancelled or failed: stop the rest (a member keeps its last checkpoint)
                ray.cancel(r, force=True)
        return out

    def iter_score(self, job, items: Sequence[tuple], *, members=None, prepared=None
                   ) -> Generator[Progress, None, dict]:
        """Scoring actors, each with the models loaded once, take shards of ``(case, seed)`` items."""
        ray = self._ray
        items = list(items)
        if not items:
            return {}
        threads = self._threads(job.config)
        n_actors = max(1, min(self.slots(threads), len(items)))
        size = self.shard_size or max(1, math.ceil(len(items) / (4 * n_actors)))
        shards = [items[i:i + size] for i in range(0, len(items), size)]
        job = replace(job, config={**job.config, "threads": threads})
        actor_cls = ray.remote(_ScorerActor).options(num_cpus=threads, num_gpus=self.gpus_per_task,
                                                     max_restarts=self.max_retries,
                                                     max_task_retries=self.max_retries)
        actors = [actor_cls.remote(job) for _ in range(n_actors)]
        todo = list(range(len(shards)))
        inflight: dict = {}
        results: dict[str, dict] = {}

        def submit(actor):
            if todo:
                k = todo.pop(0)
                inflight[actor.score.remote(shards[k])] = (actor, k)

        yield Progress(0, len(items), f"scoring {len(items)} case(s) on Ray: {n_actors} scorer(s), "
                                      f"{len(shards)} shard(s)")
        try:
            for a in actors:
                submit(a)
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=self.poll_s)
                for r in ready:
                    actor, k = inflight.pop(r)
                    for case_id, res in self._get(r, f"scoring shard {k + 1}/{len(shards)}"):
                        results[case_id] = res
                    submit(actor)
                    yield Progress(len(results), len(items), f"uncertainty: {len(results)} of {len(items)} cases")
                if not ready:
                    yield Progress(len(results), len(items), f"uncertainty on Ray: {len(results)} of {len(items)}")
        finally:
            for r in inflight:
                ray.cancel(r)
            for a in actors:  # stops any shard still running (a cancel) and frees the workers
                ray.kill(a, no_restart=True)
        return results

    @staticmethod
    def scale_benchmark(**options) -> dict:
        """``curator bench scale``: see :func:`mask_curator_ray.bench.scale_benchmark`."""
        from .bench import scale_benchmark

        return scale_benchmark(**options)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
