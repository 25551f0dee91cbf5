"""The link: one socket after another, and the requests sent over them.

:class:`Link` owns the RELAY session (sans I/O), the current WebSocket, its
reader, writer and keepalive tasks, the readiness of the session and the
table of requests in flight. One supervisor task (:meth:`Link.run`) opens a
socket, authenticates, serves it until it is lost, fails the requests that
were in flight, backs off with jitter and reconnects, resuming the session.

What arrives is handed, frame by frame, to the ``on_frame`` callback given
to :meth:`Link.run`; connection states go to ``on_state``. Nothing else
writes the link's state.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import trio

from ._config import RelaySettings
from ._errors import (
    AuthenticationError,
    ConnectionLostError,
    RelayConnectionError,
    RelayError,
    RemoteProtocolError,
)
from ._groups import leaves, pick_error
from ._protocol import RelaySession, Reply
from ._requests import RequestTable, timeout_error
from ._socket import open_raw_tcp_stream
from ._state import ConnectionState
from ._tls import start_tls
from ._transport import MAX_MESSAGE_SIZE, ClientWebSocket, TransportClosed

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Link", "StreamFactory"]

logger = logging.getLogger("signalwire_relay_trio")

StreamFactory = Callable[[], Awaitable[trio.abc.Stream]]

# How long the server may take to close the socket after signalwire.disconnect.
DISCONNECT_GRACE = 5.0
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
# Codes with which a server refuses a stale resume (§2.2); we then connect fresh once.
_RESUME_REFUSED = frozenset({-32003, -32602, -32002})
# A connect error that says the server is in trouble, not that we are refused.
_TRANSIENT_CONNECT_ERRORS = frozenset({-32603})


class Link:
    """The session's socket (replaced after each loss) and its requests."""

    def __init__(
        self,
        settings: RelaySettings,
        on_state: Callable[[ConnectionState], None],
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.session = RelaySession(settings.credentials, settings.contexts)
        self._settings = settings
        self._on_state = on_state
        self._stream_factory = stream_factory
        self._requests = RequestTable(settings.request_timeout)
        #: Hand a reply to the request waiting for it (the reader's hot path: no extra call).
        self.settle = self._requests.settle
        self._ws: ClientWebSocket | None = None
        self._ready = trio.Event()
        self._closed = False
        self._queued = 0  # requests waiting for a reconnect
        self._last_received = 0.0
        self._socket_scope: trio.CancelScope | None = None
        self._supervisor_scope = trio.CancelScope()
        self.reconnects = 0
        self.request_errors: dict[str, int] = {}  # by code (or error class, for local ones)

    @property
    def is_ready(self) -> bool:
        """True while a socket is authenticated and the link is not closed."""
        return not self._closed and self._ready.is_set()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def request_timeout(self) -> float:
        return self._settings.request_timeout

    @property
    def pending_requests(self) -> int:
        return len(self._requests)

    @property
    def websocket(self) -> ClientWebSocket | None:
        """The current socket, if one is up (for diagnostics and tests)."""
        return self._ws

    # -- requests -------------------------------------------------------------

    async def execute(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a request and return its result, within ``request_timeout``.

        Raises :class:`RelayError` for a non-2xx code or a JSON-RPC error.
        """
        deadline = trio.current_time() + self._settings.request_timeout
        try:
            reply = await self.request(method, params, deadline)
            return reply.unwrap()
        except RelayError as exc:
            key = type(exc).__name__ if exc.code is None else str(exc.code)
            self.request_errors[key] = self.request_errors.get(key, 0) + 1
            raise

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        deadline: float,
        *,
        capped: bool = True,
    ) -> Reply:
        """Send one request and wait for its reply (or an error) until ``deadline``.

        Waits for the session to be ready if it is reconnecting; a request
        that could not be sent on a socket that just closed is sent again
        once reconnected. A request from a cancelled scope is never sent.
        ``capped=False`` (the keepalive ping) is not held to
        ``max_pending_requests``: a full table is what a half-open socket
        looks like, and the ping is what finds out.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._closed:
                raise RelayConnectionError(None, "the connection is closed")
            ws = self._ws
            if ws is None or not self._ready.is_set():
                await self._wait_until_ready(method, deadline, capped=capped)
                continue
            if capped and len(self._requests) >= self._settings.max_pending_requests:
                raise RelayError(None, f"{method}: too many requests in flight")
            request_id, frame = self.session.request(method, params)
            too_big = _oversize(method, frame)
            if too_big is not None:
                self.session.forget(request_id)
                raise too_big
            waiter = self._requests.add(request_id, method, deadline)
            try:
                try:
                    ws.send(frame)
                except TransportClosed:
                    # Never sent, so safe to send again once reconnected: retire
                    # the dead socket first, or this loop would find it again.
                    self._retire(ws)
                    continue
                await waiter.park()
            finally:
                self._forget(request_id)
            return waiter.outcome()

    def _forget(self, request_id: str) -> None:
        """The request is over for us: a late reply to it will be dropped."""
        self._requests.remove(request_id)
        self.session.forget(request_id)

    async def _wait_until_ready(self, method: str, deadline: float, *, capped: bool) -> None:
        """Wait for the session to come back; bounded, so a long outage cannot pile up."""
        if capped and self._queued >= self._settings.max_queued_requests:
            raise RelayError(None, f"{method}: too many requests waiting for a reconnect")
        self._queued += 1
        try:
            with trio.move_on_at(deadline):
                await self._ready.wait()
                return
            raise timeout_error(method, self._settings.request_timeout)
        finally:
            self._queued -= 1

    def send_nowait(self, method: str, params: Mapping[str, Any]) -> None:
        """Send a request whose reply nobody awaits; logged, not raised, when impossible."""
        ws = self._ws
        if ws is None or not self.is_ready:
            log = logger.debug if self._closed else logger.warning
            log("not connected: could not send %s", method)
            return
        request_id, frame = self.session.request(method, params)
        self.session.forget(request_id)
        too_big = _oversize(method, frame)
        if too_big is not None:
            logger.warning("not sent: %s", too_big.message)
            return
        try:
            ws.send(frame)
        except TransportClosed:
            logger.warning("connection lost: could not send %s", method)

    # -- what the reader uses ---------------------------------------------------

    def send_frame(self, frame: str) -> None:
        """Queue a frame (an ack or a reply) on the current socket.

        Raises :class:`TransportClosed` when there is none; the reader's
        next read reports the loss.
        """
        ws = self._ws
        if ws is None:
            raise TransportClosed("no socket")
        ws.send(frame)

    def _retire(self, ws: ClientWebSocket) -> None:
        """A send found ``ws`` closed: hold new requests and end its serving now."""
        if ws is not self._ws:
            return
        if self._ready.is_set():
            self._ready = trio.Event()
        if self._socket_scope is not None:
            self._socket_scope.cancel()

    def server_disconnect(self, restart: bool) -> None:
        """The server will close the socket: hold new requests and reconnect after it."""
        logger.info("server asked us to reconnect (restart=%s)", restart)
        if restart:
            self.session.forget_resume_state()
        if self._ready.is_set():
            self._ready = trio.Event()
        scope = self._socket_scope
        if scope is not None:  # in case the server never closes the socket
            scope.deadline = min(scope.deadline, trio.current_time() + DISCONNECT_GRACE)

    # -- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """End the link for good: the supervisor stops and the socket closes."""
        self._closed = True
        self._supervisor_scope.cancel()
        self.session.close()

    async def run(
        self,
        on_frame: Callable[[str], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Keep a socket up, handing every frame read to ``on_frame``, until closed.

        Connects, and after a loss reconnects with backoff. The first
        connection's failure is raised from ``nursery.start``; later
        failures reconnect while ``reconnect`` is on. A rejected
        authentication is final, except a refused resume, which is retried
        once as a fresh session.
        """
        with self._supervisor_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._requests.run_timer)
                await self._keep_connected(on_frame, task_status)
                nursery.cancel_scope.cancel()

    async def _keep_connected(
        self, on_frame: Callable[[str], None], task_status: trio.TaskStatus[None]
    ) -> None:
        connected_once = False
        failures = 0
        refused_resume = False
        while True:
            reached_ready = False

            def on_ready() -> None:
                nonlocal reached_ready, connected_once
                reached_ready = True
                if connected_once:
                    self.reconnects += 1
                else:
                    connected_once = True
                    task_status.started()

            try:
                try:
                    await self._serve_one_socket(on_frame, on_ready)
                except BaseExceptionGroup as group:
                    # A refusal and the close that follows it can end one read together:
                    # the refusal is what happened, so it wins.
                    refusals = [e for e in leaves(group) if isinstance(e, AuthenticationError)]
                    raise (refusals[0] if refusals else pick_error(group)) from None
                error: BaseException = TransportClosed("the link ended")
            except AuthenticationError as exc:
                if not connected_once:
                    raise
                if self.session.resuming and exc.code in _RESUME_REFUSED and not refused_resume:
                    logger.warning("the server refused to resume the session; connecting fresh")
                    self.session.forget_resume_state()
                    refused_resume = True
                    continue
                if exc.code not in _TRANSIENT_CONNECT_ERRORS:
                    raise
                error = exc
            except (
                OSError,
                TransportClosed,
                trio.TooSlowError,
                trio.BrokenResourceError,  # a failed TLS handshake
                RemoteProtocolError,
            ) as exc:
                error = exc
            if not connected_once:
                raise RelayConnectionError(
                    None, f"could not connect: {_describe(error)}"
                ) from error
            refused_resume = False
            if self._closed:
                return
            if not self._settings.reconnect:
                raise RelayConnectionError(None, f"connection lost: {_describe(error)}") from error
            self._on_state(ConnectionState.RECONNECTING)
            failures = 0 if reached_ready else failures + 1
            delay = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** min(failures, 10))
            delay *= random.uniform(0.5, 1.0)
            logger.info("connection lost (%s); reconnecting in %.1f s", _describe(error), delay)
            await trio.sleep(delay)

    @contextmanager
    def _connect_stage(self, stage: str, deadline: float) -> Iterator[None]:
        """One stage of connecting, within the connect deadline; a timeout names the stage."""
        try:
            with trio.fail_at(deadline):
                yield
        except trio.TooSlowError:
            timeout = self._settings.connect_timeout
            raise TransportClosed(f"{stage} did not finish within {timeout:g} s") from None

    async def _open_stream(self, deadline: float) -> trio.abc.Stream:
        settings = self._settings
        if self._stream_factory is not None:
            with self._connect_stage("opening the stream", deadline):
                return await self._stream_factory()
        with self._connect_stage("TCP connect", deadline):
            tcp = await open_raw_tcp_stream(settings.hostname, settings.port)
        if not settings.secure:
            return tcp
        assert settings.ssl_context is not None
        with self._connect_stage("TLS handshake", deadline):
            return await start_tls(tcp, settings.ssl_context, settings.hostname)

    async def _serve_one_socket(
        self, on_frame: Callable[[str], None], on_ready: Callable[[], None]
    ) -> None:
        """Open one socket, authenticate, and serve it until it is lost."""
        deadline = trio.current_time() + self._settings.connect_timeout
        stream = await self._open_stream(deadline)
        ws = ClientWebSocket(stream, write_timeout=self._settings.keepalive_timeout)
        try:
            with self._connect_stage("the WebSocket upgrade", deadline):
                await ws.handshake(self._settings.host, self._settings.target)
            async with trio.open_nursery() as nursery:
                self._socket_scope = nursery.cancel_scope
                nursery.start_soon(ws.run_writer)
                nursery.start_soon(self._read, ws, on_frame)
                self._ws = ws
                self._last_received = trio.current_time()
                with self._connect_stage("signalwire.connect", deadline):
                    await self._authenticate(ws)
                self._ready.set()
                self._on_state(ConnectionState.CONNECTED)
                on_ready()
                if self._settings.keepalive_interval is not None:
                    nursery.start_soon(self._keepalive, self._settings.keepalive_interval)
            if ws.failure is not None:  # retired after a failed send: say why
                raise ws.failure
        finally:
            self._socket_scope = None
            self._ws = None
            self._socket_lost(sys.exc_info()[1])
            await ws.aclose()

    async def _read(self, ws: ClientWebSocket, on_frame: Callable[[str], None]) -> None:
        while True:
            batch = await ws.receive_batch()
            self._last_received = trio.current_time()
            for text in batch:
                on_frame(text)

    async def _keepalive(self, interval: float) -> None:
        """Probe a silent socket with a ping; no answer in time means it is half-open."""
        timeout = self._settings.keepalive_timeout
        while True:
            quiet_until = self._last_received + interval
            now = trio.current_time()
            if now < quiet_until:
                await trio.sleep(quiet_until - now)
                continue
            # Its own deadline: the request timer may sleep far longer than this.
            with trio.move_on_after(timeout) as scope:
                ping = {"timestamp": time.time()}
                await self.request("signalwire.ping", ping, math.inf, capped=False)
            if scope.cancelled_caught:
                raise TransportClosed(
                    f"no reply to a ping within {timeout:g} s; the socket is half-open"
                )

    async def _authenticate(self, ws: ClientWebSocket) -> None:
        request_id, frame = self.session.start_connect()
        waiter = self._requests.add(request_id, "signalwire.connect", float("inf"))
        try:
            ws.send(frame)
            await waiter.wait()
        finally:
            self._forget(request_id)
        reply = waiter.outcome()
        was_resuming = self.session.resuming
        self.session.handle_connect_reply(reply)
        if was_resuming and not self.session.session_restored:
            logger.warning("the server did not restore the session; continuing as a new one")

    def _socket_lost(self, cause: BaseException | None) -> None:
        """Fail the requests in flight: each its own error, chained to what ended the socket."""
        if self._ready.is_set():
            self._ready = trio.Event()

        def lost() -> ConnectionLostError:
            error = ConnectionLostError(
                None, "the connection dropped; the request's outcome is unknown"
            )
            error.__cause__ = cause
            return error

        self._requests.fail(self.session.connection_lost(), lost)


def _oversize(method: str, frame: str) -> RelayError | None:
    """The error for a request too big for the server to take, or None."""
    # A character is at most 4 bytes: only long frames need encoding to know.
    if len(frame) * 4 <= MAX_MESSAGE_SIZE:
        return None
    size = len(frame.encode("utf-8"))
    if size <= MAX_MESSAGE_SIZE:
        return None
    return RelayError(
        None, f"{method}: the request is {size} bytes, over the {MAX_MESSAGE_SIZE}-byte frame limit"
    )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
