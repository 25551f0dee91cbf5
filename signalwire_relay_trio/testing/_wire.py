"""The fake's server WebSocket: wsproto driven over one trio stream, in batches.

The fake shares no transport code with the client (``_transport``): one bug
must not hide on both sides of the wire. The design is the same, though:

* :meth:`ServerWebSocket.receive_batch` reads once and returns every complete
  message of that read, so the caller handles them all before it yields;
* :meth:`ServerWebSocket.send` frames a message at once and queues the bytes;
  the single writer task (:meth:`ServerWebSocket.run_writer`) sends everything
  queued in one write. Only the writer calls ``send_all``: a cancelled send can
  leave a trio stream broken, so nobody else ever sends (the handshake is
  answered before the writer starts).

It speaks RFC 6455 as wsproto does: the HTTP upgrade (anything else gets an
HTTP error and the connection is closed), ping/pong, the close handshake
(either side may start it), fragmented messages, a cap on the message size
in bytes (close code 1009) and protocol errors (the close code wsproto
reports). The frames clients send most (whole text messages, pings) are
parsed here, the rest by wsproto (see ``_parse``); what the fake sends is
framed here, except close frames.
Binary messages are handed over decoded as UTF-8 (invalid bytes replaced):
the fake treats every message as a JSON-RPC text frame.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Callable

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import LocalProtocolError

from ._tls import ServerTLSStream
from ._wire_base import (
    MAX_MESSAGE_SIZE,
    READ_SIZE,
    STREAM_ERRORS,
    WRITE_QUEUE_LIMIT,
    ByteBudget,
    WireClosed,
    read_upgrade,
    unmask,
    utf8_size,
)

__all__ = ["MAX_MESSAGE_SIZE", "ServerWebSocket", "WireClosed"]

logger = logging.getLogger(__name__)

#: Scheduling rounds the writer lets pass between the two parts of a split batch.
BOUNDARY_YIELDS = 3
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
#: Opcodes parsed without wsproto: text, binary, ping, pong (whole, unfragmented).
_FAST_OPCODES = frozenset((0x1, 0x2, 0x9, 0xA))


class ServerWebSocket:
    """The server end of one WebSocket over an accepted trio stream."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        read_size: int = READ_SIZE,
        write_queue_limit: int = WRITE_QUEUE_LIMIT,
        partial_budget: ByteBudget | None = None,
    ) -> None:
        self._stream = stream
        self._ws = WSConnection(ConnectionType.SERVER)
        self._max_message_size = max_message_size
        self._read_size = read_size
        self._write_queue_limit = write_queue_limit
        #: Bytes queued and not written yet (the batch being written included).
        self._queued_bytes = 0
        self._overflowed = False
        #: Called (synchronously) when the write queue went over its limit.
        self.on_overflow: Callable[[], None] | None = None
        self._budget = partial_budget if partial_budget is not None else ByteBudget(1 << 62)
        #: Bytes of unfinished messages this connection holds (counted in ``_budget``).
        self._held = 0
        #: The upgrade request, once :meth:`accept` succeeded.
        self.request: Request | None = None
        self._outgoing: list[bytes] = []
        self._split: int | None = None
        self._has_outgoing = trio.Event()
        self._flushed = trio.Event()
        self._finishing = False
        self._partial: list[str | bytes] = []
        self._partial_size = 0
        #: Bytes read and not parsed yet (the start of an incomplete frame).
        self._buffer = bytearray()
        self._pending = False
        #: Set once wsproto parses everything (see ``_parse``).
        self._wsproto_reads = False
        self._close_sent = False
        self._closed: WireClosed | None = None
        #: ``(code, reason)`` of the peer's close frame, if it sent one.
        self.peer_close: tuple[int, str | None] | None = None

    @property
    def is_open(self) -> bool:
        """True until either side started closing (or the stream failed)."""
        return self._closed is None and not self._close_sent

    # -- opening handshake --------------------------------------------------

    async def accept(self, initial: bytes = b"") -> bool:
        """Read the HTTP upgrade request and accept it.

        ``initial`` is what was already read from the stream (the request, as
        far as the listener read it to route the connection). Returns False,
        after answering with an HTTP error, when the request is not a
        WebSocket upgrade; False too when the peer leaves first. Transport
        errors (a failed TLS handshake...) propagate.
        """
        upgrade = await read_upgrade(self._stream, self._ws, initial, self._read_size)
        if upgrade is None:
            return False
        self.request, trailing = upgrade
        if trailing:  # frames the client sent right behind its request
            self._buffer += trailing
            self._pending = True
        return True

    # -- sending ------------------------------------------------------------

    def send(self, text: str) -> None:
        """Frame one text message now and queue it for the writer; never blocks.

        Dropped silently once the WebSocket is closing or closed.
        """
        if self._close_sent or self._closed is not None:
            return
        # A server frame is not masked: a header and the payload (what wsproto
        # would write; it keeps no state for unfragmented data frames).
        try:
            payload = text.encode()
        except UnicodeEncodeError:
            # A lone surrogate a client sent (JSON "\\ud800") and the fake echoes:
            # inside a JSON string, backslashreplace writes the JSON escape back.
            payload = text.encode("utf-8", "backslashreplace")
        size = len(payload)
        if size < 126:
            self._queue(bytes((0x81, size)) + payload)
        elif size < 65536:
            self._queue(_HEADER_16.pack(0x81, 126, size) + payload)
        else:
            self._queue(_HEADER_64.pack(0x81, 127, size) + payload)

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Queue a close frame behind what is queued; later sends are dropped.

        The reader keeps reading until the peer answers the close (then
        :meth:`receive_batch` raises :class:`WireClosed`).
        """
        if self._close_sent or self._closed is not None:
            return
        self._send_close(code, reason)

    def _send_close(self, code: int, reason: str | None) -> None:
        self._close_sent = True
        self.boundary()  # what was queued first is read on its own, as before
        with contextlib.suppress(LocalProtocolError):
            self._queue(self._ws.send(CloseConnection(code=code, reason=reason)))

    def boundary(self) -> None:
        """Send what is queued from now on in a later write than what was queued before.

        The writer yields a few times in between, so an in-process peer reads
        (and acts on) the first part alone, as when every frame had its own
        write. Only the first boundary of a batch splits it; later ones in
        the same batch are ignored (else every request of a batch would cost
        a write).
        """
        if self._split is None:
            self._split = len(self._outgoing)
            self._has_outgoing.set()

    def _queue(self, data: bytes) -> None:
        if self._overflowed:
            return
        self._outgoing.append(data)
        self._queued_bytes += len(data)
        if self._queued_bytes > self._write_queue_limit:
            self._overflow()
        elif not self._has_outgoing.is_set():
            self._has_outgoing.set()

    @property
    def overflowed(self) -> bool:
        """True once the write queue went over its limit (the peer does not read)."""
        return self._overflowed

    @property
    def queued_bytes(self) -> int:
        """Bytes queued for the peer and not written yet."""
        return self._queued_bytes

    def _overflow(self) -> None:
        """The peer does not read: drop what waits, fail, and tell the owner."""
        self._overflowed = True
        self._outgoing.clear()
        self._fail(
            f"the peer does not read: over {self._write_queue_limit} bytes waiting to be sent",
            1008,
            "slow_reader",
        )
        if self.on_overflow is not None:
            self.on_overflow()

    def finish(self) -> None:
        """Ask the writer to send what is queued, then return."""
        self._finishing = True
        self._has_outgoing.set()

    async def flushed(self) -> None:
        """Wait until the writer has returned (after :meth:`finish` or a failure)."""
        await self._flushed.wait()

    async def run_writer(self) -> None:
        """Send queued frames, one write per batch, until :meth:`finish` or a failure.

        A :meth:`boundary` splits a batch: what was queued before it goes out
        first, the rest ``BOUNDARY_YIELDS`` scheduling rounds later. Raises
        :class:`WireClosed` when the stream fails.
        """
        outgoing = self._outgoing
        try:
            while True:
                await self._has_outgoing.wait()
                # Let every task woken by the same batch queue its frames first.
                await trio.lowlevel.checkpoint()
                self._has_outgoing = trio.Event()
                split, self._split = self._split, None
                if split is None:
                    batch = outgoing[:]
                    outgoing.clear()
                else:
                    batch = outgoing[:split]
                    del outgoing[:split]
                if batch:
                    data = batch[0] if len(batch) == 1 else b"".join(batch)
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "fake relay: sending %d frames, %d bytes", len(batch), len(data)
                        )
                    try:
                        await self._stream.send_all(data)
                    except STREAM_ERRORS as exc:
                        raise self._fail(f"send failed: {exc!r}") from exc
                    self._queued_bytes -= len(data)
                if split is not None:
                    # Give the peer the time to read and act on the first part
                    # (the loop's own checkpoint is the last of these yields).
                    for _ in range(BOUNDARY_YIELDS - 1):
                        await trio.lowlevel.checkpoint()
                    if outgoing:
                        self._has_outgoing.set()
                if self._finishing and not outgoing:
                    return
        finally:
            self._flushed.set()

    # -- receiving ----------------------------------------------------------

    async def receive_batch(self) -> list[str]:
        """Read once and return every complete message in it (maybe none).

        Raises :class:`WireClosed` once the WebSocket is closed: the peer
        answered or started the close handshake (messages before its close
        frame are returned first), the stream ended or broke, a message was
        too big or the peer broke the protocol. Whatever the fake must still
        send (a close reply) is queued for the writer by then.
        """
        if self._closed is not None:
            raise self._closed
        if self._pending:  # frames that came with the upgrade request
            self._pending = False
            return self._parse(b"")
        try:
            data = await self._stream.receive_some(self._read_size)
        except STREAM_ERRORS as exc:
            raise self._fail(f"receive failed: {exc!r}") from exc
        if not data:
            raise self._fail("connection closed by the peer without a close frame", 1006)
        if self._wsproto_reads:
            messages = self._feed_wsproto(data, self._close_sent)
        else:
            messages = self._parse(data)
        held = len(self._buffer) + self._partial_size
        if held != self._held:
            self._hold(held)
        return messages

    def _hold(self, held: int) -> None:
        """Count what this connection holds of unfinished messages; cut it past the budget."""
        budget = self._budget
        budget.used += held - self._held
        self._held = held
        if held and budget.used > budget.limit:
            logger.warning(
                "fake relay: unfinished messages over the %d-byte budget: closing a connection",
                budget.limit,
            )
            self.release()
            if not self._close_sent:
                self._send_close(1013, "server busy: too many unfinished messages")
            reason = f"unfinished messages over the {budget.limit}-byte budget"
            self._fail(reason, 1013, "over_budget")

    def release(self) -> None:
        """Drop what is held of unfinished messages (the connection is done with)."""
        self._buffer = bytearray()
        self._partial.clear()
        self._partial_size = 0
        self._budget.used -= self._held
        self._held = 0

    def _parse(self, data: bytes | bytearray) -> list[str]:
        """Every complete message of the bytes read so far.

        The common frames (complete, unfragmented text or binary messages,
        pings and pongs, masked, no extension bits) are parsed here; at the
        first other frame (a fragment, a close, anything wsproto would refuse)
        the rest of the stream goes to wsproto for good. Switching happens at a
        frame boundary with no message in progress, so wsproto starts clean.
        """
        closing = self._close_sent
        if self._buffer:
            self._buffer += data
            buf: bytes | bytearray = self._buffer
        else:
            buf = data
        messages: list[str] = []
        end = len(buf)
        pos = 0
        while end - pos >= 2:
            first = buf[pos]
            second = buf[pos + 1]
            opcode = first & 0x0F
            if first & 0xF0 != 0x80 or not second & 0x80 or opcode not in _FAST_OPCODES:
                return self._hand_over(buf, pos, messages, closing)
            size = second & 0x7F
            head = pos + 2
            if size == 126:
                if end - head < 2:
                    break
                size = int.from_bytes(buf[head : head + 2], "big")
                head += 2
                if size < 126:
                    return self._hand_over(buf, pos, messages, closing)
            elif size == 127:
                if end - head < 8:
                    break
                size = int.from_bytes(buf[head : head + 8], "big")
                head += 8
                if size < 65536 or size >> 63:
                    return self._hand_over(buf, pos, messages, closing)
            if opcode & 0x08:
                if size > 125:
                    return self._hand_over(buf, pos, messages, closing)
            elif size > self._max_message_size:
                self._too_big()
                break
            start = head + 4
            stop = start + size
            if stop > end:  # incomplete: wait for the rest
                break
            payload = unmask(buf[start:stop], buf[head:start])
            if opcode == 0x1:
                try:
                    messages.append(payload.decode())
                except UnicodeDecodeError:  # wsproto closes with 1007
                    return self._hand_over(buf, pos, messages, closing)
            elif opcode == 0x2:
                messages.append(payload.decode("utf-8", "replace"))
            elif opcode == 0x9 and not self._close_sent:
                self._queue(bytes((0x8A, size)) + payload)  # pong
            pos = stop
        if buf is self._buffer:
            del self._buffer[:pos]
        elif pos < end:
            self._buffer += buf[pos:]
        return [] if closing else messages

    def _hand_over(
        self, buf: bytes | bytearray, pos: int, messages: list[str], closing: bool
    ) -> list[str]:
        """From ``buf[pos:]`` on, wsproto parses the stream."""
        self._wsproto_reads = True
        rest = bytes(buf[pos:])
        self._buffer.clear()
        messages += self._feed_wsproto(rest, closing)
        return [] if closing else messages

    def _feed_wsproto(self, data: bytes | bytearray, closing: bool) -> list[str]:
        try:
            self._ws.receive_data(bytes(data))
        except LocalProtocolError:  # data after the close handshake: ignore it
            return []
        messages = self._drain()
        return [] if closing else messages

    def _drain(self) -> list[str]:
        """Every complete message among wsproto's events (and act on the others)."""
        messages: list[str] = []
        for event in self._ws.events():
            if isinstance(event, TextMessage):
                if event.message_finished and not self._partial:
                    if utf8_size(event.data) > self._max_message_size:
                        self._too_big()
                        break
                    messages.append(event.data)
                    continue
                text = self._add_part(event.data, event.message_finished)
            elif isinstance(event, BytesMessage):
                text = self._add_part(bytes(event.data), event.message_finished)
            elif isinstance(event, Ping):
                if not self._close_sent:
                    self._queue(self._ws.send(event.response()))
                continue
            elif isinstance(event, CloseConnection):
                self._peer_closed(event)
                break
            else:
                continue
            if self._closed is not None:  # the message was too big
                break
            if text is not None:
                messages.append(text)
        return messages

    def _add_part(self, data: str | bytes, finished: bool) -> str | None:
        """Add a fragment; the whole message once ``finished`` (None before)."""
        self._partial.append(data)
        self._partial_size += len(data) if isinstance(data, bytes) else utf8_size(data)
        if self._partial_size > self._max_message_size:
            self._too_big()
            return None
        if not finished:
            return None
        parts, self._partial = self._partial, []
        self._partial_size = 0
        if isinstance(parts[0], bytes):
            joined = b"".join(part for part in parts if isinstance(part, bytes))
            return joined.decode("utf-8", "replace")
        return "".join(part for part in parts if isinstance(part, str))

    def _too_big(self) -> None:
        self._partial.clear()
        self._partial_size = 0
        logger.debug("fake relay: a message exceeded %d bytes", self._max_message_size)
        if not self._close_sent:
            self._send_close(1009, "message too big")
        self._fail(f"a message exceeded {self._max_message_size} bytes", 1009, "too_big")

    def _peer_closed(self, event: CloseConnection) -> None:
        self.peer_close = (event.code, event.reason or None)
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the peer started: answer it
            self._close_sent = True
            with contextlib.suppress(LocalProtocolError):
                self._queue(self._ws.send(event.response()))
            fault = None
        elif state is ConnectionState.OPEN and not self._close_sent:
            # wsproto reports a protocol error as a close event: tell the peer.
            self._send_close(event.code, event.reason)
            fault = "protocol"
        else:
            fault = None
        self._fail(f"closed ({event.code} {event.reason or ''})".strip(), event.code, fault)

    def _fail(
        self, reason: str, code: int | None = None, client_fault: str | None = None
    ) -> WireClosed:
        if self._closed is None:
            self._closed = WireClosed(reason, code, client_fault)
        return self._closed

    async def abort(self) -> None:
        """Cut the transport under the WebSocket (and under TLS): no close frames."""
        self._fail("dropped", 1006)
        stream = self._stream
        if isinstance(stream, (trio.SSLStream, ServerTLSStream)):
            stream = stream.transport_stream
        await trio.aclose_forcefully(stream)
