"""Long work as generators: progress events, cancellation, a synchronous runner.

Every long operation in the core is a generator ``iter_<thing>(...)`` that yields
:class:`Progress` events and *returns* its result (``StopIteration.value``). Each yield is a
cancellation point: a driver stops pulling (or calls ``close()``), and the generator's ``finally``
blocks run. The command line drives generators with :func:`run` and a progress bar; the GUI wraps
the same generator in a napari worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

__all__ = ["Progress", "Cancelled", "run", "collect", "JobGenerator"]

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
