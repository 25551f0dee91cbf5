"""The client's side of RFC 6455, sans I/O: the upgrade, frames out, frames in.

Only what a RELAY client needs, done with as little work per frame as Python
allows. The client offers no extension and no subprotocol, so every RSV bit
must be 0 and payloads are never compressed.

* :func:`upgrade_request` / :func:`parse_upgrade_response`: the HTTP/1.1
  upgrade (RFC 6455 §4.1), strict: a ``101`` with ``Upgrade: websocket``,
  ``Connection: upgrade`` and the right ``Sec-WebSocket-Accept``, and no
  extension or subprotocol, since we offered none.
* :func:`encode_text`, :func:`encode_close`, :func:`encode_pong`: one FIN frame
  each, masked with a fresh key from ``os.urandom`` (drawn 4 KiB at a time).
* :class:`FrameParser`: ``feed(data)`` returns every complete message, ping,
  pong and close of the bytes given so far, in order. A text message is a
  plain ``str``; the rest are small frozen dataclasses. What a client must
  reject raises :class:`FramingError`, whose ``code`` is the close code to send.

Nothing here imports trio: the transport does the I/O.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from dataclasses import dataclass
from typing import Union

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Binary",
    "Close",
    "Event",
    "FrameParser",
    "FramingError",
    "HandshakeError",
    "Ping",
    "Pong",
    "accept_value",
    "encode_close",
    "encode_pong",
    "encode_text",
    "parse_upgrade_response",
    "upgrade_request",
]

MAX_MESSAGE_SIZE = 10 * 1024 * 1024
#: Largest HTTP response head we wait for before giving up on the upgrade.
MAX_RESPONSE_HEAD = 16 * 1024

PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009
NO_STATUS = 1005

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# -- events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binary:
    """A complete binary message (the RELAY client has no use for one)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer's close frame; ``code`` is 1005 when it carried none."""

    code: int
    reason: str


#: What :meth:`FrameParser.feed` returns: a text message is a ``str``.
Event = Union[str, Binary, Ping, Pong, Close]


