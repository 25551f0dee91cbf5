"""What the fake's server WebSocket (``_wire``) stands on: its limits, errors and handshake.

Constants and small helpers of RFC 6455 framing, the :class:`WireClosed`
error, the :class:`ByteBudget` every connection of one server shares for
unfinished messages, and the opening handshake (:func:`read_upgrade`).
"""

from __future__ import annotations

import contextlib
import logging

import trio
from wsproto import WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "PARTIAL_FRAMES_LIMIT",
    "READ_SIZE",
    "STREAM_ERRORS",
    "WRITE_QUEUE_LIMIT",
    "ByteBudget",
    "WireClosed",
    "read_upgrade",
    "unmask",
    "utf8_size",
]

logger = logging.getLogger(__name__)

#: Bytes one WebSocket message may take (more: closed with 1009).
MAX_MESSAGE_SIZE = 10 * 1024 * 1024
#: Bytes that may wait to be written to one peer; past it the peer is cut (it does not read).
WRITE_QUEUE_LIMIT = 16 * 1024 * 1024
#: Bytes of unfinished messages all connections together may hold.
PARTIAL_FRAMES_LIMIT = 64 * 1024 * 1024
READ_SIZE = 65536
#: Sent when the upgrade request is not HTTP at all (wsproto cannot answer then).
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (RFC 6455, 5.3)."""
    size = len(payload)
    if not size:
        return b""
    key = (bytes(mask) * ((size + 3) >> 2))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def utf8_size(text: str) -> int:
    """Bytes ``text`` takes on the wire (the message size cap counts bytes)."""
    return len(text) if text.isascii() else len(text.encode())


class WireClosed(Exception):
    """The WebSocket is gone: closed (by either side), dropped or broken.

    ``client_fault`` names what the peer did wrong when that is why
    (``"protocol"``, ``"too_big"``, ``"over_budget"``, ``"slow_reader"``).
    """

    def __init__(
        self, reason: str, code: int | None = None, client_fault: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.client_fault = client_fault


class ByteBudget:
    """Bytes shared by every connection of one server (unfinished messages)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


async def read_upgrade(
    stream: trio.abc.Stream, ws: WSConnection, initial: bytes, read_size: int
) -> tuple[Request, bytes] | None:
    """Read the HTTP upgrade request and accept it: ``(request, bytes read past it)``.

    ``initial`` is what was already read from the stream (the request, as
    far as the listener read it to route the connection). Returns None,
    after answering with an HTTP error, when the request is not a
    WebSocket upgrade; None too when the peer leaves first. Transport
    errors (a failed TLS handshake...) propagate.
    """
    while True:
        data: bytes | bytearray
        if initial:
            data, initial = initial, b""
        else:
            data = await stream.receive_some(read_size)
        if not data:
            return None
        try:
            ws.receive_data(bytes(data))
            request = next((e for e in ws.events() if isinstance(e, Request)), None)
        except RemoteProtocolError as exc:
            await _reject(stream, ws, exc)
            return None
        if request is not None:
            break
    h11_connection = getattr(ws.handshake, "_h11_connection", None)
    trailing: bytes = getattr(h11_connection, "trailing_data", (b"", False))[0]
    await stream.send_all(ws.send(AcceptConnection()))
    return request, trailing


async def _reject(stream: trio.abc.Stream, ws: WSConnection, exc: RemoteProtocolError) -> None:
    logger.debug("fake relay: not a WebSocket upgrade: %s", exc)
    response = _BAD_REQUEST
    hint = exc.event_hint
    if isinstance(hint, RejectConnection):
        with contextlib.suppress(LocalProtocolError):
            response = ws.send(hint)
    with contextlib.suppress(*STREAM_ERRORS):
        await stream.send_all(response)
