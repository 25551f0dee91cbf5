"""TLS for the fake's listener: ``ssl.MemoryBIO`` over one accepted socket.

``trio.SSLStream`` hands over one TLS record per ``receive_some``; a client
that writes every frame on its own (the official SDK does) then costs the
fake one trip through the scheduler per frame. This stream decrypts every
record of one socket read at once, so the WebSocket layer gets them all as
one batch.

It is a server end only, and deliberately small: the handshake runs on the
first read (the fake's handshake timeout bounds it), writes encrypt and send
at once, the peer's ``close_notify`` and a bare TCP EOF both read as EOF
(the ``https_compatible`` behaviour of ``trio.SSLStream``), and any TLS
error is a ``trio.BrokenResourceError``. Only one task may read and one
task may write at a time (the fake's reader and writer); TLS output a read
produces (post-handshake messages) goes out with the next write.
"""

from __future__ import annotations

import contextlib
import ssl

import trio

__all__ = ["ServerTLSStream"]

#: Bytes asked of the socket per read.
READ_SIZE = 65536
#: Bytes asked of the TLS object per record read (a record holds at most 16 KiB).
_RECORD_SIZE = 16384 + 1024


class ServerTLSStream(trio.abc.Stream):
    """The server end of TLS over ``transport_stream`` (a freshly accepted socket)."""

    def __init__(self, transport_stream: trio.abc.Stream, context: ssl.SSLContext) -> None:
        self.transport_stream = transport_stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._handshake_done = False
        self._eof = False
        self._plaintext = b""

    async def _handshake(self) -> None:
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self.transport_stream.receive_some(READ_SIZE)
                if not data:
                    raise trio.BrokenResourceError("EOF during the TLS handshake") from None
                self._incoming.write(data)
            except ssl.SSLError as exc:
                await self._flush_quietly()  # the alert, if OpenSSL made one
                raise trio.BrokenResourceError(f"TLS handshake failed: {exc}") from exc
        self._handshake_done = True
        await self._flush()  # the server's last flight (and session tickets)

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self.transport_stream.send_all(data)

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self._flush()

    def _decrypt(self) -> bytes:
        """Every byte the TLS object can give from what was read so far."""
        chunks: list[bytes] = []
        read = self._ssl.read
        try:
            while True:
                chunk = read(_RECORD_SIZE)
                if not chunk:  # the peer's close_notify
                    self._eof = True
                    break
                chunks.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:  # close_notify, as some Pythons report it
            self._eof = True
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError(f"TLS error: {exc}") from exc
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self._handshake_done:
            await self._handshake()
        elif self._plaintext:
            await trio.lowlevel.checkpoint()
            return self._take(max_bytes)
        while True:
            if not self._eof:
                self._plaintext = self._decrypt()
                if self._plaintext:
                    return self._take(max_bytes)
            if self._eof:
                await trio.lowlevel.checkpoint()
                return b""
            data = await self.transport_stream.receive_some(READ_SIZE)
            if not data:  # a bare TCP EOF counts as EOF, as with https_compatible
                self._eof = True
                return b""
            self._incoming.write(data)

    def _take(self, max_bytes: int | None) -> bytes:
        data = self._plaintext
        if max_bytes is None or len(data) <= max_bytes:
            self._plaintext = b""
            return data
        self._plaintext = data[max_bytes:]
        return data[:max_bytes]

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self._handshake_done:
            raise trio.BrokenResourceError("the TLS handshake has not completed")
        try:
            self._ssl.write(data)
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError(f"TLS error: {exc}") from exc
        await self._flush()

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        """Close the socket (no ``close_notify``: the fake's peers do not need one)."""
        await self.transport_stream.aclose()
