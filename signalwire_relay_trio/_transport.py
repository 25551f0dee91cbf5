"""The client's WebSocket: wsproto driven over one trio stream, in batches.

Frames in, frames out. :meth:`ClientWebSocket.receive_batch` returns every
complete text message of one read, so the caller can handle them all before
yielding; :meth:`ClientWebSocket.send` frames a message at once and queues the
bytes, and the single writer task sends everything queued in one write. Only
the writer touches ``send_all``: a cancelled send can leave a trio stream
broken, so nobody else ever sends.
"""

from __future__ import annotations

import contextlib
import logging

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

__all__ = ["MAX_MESSAGE_SIZE", "ClientWebSocket", "TransportClosed"]

logger = logging.getLogger("signalwire_relay_trio.transport")

MAX_MESSAGE_SIZE = 10 * 1024 * 1024
READ_SIZE = 16 * 1024
CLOSE_GRACE = 2.0


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
    ) -> None:
        self._stream = stream
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._max_message_size = max_message_size
        self._read_size = read_size
        self._outgoing: list[bytes] = []
        self._has_outgoing = trio.Event()
        self._partial: list[str] = []
        self._partial_size = 0
        self._closed: TransportClosed | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def is_open(self) -> bool:
        return self._closed is None and self._ws.state is ConnectionState.OPEN

    async def handshake(self, host: str, target: str = "/") -> None:
        """Send the HTTP upgrade and wait for the server to accept it."""
        await self._stream.send_all(self._ws.send(Request(host=host, target=target)))
        while True:
            data = await self._stream.receive_some(self._read_size)
            if not data:
                raise TransportClosed("connection closed during the WebSocket handshake")
            try:
                self._ws.receive_data(bytes(data))
                for event in self._ws.events():
                    if isinstance(event, AcceptConnection):
                        return
                    if isinstance(event, (RejectConnection, RejectData)):
                        status = getattr(event, "status_code", None)
                        raise TransportClosed(f"WebSocket upgrade rejected (HTTP {status})")
            except WsRemoteProtocolError as exc:
                raise TransportClosed(f"WebSocket handshake failed: {exc}") from None

    def send(self, text: str) -> None:
        """Frame one text message now and queue it for the writer. Never blocks."""
        if self._closed is not None:
            raise self._closed
        try:
            data = self._ws.send(TextMessage(data=text))
        except WsLocalProtocolError:
            raise TransportClosed("the WebSocket is closing") from None
        self._queue(data)

    def _queue(self, data: bytes) -> None:
        self._outgoing.append(data)
        if not self._has_outgoing.is_set():
            self._has_outgoing.set()

    async def run_writer(self) -> None:
        """Send queued bytes, one write per batch, until the transport closes."""
        while True:
            await self._has_outgoing.wait()
            # Let every task woken by the same batch queue its frames first.
            await trio.lowlevel.checkpoint()
            data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
            self._outgoing.clear()
            self._has_outgoing = trio.Event()
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise self._fail(f"send failed: {exc!r}") from exc
            self.bytes_out += len(data)

    async def receive_batch(self) -> list[str]:
        """Read once and return every complete text message in it (maybe none).

        Raises :class:`TransportClosed` when the socket is gone.
        """
        if self._closed is not None:
            raise self._closed
        try:
            data = await self._stream.receive_some(self._read_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise self._fail(f"receive failed: {exc!r}") from exc
        if not data:
            raise self._fail("connection closed by the peer")
        self.bytes_in += len(data)
        try:
            self._ws.receive_data(bytes(data))
            return self._drain_events()
        except WsRemoteProtocolError as exc:
            raise self._fail(f"WebSocket protocol error: {exc}") from None

    def _drain_events(self) -> list[str]:
        messages: list[str] = []
        for event in self._ws.events():
            if isinstance(event, TextMessage):
                if event.message_finished and not self._partial:
                    if len(event.data) > self._max_message_size:
                        self._too_big()
                    messages.append(event.data)
                    continue
                self._partial.append(event.data)
                self._partial_size += len(event.data)
                if self._partial_size > self._max_message_size:
                    self._too_big()
                if event.message_finished:
                    messages.append("".join(self._partial))
                    self._partial.clear()
                    self._partial_size = 0
            elif isinstance(event, Ping):
                self._queue(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    self._queue(self._ws.send(event.response()))
                self._closed = TransportClosed(
                    f"closed by the peer ({event.code} {event.reason or ''})".strip(),
                    event.code,
                )
                # Hand over what arrived before the close; the next read raises.
                return messages
            elif isinstance(event, BytesMessage):
                logger.warning("ignoring a binary WebSocket message (%d bytes)", len(event.data))
        return messages

    def _too_big(self) -> None:
        with contextlib.suppress(WsLocalProtocolError):
            self._queue(self._ws.send(CloseConnection(code=1009, reason="message too big")))
        raise self._fail(f"a message exceeded {self._max_message_size} bytes")

    def _fail(self, reason: str) -> TransportClosed:
        if self._closed is None:
            self._closed = TransportClosed(reason)
        return self._closed

    async def aclose(self, code: int = 1000) -> None:
        """Close politely if we can, within a short grace, then close the stream."""
        with trio.move_on_after(CLOSE_GRACE) as scope:
            scope.shield = True
            try:
                if self._ws.state is ConnectionState.OPEN:
                    data = b"".join(self._outgoing) + self._ws.send(CloseConnection(code=code))
                    self._outgoing.clear()
                    await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            except WsLocalProtocolError:
                pass
        self._fail("closed locally")
        await trio.aclose_forcefully(self._stream)
