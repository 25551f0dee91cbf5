"""The client's WebSocket: our RFC 6455 framer over one trio stream, in batches.

Frames in, frames out. :meth:`ClientWebSocket.receive_batch` returns every
complete text message of one read, so the caller can handle them all before
yielding; :meth:`ClientWebSocket.send` frames a message at once and queues the
bytes, and the single writer task sends everything queued in one write. Only
the writer touches ``send_all`` while the link runs (``aclose`` flushes what is
left afterwards): a cancelled send can leave a trio stream broken, so nobody
else ever sends.

The wire format is :mod:`._framing` (sans I/O), the upgrade included.
"""

from __future__ import annotations

import logging
import math

import trio

from ._framing import (
    MAX_MESSAGE_SIZE,
    Binary,
    Close,
    Event,
    FrameParser,
    FramingError,
    HandshakeError,
    Ping,
    encode_close,
    encode_pong,
    encode_text,
    parse_upgrade_response,
    upgrade_request,
)

__all__ = ["MAX_MESSAGE_SIZE", "ClientWebSocket", "TransportClosed"]

logger = logging.getLogger("signalwire_relay_trio.transport")

READ_SIZE = 16 * 1024
CLOSE_GRACE = 2.0
#: Bytes that may wait for the writer before the peer counts as not reading.
MAX_QUEUED_BYTES = 16 * 1024 * 1024
#: A long batch goes out in pieces of this size, each with the write timeout.
WRITE_PIECE = 64 * 1024

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class TransportClosed(Exception):
    """The WebSocket is gone (peer close, EOF, broken stream or protocol error)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ClientWebSocket:
    """One client WebSocket over an already connected trio stream."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        read_size: int = READ_SIZE,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        write_timeout: float = math.inf,
    ) -> None:
        self._stream = stream
        self._parser = FrameParser(max_message_size)
        self._max_message_size = max_message_size
        self._read_size = read_size
        self._outgoing: list[bytes] = []
        self._queued_bytes = 0
        self._max_queued_bytes = max_queued_bytes
        self._has_outgoing = trio.Event()
        self._write_timeout = write_timeout
        # Frames that came in the same read as the upgrade response.
        self._early = b""
        self._open = False
        self._close_queued = False
        # Set while the writer is inside send_all; still set if that send was
        # interrupted, when the stream may hold half a frame: aclose then sends nothing.
        self._writing = False
        self._closed: TransportClosed | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def is_open(self) -> bool:
        return self._closed is None and self._open

    @property
    def failure(self) -> TransportClosed | None:
        """Why the transport closed, once it has."""
        return self._closed

    async def handshake(self, host: str, target: str = "/") -> None:
        """Send the HTTP upgrade and wait for the server to accept it."""
        request, accept = upgrade_request(host, target)
        await self._stream.send_all(request)
        received = b""
        while True:
            data = await self._stream.receive_some(self._read_size)
            if not data:
                raise TransportClosed("connection closed during the WebSocket handshake")
            received += data
            try:
                head = parse_upgrade_response(received, accept)
            except HandshakeError as exc:
                if exc.status is not None:
                    raise TransportClosed(exc.reason) from None
                raise TransportClosed(f"WebSocket handshake failed: {exc}") from None
            if head is not None:
                self._early = received[head:]
                self._open = True
                return

    def send(self, text: str) -> None:
        """Frame one text message now and queue it for the writer. Never blocks.

        Raises :class:`TransportClosed` when the socket is gone, or when more
        than ``max_queued_bytes`` already wait to be sent: a peer that stops
        reading cannot make us hold unbounded memory.
        """
        if self._closed is not None:
            raise self._closed
        if not self._open:
            raise TransportClosed("the WebSocket is not open")
        data = encode_text(text)
        if self._outgoing and self._queued_bytes + len(data) > self._max_queued_bytes:
            raise self._fail(f"the peer is not reading: {self._queued_bytes} bytes wait to be sent")
        self._queue(data)

    def _queue(self, data: bytes) -> None:
        self._queued_bytes += len(data)
        self._outgoing.append(data)
        if not self._has_outgoing.is_set():
            self._has_outgoing.set()

    def _queue_close(self, code: int | None, reason: str = "") -> None:
        if not self._close_queued:
            self._close_queued = True
            self._queue(encode_close(code, reason))

    async def run_writer(self) -> None:
        """Send queued bytes, one write per batch, until the transport closes.

        A send that makes no progress for ``write_timeout`` seconds (the peer
        stopped reading) closes the transport. One cancel scope serves every
        send: its deadline is set while a send runs and lifted after.
        """
        with trio.CancelScope() as scope:
            await self._write_batches(scope if self._write_timeout < math.inf else None)
        raise self._fail(
            f"no write progress for {self._write_timeout:g} s: the peer is not reading"
        )

    async def _write_batches(self, scope: trio.CancelScope | None) -> None:
        while True:
            await self._has_outgoing.wait()
            # Let every task woken by the same batch queue its frames first.
            await trio.lowlevel.checkpoint()
            self._has_outgoing = trio.Event()
            outgoing = self._outgoing
            if not outgoing:  # aclose() took it
                continue
            data = b"".join(outgoing) if len(outgoing) > 1 else outgoing[0]
            outgoing.clear()
            self._queued_bytes = 0
            self._writing = True
            try:
                if scope is None:
                    await self._stream.send_all(data)
                else:
                    await self._send_with_progress(data, scope)
            except _STREAM_ERRORS as exc:
                raise self._fail(f"send failed: {exc!r}") from exc
            self._writing = False
            self.bytes_out += len(data)

    async def _send_with_progress(self, data: bytes, scope: trio.CancelScope) -> None:
        """Send ``data``; each piece of it must go out within the write timeout."""
        view = memoryview(data)
        for start in range(0, len(data), WRITE_PIECE):
            scope.deadline = trio.current_time() + self._write_timeout
            await self._stream.send_all(view[start : start + WRITE_PIECE])
        scope.deadline = math.inf

    async def receive_batch(self) -> list[str]:
        """Read once and return every complete text message in it (maybe none).

        Raises :class:`TransportClosed` when the socket is gone. Messages that
        came before a close frame or a protocol error in the same read are
        returned first; the next call raises.
        """
        if self._closed is not None:
            raise self._closed
        data: bytes | bytearray
        if self._early:
            data, self._early = self._early, b""
        else:
            try:
                data = await self._stream.receive_some(self._read_size)
            except _STREAM_ERRORS as exc:
                raise self._fail(f"receive failed: {exc!r}") from exc
            if not data:
                raise self._fail("connection closed by the peer")
        self.bytes_in += len(data)
        try:
            events = self._parser.feed(data)
        except FramingError as exc:
            messages = self._handle_events(exc.events)
            self._queue_close(exc.code, exc.reason)
            if exc.code == 1009:
                reason = f"a message exceeded {self._max_message_size} bytes"
            else:
                reason = f"WebSocket protocol error: {exc}"
            closed = self._fail(reason, exc.code)
            if messages:
                return messages
            raise closed from None
        for event in events:
            if event.__class__ is not str:
                messages = self._handle_events(events)
                if messages or self._closed is None:
                    return messages
                raise self._closed
        return events  # type: ignore[return-value]  # every event is a str

    def _handle_events(self, events: list[Event]) -> list[str]:
        """The slow path: a read that brought more than text messages."""
        messages: list[str] = []
        for event in events:
            if isinstance(event, str):
                messages.append(event)
            elif isinstance(event, Ping):
                if not self._close_queued:
                    self._queue(encode_pong(event.payload))
            elif isinstance(event, Close):
                # Echo the peer's close (RFC 6455 §5.5.1); hand over what came before it.
                self._queue_close(event.code, event.reason)
                detail = f"{event.code} {event.reason}" if event.reason else f"{event.code}"
                self._fail(f"closed by the peer ({detail})", event.code)
            elif isinstance(event, Binary):
                logger.warning("ignoring a binary WebSocket message (%d bytes)", len(event.data))
            # A Pong needs nothing: we never ping at the WebSocket level.
        return messages

    def _fail(self, reason: str, code: int | None = None) -> TransportClosed:
        if self._closed is None:
            self._closed = TransportClosed(reason, code)
        return self._closed

    async def aclose(self, code: int = 1000) -> None:
        """Close politely if we can, within a short grace, then close the stream.

        Flushes what the writer did not send, ending with our close frame (the
        one already queued, if a peer close or a protocol error queued it).
        """
        # From here on send() raises: nothing can be queued behind our close frame.
        self._fail("closed locally")
        with trio.move_on_after(CLOSE_GRACE) as scope:
            scope.shield = True
            if self._open and not self._writing:
                self._queue_close(code)
                data = b"".join(self._outgoing)
                self._outgoing.clear()
                self._queued_bytes = 0
                try:
                    if data:
                        await self._stream.send_all(data)
                except _STREAM_ERRORS:
                    pass
        await trio.aclose_forcefully(self._stream)
