"""How code waits for a call's events: one-shot waiters and ``events()`` streams.

Both are fed by the reader through the call, synchronously, and never block
it. A waiter takes one matching event; a feed pushes into a bounded channel
whose receive side the user iterates (:class:`EventStream`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Union

import trio

from ._errors import EventOverflowError
from ._events import RelayEvent
from ._state import Latch

__all__ = [
    "EventFeed",
    "EventListener",
    "EventPredicate",
    "EventStream",
    "EventWaiter",
    "Spawn",
    "run_listener",
]

logger = logging.getLogger("signalwire_relay_trio")

EventPredicate = Callable[[RelayEvent], bool]
EventListener = Callable[[RelayEvent], Union[Awaitable[Any], None]]
#: Runs an async listener as a task: ``spawn(run, name)``.
Spawn = Callable[[Callable[[], Awaitable[None]], str], None]


def run_listener(where: str, listener: EventListener, event: RelayEvent, spawn: Spawn) -> None:
    """Call a sync or async event listener; its errors are logged with ``where``, never raised.

    A sync listener runs here, inside the reader; an async one is handed to
    ``spawn``, so the reader never waits for user code.
    """
    try:
        result = listener(event)
    except Exception:
        logger.exception("%s: %s listener %s raised", where, event.event_type, listener)
        return
    if inspect.isawaitable(result):
        spawn(partial(_await_listener, where, result, event.event_type), where)


async def _await_listener(where: str, awaitable: Awaitable[Any], event_type: str) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("%s: %s listener failed", where, event_type)


class EventWaiter(Latch):
    """A one-shot wait for an event on a call, settled by the reader."""

    __slots__ = ("error", "event", "event_types", "predicate")

    def __init__(self, event_types: frozenset[str], predicate: EventPredicate | None) -> None:
        super().__init__()
        self.event_types = event_types
        self.predicate = predicate
        self.event: RelayEvent | None = None
        self.error: BaseException | None = None

    def offer(self, event: RelayEvent) -> bool:
        """Take ``event`` if it matches; a predicate that raises fails the wait with it."""
        if self.event_types and event.event_type not in self.event_types:
            return False
        if self.predicate is not None:
            try:
                if not self.predicate(event):
                    return False
            except Exception as exc:
                self.fail(exc)
                return True
        self.event = event
        self.set()
        return True

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.set()

    def taken(self) -> RelayEvent:
        """The event this waiter took; raises what failed it instead."""
        if self.event is not None:
            return self.event
        assert self.error is not None
        raise self.error

    async def result(self) -> RelayEvent:
        await self.wait()
        return self.taken()


class EventFeed:
    """The call's side of one ``events()`` subscription: pushes, never blocks."""

    __slots__ = ("_send", "event_types", "overflowed", "stream")

    def __init__(self, event_types: frozenset[str], max_buffer: int) -> None:
        self.event_types = event_types
        self.overflowed = False
        self._send, receive = trio.open_memory_channel[RelayEvent](max_buffer)
        self.stream = EventStream(receive, self)

    def push(self, event: RelayEvent) -> None:
        if self.overflowed:
            return
        if self.event_types and event.event_type not in self.event_types:
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.overflowed = True
            self._send.close()
        except trio.ClosedResourceError:
            pass

    def close(self) -> None:
        self._send.close()


class EventStream:
    """The receive side of ``call.events()`` and ``relay.events()``: an async iterator.

    Iteration ends after the call's ``ended`` event (for ``relay.events()``:
    when the connection closes). If the subscriber falls more than its buffer
    behind, it gets :class:`EventOverflowError` once the buffered events are
    read; other subscribers and the call are unaffected.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[RelayEvent], feed: EventFeed) -> None:
        self._receive = receive
        self._feed = feed

    @property
    def event_types(self) -> frozenset[str]:
        return self._feed.event_types

    async def receive(self) -> RelayEvent:
        """Wait for the next event. Raises ``trio.EndOfChannel`` after the call ended."""
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._feed.overflowed:
                raise EventOverflowError(
                    None, "event subscriber fell too far behind; events were lost"
                ) from None
            raise

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> RelayEvent:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
