"""Per-task cost accounting for objects that several tasks share at once.

``plan`` runs several tasks at the same time on one policy (one LLM) and one scorer, so their
cumulative ``counters()`` mix every task in flight: a delta taken around one task would also
count its neighbours' calls. Instead, each task runs inside a :func:`scope` (opened by the
planners' :class:`~arm_exp.planning.base.Meter`), and the shared objects :func:`charge` what a
call cost to the scopes open *in the calling context*: a task's thread sees only its own scope.

Charges are made by the thread that made the call, after it returns (a policy charges the
tokens of the generations it got back; the reward scorer the items it was asked for), never by
helper threads (an HTTP client's pool, a micro-batcher's worker), which run outside the task's
context. Outside any scope a charge is a no-op, so scripts and notebooks pay nothing.

The open scopes live in a :class:`contextvars.ContextVar`: per thread (and per asyncio task),
which is exactly the isolation concurrent tasks need; it is the one piece of module-level state
here and it holds no values of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Tally:
    """Counters charged inside one :func:`scope`, plus per-owner memos (e.g. keys seen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}
        self._memos: dict[Hashable, set] = {}

    def add(self, deltas: dict[str, float]) -> None:
        with self._lock:
            for k, v in deltas.items():
                self._counts[k] = self._counts.get(k, 0.0) + float(v)

    def counts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counts)

    def memo(self, owner: Hashable) -> set:
        """A set private to ``owner`` within this scope (a scorer's keys already scored)."""
        with self._lock:
            return self._memos.setdefault(owner, set())


_OPEN: ContextVar[tuple[Tally, ...]] = ContextVar("arm_exp_tally", default=())


@contextmanager
def scope() -> Iterator[Tally]:
    """Open a tally in the current context; charges made inside it (also in nested scopes)
    are added to it."""
    tally = Tally()
    token = _OPEN.set((*_OPEN.get(), tally))
    try:
        yield tally
    finally:
        _OPEN.reset(token)


def charge(**deltas: float) -> None:
    """Add ``deltas`` to every scope open in the calling context (none: nothing happens)."""
    for tally in _OPEN.get():
        tally.add(deltas)


def innermost() -> Tally | None:
    """The innermost open scope of the calling context, or None."""
    open_ = _OPEN.get()
    return open_[-1] if open_ else None
