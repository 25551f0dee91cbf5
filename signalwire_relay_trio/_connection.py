"""``RelayConnection``: the public face of one RELAY session, composed of its parts.

* :class:`~._link.Link` — the socket after socket, the session and the
  requests in flight (reader, writer, keepalive, reconnect);
* :class:`~._registry.CallRegistry` — the calls, control ids, dials and
  messages the connection follows, and the host calls talk to;
* :class:`~._inbound.Inbound` — who takes new calls and messages;
* :class:`~._dispatch.FrameDispatcher` — what the reader does with a frame.

The connection wires them together, keeps the connection state and its
subscribers, and has the one close path (:meth:`RelayConnection.close`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ._call import Call
from ._config import RelaySettings, context_names
from ._connection_events import ConnectionEvents
from ._dial import run_dial
from ._dispatch import FrameDispatcher
from ._errors import RelayError
from ._inbound import Inbound
from ._link import Link, StreamFactory
from ._message import Message, check_number, message_media
from ._models import drop_none
from ._registry import CallRegistry
from ._requests import RequestTimeoutError
from ._state import ConnectionState, RelayStatistics
from ._subscriptions import EventListener, EventStream

__all__ = ["ConnectionState", "RelayConnection", "RequestTimeoutError"]

logger = logging.getLogger("signalwire_relay_trio")

CallHandler = Callable[[Call], Awaitable[Any]]
MessageHandler = Callable[[Message], Awaitable[Any]]


class RelayConnection:
    """A live RELAY session. Made by :func:`open_relay`; not constructed by users."""

    def __init__(
        self,
        settings: RelaySettings,
        nursery: trio.Nursery,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self._settings = settings
        self._state = ConnectionState.CONNECTING
        self._state_channels: list[trio.MemorySendChannel[ConnectionState]] = []
        self._link = Link(settings, self._set_state, stream_factory)
        self._registry = CallRegistry(self._link, nursery)
        self._inbound = Inbound(self._registry, settings.max_active_calls)
        self._subscribers = ConnectionEvents(self._registry.spawn)
        self._dispatcher = FrameDispatcher(
            self._link, self._registry, self._inbound, self._subscribers
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the session up until closed; started by :func:`open_relay`."""
        await self._link.run(self._dispatcher.handle_frame, task_status=task_status)

    # -- session facts --------------------------------------------------------

    @property
    def protocol(self) -> str:
        return self._link.session.protocol or ""

    @property
    def identity(self) -> str:
        return self._link.session.identity or ""

    @property
    def connected(self) -> bool:
        return self._link.is_ready

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def calls(self) -> list[Call]:
        """The calls this connection follows right now."""
        return self._registry.calls

    def statistics(self) -> RelayStatistics:
        """What the connection holds and has done, for tests and monitoring.

        Cheap (counters kept as things happen), so a metrics scrape can call it.
        """
        registry = self._registry.statistics()
        return RelayStatistics(
            state=self._state,
            active_calls=registry["calls"],
            pending_requests=self._link.pending_requests,
            session_pending=self._link.session.pending_count,
            dials=registry["dials"],
            actions=registry["actions"],
            inbound_consumers=self._inbound.call_consumers,
            calls_total=self._registry.calls_total,
            events_received=self._dispatcher.events_received,
            reconnects=self._link.reconnects,
            handler_errors=self._inbound.handler_errors,
            calls_by_direction=dict(self._registry.calls_by_direction),
            calls_ended=dict(self._registry.calls_ended),
            request_errors=dict(self._link.request_errors),
        )

    def __repr__(self) -> str:
        return f"<RelayConnection {self._settings.url} {self._state.value}>"

    # -- requests -------------------------------------------------------------

    async def execute(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a raw JSON-RPC request and return its result.

        Waits (within ``request_timeout``) for the session to be ready if it
        is reconnecting. Raises :class:`RelayError` for a non-2xx code or a
        JSON-RPC error, :class:`RequestTimeoutError` when no reply comes in
        time, :class:`ConnectionLostError` when the socket dropped while the
        request was in flight. Cancelling it is safe: a late reply is dropped.
        """
        return await self._link.execute(method, params or {})

    async def receive(self, contexts: Iterable[str]) -> dict[str, Any]:
        """Subscribe to more contexts (``signalwire.receive``)."""
        names = context_names(contexts)
        if not names:
            return {}
        result = await self.execute("signalwire.receive", {"contexts": list(names)})
        subscribed = self._link.session.contexts
        subscribed.extend(c for c in names if c not in subscribed)
        return result

    async def unreceive(self, contexts: Iterable[str]) -> dict[str, Any]:
        """Drop context subscriptions (``signalwire.unreceive``)."""
        names = context_names(contexts)
        if not names:
            return {}
        result = await self.execute("signalwire.unreceive", {"contexts": list(names)})
        subscribed = self._link.session.contexts
        subscribed[:] = [c for c in subscribed if c not in names]
        return result

    # -- calls ----------------------------------------------------------------------

    def inbound_calls(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Call]]:
        """Receive inbound calls on a channel, for custom dispatch.

        Calls are shared round-robin between every open ``inbound_calls()``
        and ``serve()``. Calls left unread when the block exits are passed
        back to the server so another consumer can take them.
        """
        return self._inbound.inbound_calls()

    async def serve(
        self,
        handler: CallHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run ``await handler(call)`` for every inbound call, each in its own task.

        Runs until cancelled (or until :meth:`drain`). A handler's exception
        is logged with the call id and that call is hung up; every other call
        goes on. A call that ended under its handler (``CallEndedError``) is a
        normal end. When a handler returns, its call is hung up if still up.
        """
        await self._inbound.serve_calls(handler, task_status)

    async def dial(
        self,
        devices: Any,
        *,
        tag: str | None = None,
        max_duration: int | None = None,
        dial_timeout: float = 120.0,
        region: str | None = None,
        max_price_per_minute: float | None = None,
    ) -> Call:
        """Place an outbound call (``calling.dial``) and return the answered ``Call``.

        ``devices`` is the reference's device matrix (serial groups of
        parallel devices), a flat list (one device per serial group) or one
        device. Raises :class:`DialError` with the reason when no device
        answers, ``trio.TooSlowError`` after ``dial_timeout``. A leg that
        answers after a timeout or cancellation is hung up, never orphaned.
        """
        return await run_dial(
            self._registry,
            devices,
            tag=tag,
            max_duration=max_duration,
            dial_timeout=dial_timeout,
            region=region,
            max_price_per_minute=max_price_per_minute,
        )

    # -- messages -------------------------------------------------------------------

    async def send_message(
        self,
        *,
        to_number: str,
        from_number: str,
        body: str | None = None,
        media: Iterable[str] = (),
        context: str | None = None,
        tags: Iterable[str] = (),
        region: str | None = None,
    ) -> Message:
        """Send an SMS/MMS (``messaging.send``) and return its :class:`Message`.

        ``await message.wait()`` then returns the terminal state event.
        """
        media_list = message_media(media)
        if body is not None and not isinstance(body, str):
            raise TypeError(f"body must be a string, not {type(body).__name__}")
        if not body and not media_list:
            raise ValueError("send_message needs a body or media")
        check_number("to_number", to_number)
        check_number("from_number", from_number, short_code=True)
        tag_list = [tags] if isinstance(tags, str) else list(tags)
        subscribed = self._link.session.contexts
        context = context or (subscribed[0] if subscribed else None) or self.protocol or "default"
        params = {
            "context": context,
            "to_number": to_number,
            "from_number": from_number,
            "body": body,
            "media": media_list or None,
            "tags": tag_list or None,
            "region": region,
        }
        result = await self.execute("messaging.send", drop_none(params))
        message_id = result.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise RelayError(None, "messaging.send result carries no message_id")
        message = Message(
            spawn=self._registry.spawn,
            message_id=message_id,
            context=context,
            direction="outbound",
            from_number=from_number,
            to_number=to_number,
            body=body,
            media=media_list,
            tags=tag_list,
        )
        self._registry.track_message(message)
        return message

    def inbound_messages(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Message]]:
        """Receive inbound messages on a channel (same sharing rules as calls)."""
        return self._inbound.inbound_messages()

    async def serve_messages(
        self,
        handler: MessageHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run ``await handler(message)`` for every inbound message, each in its own task."""
        await self._inbound.serve_messages(handler, task_status)

    # -- connection-wide events ------------------------------------------------

    def on(self, event_type: str, handler: EventListener) -> None:
        """Call ``handler(event)`` for every event of this type on the connection.

        Every event counts, whether or not it belongs to a call this client
        follows (conference-wide ``calling.conference`` statuses carry no
        call id). A sync handler runs inside the reader, so keep it short; an
        async one runs as a task of the connection. Errors are logged.
        """
        self._subscribers.on(event_type, handler)

    def off(self, event_type: str, handler: EventListener) -> None:
        """Remove a handler added with :meth:`on` (no error if it is not there)."""
        self._subscribers.off(event_type, handler)

    def events(
        self, *event_types: str, max_buffer: int = 1000
    ) -> AbstractAsyncContextManager[EventStream]:
        """Subscribe to the connection's events (all, or of the given types).

        Yields an :class:`EventStream`; iteration ends when the connection
        closes. A subscriber more than ``max_buffer`` events behind gets
        :class:`EventOverflowError`; nobody else is affected.
        """
        return self._subscribers.events(event_types, max_buffer)

    # -- connection states -------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        logger.info("connection %s", state.value)
        for channel in list(self._state_channels):
            try:
                channel.send_nowait(state)
            except trio.WouldBlock:
                logger.warning("a states() subscriber is not reading; a transition was dropped")
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._state_channels.remove(channel)

    @asynccontextmanager
    async def states(self) -> AsyncIterator[trio.MemoryReceiveChannel[ConnectionState]]:
        """Receive every connection state transition, starting with the current state."""
        send, receive = trio.open_memory_channel[ConnectionState](64)
        send.send_nowait(self._state)
        self._state_channels.append(send)
        try:
            async with receive:
                yield receive
        finally:
            if send in self._state_channels:
                self._state_channels.remove(send)
            send.close()

    # -- closing ----------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Stop taking new calls, let active ones finish (up to ``timeout``), then close.

        Unsubscribes the contexts, so the server stops offering calls here;
        returns once every ``serve()``/``serve_messages()`` handler has
        finished (a handler may keep working after its call ended) and every
        call has ended, or after ``timeout``; then closes the connection.
        ``serve()`` loops return normally. Calls still up after the timeout
        are left to the server. For deploys that must not drop calls.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._link.is_closed:
            return
        contexts = list(self._link.session.contexts)
        self._inbound.drain()
        if contexts and self._link.is_ready:
            with trio.move_on_after(self._settings.request_timeout):
                try:
                    await self.unreceive(contexts)
                except RelayError as exc:
                    logger.warning("drain: unsubscribing failed: %s", exc)
        with trio.move_on_after(timeout):
            await self._inbound.wait_handlers_done()
            await self._registry.wait_calls_gone()
        active = len(self._registry.calls)
        if active:
            logger.warning("drain: %d calls still active after %g s", active, timeout)
        self.close()

    def close(self) -> None:
        """Close the session for good: the link stops, every call it followed ends.

        The one close path, for :meth:`drain` and for leaving ``open_relay``.
        Never blocks; the tasks the connection started are cancelled by
        whoever owns its nursery.
        """
        if self._link.is_closed:
            return
        self._link.close()
        self._set_state(ConnectionState.CLOSED)
        for channel in self._state_channels:
            channel.close()
        self._state_channels.clear()
        self._subscribers.close()
        self._registry.end_calls("the connection closed")
