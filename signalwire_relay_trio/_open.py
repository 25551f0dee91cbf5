"""``open_relay``: the async context manager that owns a ``RelayConnection``."""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import trio

from ._config import DEFAULTS, resolve_settings
from ._connection import RelayConnection
from ._groups import raise_single
from ._link import StreamFactory

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["open_relay"]


@asynccontextmanager
async def open_relay(
    project: str | None = None,
    token: str | None = None,
    *,
    jwt_token: str | None = None,
    host: str | None = None,
    contexts: Iterable[str] = (),
    url: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reconnect: bool = DEFAULTS.reconnect,
    request_timeout: float = DEFAULTS.request_timeout,
    max_active_calls: int = DEFAULTS.max_active_calls,
    stream_factory: StreamFactory | None = None,
    keepalive_interval: float | None = DEFAULTS.keepalive_interval,
    keepalive_timeout: float = DEFAULTS.keepalive_timeout,
    connect_timeout: float = DEFAULTS.connect_timeout,
    max_pending_requests: int = DEFAULTS.max_pending_requests,
    max_queued_requests: int = DEFAULTS.max_queued_requests,
) -> AsyncIterator[RelayConnection]:
    """Connect to RELAY, authenticate and subscribe ``contexts``; close on exit.

    Credentials default to ``SIGNALWIRE_PROJECT_ID``/``SIGNALWIRE_API_TOKEN``
    (or ``SIGNALWIRE_JWT_TOKEN``), ``host`` to ``SIGNALWIRE_SPACE``. ``url``
    overrides the host with a full ws:// or wss:// URL, and
    ``stream_factory`` (an async callable returning a connected trio stream)
    replaces the network connection altogether, as the test harness does.

    Keepalive: after ``keepalive_interval`` seconds without any frame from
    the server, a ``signalwire.ping`` is sent; no answer within
    ``keepalive_timeout`` means the socket is half-open, and it is replaced
    (``keepalive_interval=None`` turns this off); so is a socket the server
    stops reading from (no write progress within ``keepalive_timeout``). At
    most ``max_pending_requests`` requests may be in flight and at most
    ``max_queued_requests`` may wait for a reconnect; more raise
    :class:`RelayError` at once rather than queueing without bound.
    Connecting (TCP, TLS, the WebSocket upgrade, ``signalwire.connect``)
    must finish within ``connect_timeout``; the error names the stage that
    did not.

    Raises ``TypeError``/``ValueError`` naming a bad argument, :class:`AuthenticationError`
    when the credentials are refused, :class:`RelayConnectionError` when the
    server cannot be reached or the connection is lost for good. Errors leave
    as themselves, never inside an exception group; the body's own exception
    passes through untouched. Leaving the block closes the socket and cancels
    every task the connection started, call handlers included.
    """
    settings = resolve_settings(
        project=project,
        token=token,
        jwt_token=jwt_token,
        host=host,
        contexts=contexts,
        url=url,
        ssl_context=ssl_context,
        reconnect=reconnect,
        request_timeout=request_timeout,
        max_active_calls=max_active_calls,
        keepalive_interval=keepalive_interval,
        keepalive_timeout=keepalive_timeout,
        connect_timeout=connect_timeout,
        max_pending_requests=max_pending_requests,
        max_queued_requests=max_queued_requests,
    )
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            connection = RelayConnection(settings, nursery, stream_factory)
            await nursery.start(connection.run)
            try:
                yield connection
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                connection.close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group, body_error)
