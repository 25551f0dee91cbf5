"""Small shared pieces of the trio layer: connection states and request waiters."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import attrs
import trio

from ._protocol import Reply

__all__ = ["ConnectionState", "Latch", "PendingRequest", "RelayStatistics", "wait_within"]

T = TypeVar("T")


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@attrs.frozen(kw_only=True)
class RelayStatistics:
    """What a connection holds and has done, read at once (``relay.statistics()``).

    Counts of now: ``active_calls``, ``pending_requests`` (awaited replies),
    ``session_pending`` (ids the session still matches), ``dials``,
    ``actions`` (running, by control id), ``inbound_consumers``. Totals since
    the connection opened: ``calls_total``, ``events_received``,
    ``reconnects``, ``handler_errors``; ``calls_by_direction``
    (``"inbound"``, ``"outbound"``), ``calls_ended`` by outcome (the end
    reason, e.g. ``"hangup"``, ``"busy"``; ``"released"`` for a call this
    client let go: passed, transferred, or its connection closed), and
    ``request_errors`` by code (the server's code as a string, or the error
    class for a local failure, e.g. ``"RequestTimeoutError"``).
    """

    state: ConnectionState
    active_calls: int
    pending_requests: int
    session_pending: int
    dials: int
    actions: int
    inbound_consumers: int
    calls_total: int
    events_received: int
    reconnects: int
    handler_errors: int
    calls_by_direction: Mapping[str, int] = attrs.field(factory=dict)
    calls_ended: Mapping[str, int] = attrs.field(factory=dict)
    request_errors: Mapping[str, int] = attrs.field(factory=dict)


class Latch:
    """A one-shot wake-up for a single waiting task, set by the reader.

    ``trio.Event`` supports any number of waiters through a ``ParkingLot``;
    every request and every call wait has exactly one, and an idle call
    parks in one for its whole life, so the lot's memory and time matter.
    """

    __slots__ = ("_task", "is_set")

    def __init__(self) -> None:
        self.is_set = False
        self._task: trio.lowlevel.Task | None = None

    def set(self) -> None:
        if self.is_set:
            return
        self.is_set = True
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    async def wait(self) -> None:
        """Return once set; a checkpoint either way, like ``trio.Event.wait``."""
        await self.park()

    def park(self) -> Coroutine[Any, Any, None]:
        """:meth:`wait` without a frame of its own, for the hot paths.

        The calling task is recorded now, so the result must be awaited at
        once by that task (never handed to ``start_soon``). Saving the frame
        matters for waits an idle call sits in for its whole life.
        """
        if self.is_set:
            return trio.lowlevel.checkpoint()  # noqa: ASYNC105 (the caller awaits it)
        if self._task is not None:
            raise RuntimeError("a Latch has one waiter at a time")
        self._task = trio.lowlevel.current_task()
        return trio.lowlevel.wait_task_rescheduled(self._abort)  # noqa: ASYNC105 (as above)

    def _abort(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED


class PendingRequest(Latch):
    """One request's waiter: the reader stores the reply and sets it.

    ``deadline`` (trio time) is enforced by the connection's one request
    timer, so a request costs no cancel scope of its own.
    """

    __slots__ = ("deadline", "error", "method", "reply")

    def __init__(self, method: str = "", deadline: float = math.inf) -> None:
        super().__init__()
        self.method = method
        self.deadline = deadline
        self.reply: Reply | None = None
        self.error: BaseException | None = None

    def outcome(self) -> Reply:
        """The reply this request got; raises what failed it instead."""
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


async def wait_within(timeout: float | None, wait: Callable[[], Awaitable[T]]) -> T:
    """``await wait()``, raising ``trio.TooSlowError`` after ``timeout`` seconds.

    With no timeout there is no cancel scope at all: an idle call parks in
    these waits, and a scope costs memory and time on every one of them.
    """
    if timeout is None:
        return await wait()
    with trio.fail_after(timeout):
        return await wait()
