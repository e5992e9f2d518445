"""Long work as generators: progress events, cancellation, a synchronous runner.

Every long operation in the core is a generator ``iter_<thing>(...)`` that yields
:class:`Progress` events and *returns* its result (``StopIteration.value``). Each yield is a
cancellation point: a driver stops pulling (or calls ``close()``), and the generator's ``finally``
blocks run. The command line drives generators with :func:`run` and a progress bar; the GUI wraps
the same generator in a napari worker, or in a process of its own (:func:`iter_in_process`) so
that the job's Python work never competes with the interface for the interpreter.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Generator, Sequence, TypeVar

__all__ = ["Progress", "Cancelled", "run", "collect", "JobGenerator", "iter_in_process", "JobProcessError"]

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long job: ``step`` of ``total`` (``None`` when unknown), and what it does."""

    step: int
    total: int | None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(max(self.step / self.total, 0.0), 1.0)


JobGenerator = Generator[Progress, None, T]


class Cancelled(Exception):
    """Raised by :func:`run` when ``should_stop`` asked the job to stop."""


def run(
    job: Generator[Progress, Any, T],
    on_progress: Callable[[Progress], None] | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> T:
    """Drive a job generator to its end and return its result.

    ``on_progress`` sees every event; ``should_stop`` is polled after every event, and when it
    returns true the generator is closed (its cleanup runs) and :class:`Cancelled` is raised.
    """
    try:
        while True:
            event = next(job)
            if on_progress is not None and isinstance(event, Progress):
                on_progress(event)
            if should_stop is not None and should_stop():
                job.close()
                raise Cancelled("cancelled")
    except StopIteration as stop:
        return stop.value


def collect(job: Generator[Progress, Any, T]) -> tuple[list[Progress], T]:
    """Run a job, keeping its events (for tests)."""
    events: list[Progress] = []
    result = run(job, events.append)
    return events, result


class JobProcessError(RuntimeError):
    """The job's process failed in a way its own exceptions do not describe (it died, or its error
    cannot be rebuilt here)."""


def iter_in_process(target: Callable[..., Generator], *args, keep: Sequence[str] | None = None,
                    nice: int = 0, poll_s: float = 0.1, grace_s: float = 30.0,
                    **kwargs) -> Generator[Progress | None, None, Any]:
    """Run the job ``target(*args, **kwargs)`` in a fresh process and relay it as a job here.

    Yields the child's :class:`Progress` events, and ``None`` every ``poll_s`` while it is quiet
    (so that whoever drives this generator can stop it); returns the child's result, or with
    ``keep`` only those attributes (or keys) of it, as a namespace (a batch's trained networks need
    not cross over). ``target`` and the arguments must be picklable (a module-level generator
    function; configs, paths). An exception in the child is raised here again, as its own type when
    that can be rebuilt from the message. ``nice`` lowers the child's scheduling priority (POSIX):
    a background job then takes only the CPU time the interface leaves. Closing this generator (a
    cancel) asks the child to stop at its next yield, waits up to ``grace_s`` for its cleanup (still
    reading what it sends, so that it never blocks on a full pipe), then terminates it; the core's
    jobs leave finished work safe when killed. The process is started with ``spawn`` (safe beside
    Qt's and torch's threads); where no process can be started the job runs here instead.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    try:
        recv, send = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        proc = ctx.Process(target=_child_main, args=(send, stop, target, args, kwargs, tuple(keep or ()), nice),
                           name=f"curator-job-{getattr(target, '__name__', 'job')}", daemon=True)
        proc.start()
    except (OSError, RuntimeError):
        result = yield from target(*args, **kwargs)
        return _kept(result, keep)
    send.close()
    finished = False
    try:
        while True:
            if not recv.poll(poll_s):
                if not proc.is_alive() and not recv.poll(0):
                    raise JobProcessError(f"the job's process ended unexpectedly (exit code {proc.exitcode})")
                yield None
                continue
            try:
                kind, payload = recv.recv()
            except EOFError:
                proc.join(5)
                raise JobProcessError(f"the job's process ended unexpectedly (exit code {proc.exitcode})") from None
            if kind == "progress":
                yield Progress(*payload)
            elif kind == "done":
                finished = True
                return payload
            elif kind == "cancelled":
                finished = True
                raise Cancelled("cancelled")
            else:  # error
                finished = True
                raise _rebuild(*payload)
    finally:
        if not finished:
            stop.set()
        deadline = time.monotonic() + (grace_s if not finished else 10.0)
        while proc.is_alive() and time.monotonic() < deadline:
            try:
                if recv.poll(0.05):
                    recv.recv()  # drained: a child blocked on a full pipe could not see the stop
            except (EOFError, OSError):
                proc.join(0.05)
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        recv.close()


def _kept(result, keep):
    if not keep:
        return result
    return SimpleNamespace(**{k: result[k] if isinstance(result, dict) else getattr(result, k) for k in keep})


def _child_main(conn, stop, target, args, kwargs, keep, nice=0) -> None:
    """The job process: run the job, send its events and its result (or its error) to the parent."""
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass
    try:
        result = run(target(*args, **kwargs), lambda ev: conn.send(("progress", (ev.step, ev.total, ev.message))),
                     should_stop=stop.is_set)
        conn.send(("done", _kept(result, keep)))
    except Cancelled:
        conn.send(("cancelled", None))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, which decides
        conn.send(("error", (type(exc).__module__, type(exc).__qualname__, str(exc),
                             "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))))
    finally:
        conn.close()


def _rebuild(module: str, qualname: str, message: str, trace: str) -> BaseException:
    """The child's exception as its own type where that takes a message, else a JobProcessError."""
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if isinstance(cls, type) and issubclass(cls, Exception):
            exc = cls(message)
            exc.__notes__ = [f"in the job's process:\n{trace}"]
            return exc
    except Exception:  # noqa: BLE001 - fall through to the generic error
        pass
    return JobProcessError(f"{qualname}: {message}" if message else qualname)
