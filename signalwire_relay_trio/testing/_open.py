"""``open_fake_relay``: a fake RELAY server that runs for the duration of a block."""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from ._control import ControlAPI
from ._journal import JOURNAL_LIMIT
from ._server import ENDED_CALL_LIMIT, FakeRelay
from ._wire_base import PARTIAL_FRAMES_LIMIT, WRITE_QUEUE_LIMIT

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["open_fake_relay"]


@asynccontextmanager
async def open_fake_relay(
    *,
    project: str = "test-project",
    token: str = "test-token",
    jwt_token: str | None = None,
    contexts: Sequence[str] = ("office",),
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    ping_interval: float | None = None,
    journal_limit: int = JOURNAL_LIMIT,
    ended_call_limit: int = ENDED_CALL_LIMIT,
    write_queue_limit: int = WRITE_QUEUE_LIMIT,
    partial_frames_limit: int = PARTIAL_FRAMES_LIMIT,
) -> AsyncIterator[FakeRelay]:
    """Run a fake RELAY server for the duration of the block.

    It listens on ``host:port`` (``wss://`` when ``ssl_context`` is given) and
    also serves in-memory connections (:meth:`FakeRelay.open_memory_stream`).
    The same listener answers the HTTP control API under ``/control/``
    (:class:`ControlAPI`). Leaving the block cancels every connection. An
    exception from the body leaves unwrapped.

    Bounds, so a fake that serves for hours stays small whatever clients do
    (the oldest go first): ``journal_limit`` entries in the journal (both
    directions; also at most 64 Mi characters of frame text),
    ``ended_call_limit`` ended calls in ``calls``, ``write_queue_limit``
    bytes waiting to be sent to one client (past it the client, which does
    not read, is disconnected and a client error recorded) and
    ``partial_frames_limit`` bytes of unfinished messages over every
    connection (past it the connection that grows is closed with 1013).
    """
    fake = FakeRelay(
        project=project,
        token=token,
        jwt_token=jwt_token,
        contexts=contexts,
        host=host,
        port=port,
        ssl_context=ssl_context,
        ping_interval=ping_interval,
        journal_limit=journal_limit,
        ended_call_limit=ended_call_limit,
        write_queue_limit=write_queue_limit,
        partial_frames_limit=partial_frames_limit,
    )
    fake.control = ControlAPI(fake)
    lone: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await fake.start(nursery)
            try:
                yield fake
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        lone = group.exceptions[0]
    if lone is not None:
        raise lone
