"""Connection-wide event subscribers: ``relay.on(...)`` and ``relay.events(...)``.

They see every event of the types they asked for, whether or not it belongs
to a call this client follows — conference-wide ``calling.conference``
statuses carry no call id and reach the app only this way. The reader asks
:meth:`ConnectionEvents.wants` first, so with no subscriber an event costs
one set lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ._events import RelayEvent
from ._subscriptions import EventFeed, EventListener, EventStream, Spawn, run_listener

__all__ = ["ConnectionEvents"]


class ConnectionEvents:
    """Listeners and ``events()`` feeds of one connection, by event type."""

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn
        self._listeners: dict[str, list[EventListener]] = {}
        self._feeds: tuple[EventFeed, ...] = ()
        self._wanted: set[str] = set()
        self._wants_all = False
        self._closed = False

    def wants(self, event_type: str) -> bool:
        return self._wants_all or event_type in self._wanted

    def _recount(self) -> None:
        self._wanted = {t for t, handlers in self._listeners.items() if handlers}
        self._wants_all = False
        for feed in self._feeds:
            if feed.event_types:
                self._wanted |= feed.event_types
            else:
                self._wants_all = True

    def on(self, event_type: str, handler: EventListener) -> None:
        self._listeners.setdefault(str(event_type), []).append(handler)
        self._recount()

    def off(self, event_type: str, handler: EventListener) -> None:
        handlers = self._listeners.get(str(event_type), [])
        if handler in handlers:
            handlers.remove(handler)
        self._recount()

    @asynccontextmanager
    async def events(
        self, event_types: tuple[str, ...], max_buffer: int
    ) -> AsyncIterator[EventStream]:
        feed = EventFeed(frozenset(str(t) for t in event_types), max_buffer)
        if self._closed:
            feed.close()
        else:
            self._feeds += (feed,)
            self._recount()
        try:
            yield feed.stream
        finally:
            self._feeds = tuple(f for f in self._feeds if f is not feed)
            self._recount()

    def deliver(self, event: RelayEvent) -> None:
        """Hand ``event`` to every subscriber that wants it. Never blocks, never raises."""
        for feed in self._feeds:
            feed.push(event)
        for handler in list(self._listeners.get(event.event_type, ())):
            run_listener("connection", handler, event, self._spawn)

    def close(self) -> None:
        """The connection closed: every ``events()`` iteration ends."""
        self._closed = True
        for feed in self._feeds:
            feed.close()
