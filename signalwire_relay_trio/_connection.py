"""``open_relay`` and ``RelayConnection``: the trio edge around the sans-I/O core.

One reader task per socket handles every frame of a read synchronously:
replies settle their waiters, events are routed and applied to their calls,
pings and acks are queued. One writer task sends what a batch produced. A
supervisor task owns the socket's lifetime and reconnects with resume.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from . import _serve
from ._call import Call, same_string, shared_device, shared_string
from ._config import RelaySettings
from ._constants import (
    CallState,
)
from ._errors import (
    RelayConnectionError,
    RelayError,
    RemoteProtocolError,
)
from ._events import (
    RelayEvent,
    parse_event,
)
from ._link import DISCONNECT_GRACE
from ._message import Message
from ._protocol import (
    DisconnectRequest,
    EventNotice,
    PingRequest,
    RelaySession,
    Reply,
    UnknownRequest,
    describe_frame,
)
from ._routing import EventRouter, RouteKind
from ._state import ConnectionState, PendingRequest
from ._transport import ClientWebSocket, TransportClosed

if TYPE_CHECKING:
    from ._dial import PendingDial

if sys.version_info < (3, 11):  # pragma: no cover
    pass

__all__ = ["ConnectionState", "RelayConnection", "RequestTimeoutError"]

logger = logging.getLogger("signalwire_relay_trio")

StreamFactory = Callable[[], Awaitable[trio.abc.Stream]]
CallHandler = Callable[[Call], Awaitable[Any]]
MessageHandler = Callable[[Message], Awaitable[Any]]


class RequestTimeoutError(RelayError, trio.TooSlowError):
    """No reply arrived within ``request_timeout``."""


class RelayConnection:
    """A live RELAY session. Made by :func:`open_relay`; not constructed by users."""

    def __init__(
        self,
        settings: RelaySettings,
        nursery: trio.Nursery,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self._settings = settings
        self._nursery = nursery
        self._stream_factory = stream_factory
        self._session = RelaySession(settings.credentials, settings.contexts)
        self._router: EventRouter[Call, PendingDial, Message] = EventRouter()
        self._requests: dict[str, PendingRequest] = {}
        self._ws: ClientWebSocket | None = None
        self._ready = trio.Event()
        self._closed = False
        self._state = ConnectionState.CONNECTING
        self._state_channels: list[trio.MemorySendChannel[ConnectionState]] = []
        self._inbound: list[_serve.Sink[Call]] = []
        self._inbound_turn = 0
        self._inbound_messages: list[_serve.Sink[Message]] = []
        self._inbound_message_turn = 0
        self._early_message_events: dict[str, list[RelayEvent]] = {}
        self._queued = 0
        self._draining = False
        self._last_received = 0.0
        self._link_scope: trio.CancelScope | None = None
        self._supervisor_scope = trio.CancelScope()
        self._calls_gone: trio.Event | None = None

    # -- session facts --------------------------------------------------------

    @property
    def protocol(self) -> str:
        return self._session.protocol or ""

    @property
    def identity(self) -> str:
        return self._session.identity or ""

    @property
    def connected(self) -> bool:
        return not self._closed and self._ready.is_set()

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def calls(self) -> list[Call]:
        """The calls this connection follows right now."""
        return list(self._router.calls.values())

    def statistics(self) -> dict[str, int]:
        """Counts of what the connection holds, for tests and monitoring."""
        return {
            "pending_requests": len(self._requests),
            "session_pending": self._session.pending_count,
            "calls": len(self._router.calls),
            "dials": len(self._router.dials),
            "actions": len(self._router.controls),
            "inbound_consumers": len(self._inbound),
        }

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
        deadline = trio.current_time() + self._settings.request_timeout
        reply = await self._request(method, params or {}, deadline)
        return reply.unwrap()

    async def _request(self, method: str, params: Mapping[str, Any], deadline: float) -> Reply:
        while True:
            if self._closed:
                raise RelayConnectionError(None, "the connection is closed")
            if not self._ready.is_set():
                await self._wait_until_ready(method, deadline)
                continue
            if len(self._requests) >= self._settings.max_pending_requests:
                raise RelayError(None, f"{method}: too many requests in flight")
            assert self._ws is not None
            request_id, frame = self._session.request(method, params)
            waiter = self._requests[request_id] = PendingRequest(method, deadline)
            try:
                try:
                    self._ws.send(frame)
                except TransportClosed:
                    continue  # never sent, so safe to send again once reconnected
                await waiter.park()
            finally:
                del self._requests[request_id]
                self._session.forget(request_id)
            if waiter.error is not None:
                raise waiter.error
            assert waiter.reply is not None
            return waiter.reply

    async def _wait_until_ready(self, method: str, deadline: float) -> None:
        """Wait for the session to come back; bounded, so a long outage cannot pile up."""
        if self._queued >= self._settings.max_queued_requests:
            raise RelayError(None, f"{method}: too many requests waiting for a reconnect")
        self._queued += 1
        try:
            with trio.move_on_at(deadline):
                await self._ready.wait()
                return
            raise self._timeout_error(method)
        finally:
            self._queued -= 1

    def _timeout_error(self, method: str) -> RequestTimeoutError:
        timeout = self._settings.request_timeout
        return RequestTimeoutError(None, f"no reply to {method} within {timeout:g} s")

    async def expire_requests(self) -> None:
        """Fail each request whose deadline passed, for the connection's life.

        One timer for every request instead of a cancel scope per request:
        a scope costs microseconds and a deadline-heap entry that outlives
        the request. Wakes at the earliest deadline, or once per
        ``request_timeout`` when nothing is pending.
        """
        period = self._settings.request_timeout
        while True:
            now = trio.current_time()
            wake_at = now + period
            expired = []
            for waiter in self._requests.values():
                if waiter.deadline <= now:
                    expired.append(waiter)
                elif waiter.deadline < wake_at:
                    wake_at = waiter.deadline
            for waiter in expired:
                if not waiter.is_set:
                    waiter.error = self._timeout_error(waiter.method)
                    waiter.set()
            await trio.sleep_until(wake_at)

    def _send_and_forget(self, method: str, params: Mapping[str, Any]) -> None:
        """Send a request whose reply nobody awaits (used by the reader itself)."""
        if self._ws is None or not self._ready.is_set() or self._closed:
            log = logger.debug if self._closed else logger.warning
            log("not connected: could not send %s", method)
            return
        request_id, frame = self._session.request(method, params)
        self._session.forget(request_id)
        try:
            self._ws.send(frame)
        except TransportClosed:
            logger.warning("connection lost: could not send %s", method)

    async def receive(self, contexts: Iterable[str]) -> dict[str, Any]:
        """Subscribe to more contexts (``signalwire.receive``)."""
        names = _context_list(contexts)
        if not names:
            return {}
        result = await self.execute("signalwire.receive", {"contexts": names})
        self._session.contexts.extend(c for c in names if c not in self._session.contexts)
        return result

    async def unreceive(self, contexts: Iterable[str]) -> dict[str, Any]:
        """Drop context subscriptions (``signalwire.unreceive``)."""
        names = _context_list(contexts)
        if not names:
            return {}
        result = await self.execute("signalwire.unreceive", {"contexts": names})
        self._session.contexts[:] = [c for c in self._session.contexts if c not in names]
        return result

    # -- the reader -------------------------------------------------------------

    def _handle_frame(self, ws: ClientWebSocket, text: str) -> None:
        """Act on one frame. Never raises: a bad frame is logged and skipped."""
        try:
            message = self._session.receive(text)
        except RemoteProtocolError as exc:
            logger.warning("skipping a malformed frame (%s): %s", exc, describe_frame(text))
            return
        try:
            if message is None:
                return
            kind = type(message)
            if kind is Reply:
                assert isinstance(message, Reply)
                waiter = self._requests.get(message.request_id)
                if waiter is not None:
                    waiter.reply = message
                    waiter.set()
            elif kind is EventNotice:
                assert isinstance(message, EventNotice)
                if not message.duplicate:
                    try:
                        self._handle_event(message)
                    except Exception:
                        logger.exception("error while routing a %s event", message.event_type)
                ws.send(self._session.ack(message.request_id))
            elif kind is PingRequest:
                assert isinstance(message, PingRequest)
                ws.send(self._session.reply_to_ping(message))
            elif kind is DisconnectRequest:
                assert isinstance(message, DisconnectRequest)
                ws.send(self._session.ack(message.request_id))
                self._server_disconnect(message.restart)
            else:
                assert isinstance(message, UnknownRequest)
                logger.warning("server sent an unknown request %r", message.method)
                ws.send(self._session.reply_unknown(message))
        except TransportClosed:
            pass  # the next read reports it
        except Exception:
            logger.exception("error while handling a frame: %s", describe_frame(text))

    def _parse(self, notice: EventNotice) -> RelayEvent | None:
        try:
            return parse_event(notice.payload)
        except ValueError as exc:
            logger.warning("skipping a malformed %s event: %s", notice.event_type, exc)
            return None

    def _handle_event(self, notice: EventNotice) -> None:
        route = self._router.route(notice.event_type, notice.params)
        kind = route.kind
        if kind is RouteKind.CALL:
            event = self._parse(notice)
            if event is not None and route.call is not None:
                route.call._deliver(event)
        elif kind is RouteKind.NEW_CALL:
            event = self._parse(notice)
            if event is not None:
                self._new_inbound_call(event)
        elif kind is RouteKind.DIAL_LEG or kind is RouteKind.DIAL:
            event = self._parse(notice)
            if event is not None and route.dial is not None:
                route.dial.deliver(event)
        elif kind is RouteKind.MESSAGE or kind is RouteKind.NEW_MESSAGE:
            event = self._parse(notice)
            if event is not None:
                _serve.message_event(self, route.message, event)
        elif kind is RouteKind.UNROUTABLE and notice.event_type == "messaging.state":
            event = self._parse(notice)
            if event is not None:
                _serve.early_message_event(self, event)
        elif kind is RouteKind.SESSION:
            if notice.event_type == "calling.error":
                logger.warning("calling.error from the server: %s", notice.params.get("message"))
        else:
            logger.debug("dropping %s event (%s)", notice.event_type, kind.value)

    def _server_disconnect(self, restart: bool) -> None:
        """The server will close the socket: hold new requests and reconnect after it."""
        logger.info("server asked us to reconnect (restart=%s)", restart)
        if restart:
            self._session.forget_resume_state()
        if self._ready.is_set():
            self._ready = trio.Event()
        if self._link_scope is not None:  # in case the server never closes the socket
            self._link_scope.deadline = min(
                self._link_scope.deadline, trio.current_time() + DISCONNECT_GRACE
            )

    # -- calls ----------------------------------------------------------------------

    def _make_call(self, event: RelayEvent, **extra: Any) -> Call:
        params = event.params
        state = CallState(params.get("call_state") or "created")
        call = Call(
            self,
            call_id=event.call_id or "",
            node_id=shared_string(event.node_id) or "",
            project_id=shared_string(event.project_id),
            context=shared_string(event.context),
            tag=params.get("tag"),
            direction=shared_string(params.get("direction")),
            device=shared_device(params.get("device")),
            state=state if state is not CallState.UNKNOWN else CallState.CREATED,
            segment_id=same_string(params.get("segment_id"), event.call_id),
            **extra,
        )
        self._router.calls[call.call_id] = call
        return call

    def _new_inbound_call(self, event: RelayEvent) -> None:
        params = {"node_id": event.node_id, "call_id": event.call_id}
        if len(self._router.calls) >= self._settings.max_active_calls:
            logger.warning(
                "declining call %s: max_active_calls (%d) reached",
                event.call_id,
                self._settings.max_active_calls,
            )
            self._send_and_forget("calling.pass", params)
            return
        consumers = self._inbound
        if self._draining:
            logger.info("passing call %s: draining", event.call_id)
            self._send_and_forget("calling.pass", params)
            return
        if not consumers:
            logger.warning("passing call %s: nothing is serving inbound calls", event.call_id)
            self._send_and_forget("calling.pass", params)
            return
        call = self._make_call(event)
        turn = _serve.hand_over(consumers, self._inbound_turn, call)
        if turn >= 0:
            self._inbound_turn = turn
            call._deliver(event)
            return
        logger.warning("passing call %s: inbound consumers are full", event.call_id)
        self._router.calls.pop(call.call_id, None)
        self._send_and_forget("calling.pass", params)

    def _forget_call(self, call: Call) -> None:
        if self._router.calls.get(call.call_id) is call:
            del self._router.calls[call.call_id]
            if not self._router.calls and self._calls_gone is not None:
                self._calls_gone.set()

    def _spawn_listener(self, call: Call, awaitable: Awaitable[Any], event_type: str) -> None:
        async def run_listener() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("call %s: %s listener failed", call.call_id, event_type)

        nursery = call._nursery or self._nursery
        try:
            nursery.start_soon(run_listener)
        except RuntimeError:  # the call's task group has closed
            self._nursery.start_soon(run_listener)

    def inbound_calls(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Call]]:
        """Receive inbound calls on a channel, for custom dispatch.

        Calls are shared round-robin between every open ``inbound_calls()``
        and ``serve()``. Calls left unread when the block exits are passed
        back to the server so another consumer can take them.
        """
        return _serve.inbound_calls(self)

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
        await _serve.serve_calls(self, handler, task_status=task_status)

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
        return await _serve.send_message(
            self,
            to_number=to_number,
            from_number=from_number,
            body=body,
            media=media,
            context=context,
            tags=tags,
            region=region,
        )

    def inbound_messages(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Message]]:
        """Receive inbound messages on a channel (same sharing rules as calls)."""
        return _serve.inbound_messages(self)

    async def serve_messages(
        self,
        handler: MessageHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run ``await handler(message)`` for every inbound message, each in its own task."""
        await _serve.serve_messages(self, handler, task_status=task_status)

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
        from ._dial import run_dial

        return await run_dial(
            self,
            devices,
            tag=tag,
            max_duration=max_duration,
            dial_timeout=dial_timeout,
            region=region,
            max_price_per_minute=max_price_per_minute,
        )

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

    async def drain(self, timeout: float) -> None:
        """Stop taking new calls, let active ones finish (up to ``timeout``), then close.

        Unsubscribes the contexts, so the server stops offering calls here;
        ``serve()`` loops return normally once their handlers are done. After
        the timeout, calls still up are left to the server and the
        connection closes anyway. For deploys that must not drop calls.
        """
        if self._closed:
            return
        self._draining = True
        contexts = list(self._session.contexts)
        if contexts and self._ready.is_set():
            with trio.move_on_after(self._settings.request_timeout):
                try:
                    await self.unreceive(contexts)
                except RelayError as exc:
                    logger.warning("drain: unsubscribing failed: %s", exc)
        for call_channel in self._inbound:
            call_channel.close()
        for message_channel in self._inbound_messages:
            message_channel.close()
        with trio.move_on_after(timeout):
            while self._router.calls:
                self._calls_gone = trio.Event()
                await self._calls_gone.wait()
        if self._router.calls:
            logger.warning(
                "drain: %d calls still active after %g s", len(self._router.calls), timeout
            )
        self._shut_down()

    def _shut_down(self) -> None:
        """Close the socket and end the supervisor; the nursery stays for the body."""
        self._closed = True
        self._supervisor_scope.cancel()
        self._set_state(ConnectionState.CLOSED)
        for call in list(self._router.calls.values()):
            call._connection_closed()

    def _close(self) -> None:
        self._closed = True
        self._set_state(ConnectionState.CLOSED)
        self._session.close()
        for channel in self._state_channels:
            channel.close()
        self._state_channels.clear()
        for call in list(self._router.calls.values()):
            call._connection_closed()
        self._nursery.cancel_scope.cancel()


def _context_list(contexts: Iterable[str]) -> list[str]:
    if isinstance(contexts, str):
        raise ValueError("contexts must be a list of names, not a single string")
    names = list(dict.fromkeys(contexts))
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"each context must be a non-empty string, got {name!r}")
    return names