class FramingError(Exception):
    """The server broke RFC 6455; close the connection with ``code``.

    ``events`` holds what the same :meth:`FrameParser.feed` call completed
    before the violation, in order, so the caller can still deliver it.
    """

    def __init__(self, reason: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.events: list[Event] = []


class HandshakeError(Exception):
    """The server did not accept the upgrade; ``status`` is its HTTP status, if any."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# -- the upgrade ------------------------------------------------------------------

# Visible ASCII only: no space, no control character, nothing to smuggle a header in.
_REQUEST_TOKEN = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def accept_value(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def upgrade_request(host: str, target: str = "/") -> tuple[bytes, bytes]:
    """The upgrade request for ``host`` and ``target``, and the accept value to expect.

    A host name beyond ASCII goes out in its IDNA form, as wsproto sent it.
    """
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a usable Host header: {host!r}") from None
    if not _REQUEST_TOKEN.fullmatch(host):
        raise ValueError(f"not a usable Host header: {host!r}")
    if not target.startswith("/") or not _REQUEST_TOKEN.fullmatch(target):
        raise ValueError(f"not a usable request target: {target!r}")
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {target} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode('ascii')}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    )
    return request.encode("ascii"), accept_value(key)


def parse_upgrade_response(data: bytes, accept: bytes) -> int | None:
    """Check the server's answer to :func:`upgrade_request`.

    Returns ``None`` while the response head is incomplete, else its length in
    ``data`` (whatever follows is already WebSocket frames). Raises
    :class:`HandshakeError` if the server refused or answered wrongly.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_RESPONSE_HEAD:
            raise HandshakeError("the upgrade response head is too large")
        return None
    status_line, *lines = data[:end].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[0] != b"HTTP/1.1" or not re.fullmatch(rb"\d{3}", parts[1]):
        raise HandshakeError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    status = int(parts[1])
    if status != 101:
        raise HandshakeError(f"WebSocket upgrade rejected (HTTP {status})", status)
    headers: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise HandshakeError(f"malformed header line in the upgrade response: {line[:80]!r}")
        headers.setdefault(name.lower(), []).append(value.strip(b" \t"))

    def only(name: bytes) -> bytes | None:
        values = headers.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise HandshakeError(f"repeated {name.decode()} header in the upgrade response")
        return values[0]

    upgrade = only(b"upgrade")
    if upgrade is None or upgrade.lower() != b"websocket":
        raise HandshakeError(f"the server did not upgrade to websocket (Upgrade: {upgrade!r})")
    tokens = {
        token.strip(b" \t").lower()
        for value in headers.get(b"connection", [])
        for token in value.split(b",")
    }
    if b"upgrade" not in tokens:
        raise HandshakeError("the upgrade response lacks Connection: upgrade")
    if only(b"sec-websocket-accept") != accept:
        raise HandshakeError("wrong or missing Sec-WebSocket-Accept in the upgrade response")
    if b"sec-websocket-extensions" in headers:
        raise HandshakeError("the server chose an extension we did not offer")
    if b"sec-websocket-protocol" in headers:
        raise HandshakeError("the server chose a subprotocol we did not offer")
    return end + 4


# -- frames out -------------------------------------------------------------------

_from_bytes = int.from_bytes
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack
_keys: list[bytes] = []
# A forked child must not reuse the keys its parent has yet to use.
os.register_at_fork(after_in_child=_keys.clear)


def _refill_keys() -> bytes:
    """Draw 1,024 masking keys from the OS at once; return one of them.

    ``list.pop`` hands each key out once, even to several threads.
    """
    pool = os.urandom(4096)
    _keys.extend([pool[i : i + 4] for i in range(0, 4096, 4)])
    return _keys.pop()


def _frame(first: int, payload: bytes) -> bytes:
    """One masked frame: ``first`` is the FIN/opcode byte (RFC 6455 §5.2-5.3)."""
    try:
        key = _keys.pop()
    except IndexError:
        key = _refill_keys()
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 0x10000:
        head = _pack_16(first, 0xFE, size)
    else:
        head = _pack_64(first, 0xFF, size)
    # XOR the whole payload at once, as big integers: the key repeated to its length.
    mask = _from_bytes((key * ((size >> 2) + 1))[:size], "big")
    return head + key + (_from_bytes(payload, "big") ^ mask).to_bytes(size, "big")


def encode_text(text: str) -> bytes:
    """A FIN text frame carrying ``text``."""
    return _frame(0x81, text.encode())


def encode_pong(payload: bytes = b"") -> bytes:
    """A pong frame (answering a ping with its payload; at most 125 bytes)."""
    if len(payload) > 125:
        raise ValueError("a control frame carries at most 125 bytes")
    return _frame(0x8A, payload)


def encode_close(code: int | None = 1000, reason: str = "") -> bytes:
    """A close frame; ``code=None`` sends none (and then no reason).

    The reason is cut to fit the 125-byte limit on a character boundary.
    """
    if code is None or code == NO_STATUS:
        return _frame(0x88, b"")
    if not _valid_close_code(code):
        raise ValueError(f"{code} is not a close code an endpoint may send")
    encoded = reason.encode()
    if len(encoded) > 123:
        encoded = encoded[:123].decode(errors="ignore").encode()
    return _frame(0x88, code.to_bytes(2, "big") + encoded)


def _valid_close_code(code: int) -> bool:
    """RFC 6455 §7.4 and the IANA registry: 1004-1006 and 1015 never go on the wire."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


# -- frames in --------------------------------------------------------------------


class FrameParser:
    """Server frames in, events out (see the module docstring).

    A frame whose header is in but whose payload is not waits, unparsed, until
    enough bytes have arrived for the whole of it (gathered in one bytearray,
    so it is copied once more, not once per read). A message larger than
    ``max_message_size`` bytes is refused from its frame header, before any of
    its payload is buffered; buffers never hold much more than that.
    After a close frame nothing more is parsed; after a :class:`FramingError`,
    every later :meth:`feed` raises it again.
    """

    __slots__ = (
        "_closed",
        "_error",
        "_fragment_opcode",
        "_fragments",
        "_max",
        "_needed",
        "_pending",
    )

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._max = max_message_size
        # Bytes received but not parsed yet; parse again once there are _needed.
        self._pending = bytearray()
        self._needed = 0
        # The message being assembled from fragments: opcode 0 none, 1 text, 2 binary.
        self._fragment_opcode = 0
        self._fragments = bytearray()
        self._closed = False
        self._error: FramingError | None = None

    @property
    def closed(self) -> bool:
        """True once a close frame came in (later bytes are ignored)."""
        return self._closed

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Take the bytes of one read; return the events they complete, in order."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        if self._pending:
            self._pending += data
            if len(self._pending) < self._needed:
                return []
            buf = bytes(self._pending)
            self._pending = bytearray()
        else:
            buf = data if isinstance(data, bytes) else bytes(data)
        events: list[Event] = []
        try:
            self._parse(buf, events)
        except FramingError as exc:
            exc.events = events
            self._error = exc
            raise
        return events

    def _parse(self, buf: bytes, events: list[Event]) -> None:
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            first = buf[pos]
            second = buf[pos + 1]
            opcode = first & 0x0F
            fin = first & 0x80
            if first & 0x70:
                raise FramingError("a reserved bit is set (no extension was negotiated)")
            if second & 0x80:
                raise FramingError("the server sent a masked frame")
            size = second
            start = pos + 2
            if size > 125:
                if opcode & 0x08:
                    raise FramingError("a control frame longer than 125 bytes")
                if size == 126:
                    if end - start < 2:
                        break
                    size = (buf[start] << 8) | buf[start + 1]
                    start += 2
                    if size < 126:
                        raise FramingError("a length in 2 bytes that fits in 7 bits")
                else:
                    if end - start < 8:
                        break
                    size = _from_bytes(buf[start : start + 8], "big")
                    start += 8
                    if size >> 63:
                        raise FramingError("a 64-bit length with its top bit set")
                    if size < 0x10000:
                        raise FramingError("a length in 8 bytes that fits in 2")
            # The header is complete: judge the frame before waiting for its payload.
            if opcode & 0x08:
                if opcode > 0x0A:
                    raise FramingError(f"unknown control opcode {opcode:#x}")
                if not fin:
                    raise FramingError("a fragmented control frame")
            elif opcode == 0:
                if not self._fragment_opcode:
                    raise FramingError("a continuation frame outside a fragmented message")
                if len(self._fragments) + size > self._max:
                    raise FramingError(f"a message longer than {self._max} bytes", MESSAGE_TOO_BIG)
            elif opcode <= 2:
                if self._fragment_opcode:
                    raise FramingError("a new message inside a fragmented message")
                if size > self._max:
                    raise FramingError(f"a message longer than {self._max} bytes", MESSAGE_TOO_BIG)
            else:
                raise FramingError(f"unknown data opcode {opcode:#x}")
            stop = start + size
            if stop > end:
                self._wait(buf, pos, stop - pos)
                return
            payload = buf[start:stop]
            pos = stop
            if opcode == 1 and fin:
                try:
                    events.append(payload.decode())
                except UnicodeDecodeError:
                    raise FramingError(
                        "a text message that is not UTF-8", INVALID_PAYLOAD
                    ) from None
            elif opcode & 0x08:
                if opcode == 0x09:
                    events.append(Ping(payload))
                elif opcode == 0x0A:
                    events.append(Pong(payload))
                else:
                    events.append(_parse_close(payload))
                    self._closed = True
                    return
            elif not fin:
                if opcode:
                    self._fragment_opcode = opcode
                self._fragments += payload
            elif opcode == 0:
                self._fragments += payload
                events.append(self._assemble())
            else:  # an unfragmented binary message
                events.append(Binary(payload))
        if pos < end:
            self._wait(buf, pos, end - pos + 1)

    def _wait(self, buf: bytes, pos: int, needed: int) -> None:
        """Keep the unparsed tail; parse again once ``needed`` bytes of it are in."""
        self._pending = bytearray(memoryview(buf)[pos:])
        self._needed = needed

    def _assemble(self) -> str | Binary:
        payload, opcode = self._fragments, self._fragment_opcode
        self._fragments = bytearray()
        self._fragment_opcode = 0
        if opcode == 2:
            return Binary(bytes(payload))
        try:
            return payload.decode()
        except UnicodeDecodeError:
            raise FramingError("a text message that is not UTF-8", INVALID_PAYLOAD) from None


def _parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(NO_STATUS, "")
    if len(payload) == 1:
        raise FramingError("a close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not _valid_close_code(code):
        raise FramingError(f"a close frame with code {code}, which no endpoint may send")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise FramingError("a close reason that is not UTF-8", INVALID_PAYLOAD) from None
    return Close(code, reason)
