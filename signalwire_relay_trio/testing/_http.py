"""HTTP/1.1 on the fake's listener, parsed by h11: the request head, a bounded body, JSON replies.

Every connection starts with an HTTP request: a WebSocket upgrade (RELAY),
or a control API request (``/control/...``). :func:`read_head` reads just
enough to tell them apart and keeps the bytes it read, so the WebSocket
handshake can parse them again from the start. Nothing here parses HTTP by
hand: h11 does, and bounds the head (``MAX_HEAD_SIZE``); bodies are bounded
here (``MAX_BODY_SIZE``).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import attrs
import h11
import trio

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_HEAD_SIZE",
    "BodyTooLarge",
    "RequestHead",
    "read_body",
    "read_head",
    "send_json",
]

#: Bytes a request line and its headers may take (h11 answers more with an error).
MAX_HEAD_SIZE = 16 * 1024
#: Bytes a control request's body may take.
MAX_BODY_SIZE = 64 * 1024
READ_SIZE = 65536
CONTROL_PREFIX = "/control"

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class BodyTooLarge(Exception):
    """The request's body is bigger than ``MAX_BODY_SIZE``."""


@attrs.frozen
class RequestHead:
    """The first request on a connection, as far as routing needs it.

    ``raw`` is every byte read so far (the head and whatever followed it);
    ``request`` is ``None`` when h11 could not parse a request from them (the
    WebSocket handshake then answers with an HTTP error, as it always did).
    """

    raw: bytes
    connection: h11.Connection
    request: h11.Request | None

    @property
    def target(self) -> str:
        """The request target (path and query), or ``""``."""
        if self.request is None:
            return ""
        return self.request.target.decode("ascii", "replace")

    @property
    def is_control(self) -> bool:
        """True for a request under ``/control`` (the control API)."""
        target = self.target
        return target == CONTROL_PREFIX or target.startswith((CONTROL_PREFIX + "/", "/control?"))


async def read_head(stream: trio.abc.Stream) -> RequestHead | None:
    """Read until h11 has a request head (or cannot make one); ``None`` if the peer left.

    Takes no timeout: the caller bounds it.
    """
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
    raw = bytearray()
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return RequestHead(bytes(raw), connection, None)
        if isinstance(event, h11.Request):
            return RequestHead(bytes(raw), connection, event)
        if event is not h11.NEED_DATA:  # ConnectionClosed: EOF before any request
            return None
        try:
            data = await stream.receive_some(READ_SIZE)
        except _STREAM_ERRORS:
            return None
        if not data:
            return None if not raw else RequestHead(bytes(raw), connection, None)
        raw += data
        connection.receive_data(bytes(data))


async def read_body(stream: trio.abc.Stream, connection: h11.Connection) -> bytes:
    """The body of the request whose head ``connection`` parsed (at most ``MAX_BODY_SIZE``).

    Raises :class:`BodyTooLarge`, ``h11.RemoteProtocolError`` for a broken
    message, ``trio.BrokenResourceError`` when the peer leaves mid-body.
    Takes no timeout: the caller bounds it.
    """
    body = bytearray()
    if connection.they_are_waiting_for_100_continue:  # curl asks for it before big bodies
        try:
            await stream.send_all(
                connection.send(h11.InformationalResponse(status_code=100, headers=[]))
            )
        except _STREAM_ERRORS as exc:
            raise trio.BrokenResourceError("the peer left mid-request") from exc
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_SIZE:
                raise BodyTooLarge
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        elif event is h11.NEED_DATA:
            try:
                data = await stream.receive_some(READ_SIZE)
            except _STREAM_ERRORS as exc:
                raise trio.BrokenResourceError("the peer left mid-request") from exc
            if not data:
                raise trio.BrokenResourceError("the peer left mid-request")
            connection.receive_data(bytes(data))
        else:  # PAUSED (an upgrade was asked for) or the connection closed
            raise h11.RemoteProtocolError("unexpected end of the request")


_REASONS = {
    200: b"OK",
    201: b"Created",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    413: b"Content Too Large",
    500: b"Internal Server Error",
}


async def send_json(
    stream: trio.abc.Stream,
    connection: h11.Connection,
    status: int,
    body: Any,
    headers: list[tuple[str, str]] = [],  # noqa: B006 (never mutated)
) -> None:
    """Answer with ``body`` as JSON, then close the connection (``Connection: close``).

    Failures to send (the peer left) are ignored: there is nobody to tell.
    """
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    fields = [
        ("content-type", "application/json"),
        ("content-length", str(len(payload))),
        ("connection", "close"),
        *headers,
    ]
    try:
        data = connection.send(
            h11.Response(status_code=status, headers=fields, reason=_REASONS.get(status, b""))
        )
        data = (data or b"") + (connection.send(h11.Data(data=payload)) or b"")
        data += connection.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError:  # the request was too broken to answer
        return
    with contextlib.suppress(*_STREAM_ERRORS):
        await stream.send_all(data)
