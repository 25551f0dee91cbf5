"""The socket's lifetime: connect, authenticate, read, keep alive, reconnect.

Functions over a :class:`RelayConnection`, kept apart so that the
connection module holds the request and dispatch logic and this one the
supervision of one socket after another. One supervisor task owns every
socket (:func:`supervise`): it opens
it, runs the reader and writer in a per-socket nursery, and after a loss
fails the in-flight requests, backs off with jitter and reconnects, resuming
the session.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from ._errors import (
    AuthenticationError,
    ConnectionLostError,
    RelayConnectionError,
    RemoteProtocolError,
)
from ._groups import leaves, pick_error
from ._state import ConnectionState, PendingRequest
from ._tls import open_tls_over_tcp
from ._transport import ClientWebSocket, TransportClosed

if TYPE_CHECKING:
    from ._connection import RelayConnection

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["supervise"]

logger = logging.getLogger("signalwire_relay_trio")

CONNECT_TIMEOUT = 10.0
# How long the server may take to close the socket after signalwire.disconnect.
DISCONNECT_GRACE = 5.0
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
# Codes with which a server refuses a stale resume (§2.2); we then connect fresh once.
_RESUME_REFUSED = frozenset({-32003, -32602, -32002})
# A connect error that says the server is in trouble, not that we are refused.
_TRANSIENT_CONNECT_ERRORS = frozenset({-32603})


async def read_loop(conn: RelayConnection, ws: ClientWebSocket) -> None:
    handle = conn._handle_frame
    while True:
        batch = await ws.receive_batch()
        conn._last_received = trio.current_time()
        for text in batch:
            handle(ws, text)


async def keepalive(conn: RelayConnection, interval: float) -> None:
    """Probe a silent socket with a ping; no answer in time means it is half-open."""
    timeout = conn._settings.keepalive_timeout
    while True:
        quiet_until = conn._last_received + interval
        now = trio.current_time()
        if now < quiet_until:
            await trio.sleep(quiet_until - now)
            continue
        try:
            deadline = trio.current_time() + timeout
            await conn._request("signalwire.ping", {"timestamp": time.time()}, deadline)
        except trio.TooSlowError:
            raise TransportClosed(
                f"no reply to a ping within {timeout:g} s; the socket is half-open"
            ) from None


async def open_stream(conn: RelayConnection) -> trio.abc.Stream:
    settings = conn._settings
    if conn._stream_factory is not None:
        return await conn._stream_factory()
    if settings.secure:
        assert settings.ssl_context is not None
        return await open_tls_over_tcp(settings.hostname, settings.port, settings.ssl_context)
    return await trio.open_tcp_stream(settings.hostname, settings.port)


async def run_link(conn: RelayConnection, on_ready: Callable[[], None]) -> None:
    """Open one socket, authenticate, and serve it until it is lost."""
    with trio.fail_after(CONNECT_TIMEOUT):
        stream = await open_stream(conn)
    ws = ClientWebSocket(stream)
    try:
        with trio.fail_after(CONNECT_TIMEOUT):
            await ws.handshake(conn._settings.host, conn._settings.target)
        async with trio.open_nursery() as link:
            conn._link_scope = link.cancel_scope
            link.start_soon(ws.run_writer)
            link.start_soon(read_loop, conn, ws)
            conn._ws = ws
            conn._last_received = trio.current_time()
            with trio.fail_after(CONNECT_TIMEOUT):
                await authenticate(conn, ws)
            conn._ready.set()
            conn._set_state(ConnectionState.CONNECTED)
            on_ready()
            if conn._settings.keepalive_interval is not None:
                link.start_soon(keepalive, conn, conn._settings.keepalive_interval)
    finally:
        conn._link_scope = None
        conn._ws = None
        link_lost(conn)
        await ws.aclose()


async def authenticate(conn: RelayConnection, ws: ClientWebSocket) -> None:
    request_id, frame = conn._session.start_connect()
    waiter = conn._requests[request_id] = PendingRequest()
    try:
        ws.send(frame)
        await waiter.wait()
    finally:
        conn._requests.pop(request_id, None)
        conn._session.forget(request_id)
    if waiter.error is not None:
        raise waiter.error
    assert waiter.reply is not None
    was_resuming = conn._session.resuming
    conn._session.handle_connect_reply(waiter.reply)
    if was_resuming and not conn._session.session_restored:
        logger.warning("the server did not restore the session; continuing as a new one")


def link_lost(conn: RelayConnection) -> None:
    if conn._ready.is_set():
        conn._ready = trio.Event()
    lost = ConnectionLostError(None, "the connection dropped; the request's outcome is unknown")
    for request_id in conn._session.connection_lost():
        waiter = conn._requests.get(request_id)
        if waiter is not None and not waiter.is_set:
            waiter.error = lost
            waiter.set()


async def supervise(conn: RelayConnection, task_status: trio.TaskStatus[None]) -> None:
    """Keep a socket up: connect, and after a loss reconnect with backoff.

    The first connection's failure is raised from ``nursery.start``;
    later failures reconnect while ``reconnect`` is on. A rejected
    authentication is final, except a refused resume, which is retried
    once as a fresh session.
    """
    with conn._supervisor_scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.expire_requests)
            await keep_connected(conn, task_status)
            nursery.cancel_scope.cancel()


async def keep_connected(conn: RelayConnection, task_status: trio.TaskStatus[None]) -> None:
    connected_once = False
    failures = 0
    refused_resume = False
    while True:
        reached_ready = False

        def on_ready() -> None:
            nonlocal reached_ready, connected_once
            reached_ready = True
            if not connected_once:
                connected_once = True
                task_status.started()

        try:
            try:
                await run_link(conn, on_ready)
            except BaseExceptionGroup as group:
                # A refusal and the close that follows it can end one read together:
                # the refusal is what happened, so it wins.
                refusals = [e for e in leaves(group) if isinstance(e, AuthenticationError)]
                raise (refusals[0] if refusals else pick_error(group)) from None
            error: BaseException = TransportClosed("the link ended")
        except AuthenticationError as exc:
            if not connected_once:
                raise
            if conn._session.resuming and exc.code in _RESUME_REFUSED and not refused_resume:
                logger.warning("the server refused to resume the session; connecting fresh")
                conn._session.forget_resume_state()
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
            raise RelayConnectionError(None, f"could not connect: {_describe(error)}") from error
        refused_resume = False
        if conn._closed:
            return
        if not conn._settings.reconnect:
            raise RelayConnectionError(None, f"connection lost: {_describe(error)}") from error
        conn._set_state(ConnectionState.RECONNECTING)
        failures = 0 if reached_ready else failures + 1
        delay = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** min(failures, 10))
        delay *= random.uniform(0.5, 1.0)
        logger.info("connection lost (%s); reconnecting in %.1f s", _describe(error), delay)
        await trio.sleep(delay)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
