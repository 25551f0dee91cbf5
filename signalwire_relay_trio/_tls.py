"""Client TLS on memory BIOs that decrypts every record of one socket read.

``trio.SSLStream`` returns one TLS record per ``receive_some``; a reader that handles
a whole read at a time then pays about twice the reads. Here one transport read is
fed to the ``SSLObject`` and all the plaintext it yields is returned (what exceeds
``max_bytes`` is kept for the next call).

Bytes leave the outgoing BIO only under ``_send_lock``, and its holder drains the
BIO before releasing it, so records reach the wire in the order they were made, by
whichever task. A reader whose decryption made bytes (a KeyUpdate reply) thus never
waits behind a sender. TLS 1.2 renegotiation is not supported. Transport EOF without
``close_notify`` is a clean EOF (as ``https_compatible=True`` in trio): the WebSocket
close handshake on top tells a truncation apart.
"""

from __future__ import annotations

import contextlib
import ssl

import trio

from ._socket import open_raw_tcp_stream

__all__ = ["TLSStream", "open_tls_over_tcp", "start_tls"]

DEFAULT_RECEIVE_SIZE = 64 * 1024
# One full TLS record (16 KiB of plaintext plus header, padding and tag) fits.
_MIN_READ = 17 * 1024
_MAX_READ = 256 * 1024
_RECORD = 16 * 1024
CLOSE_NOTIFY_TIMEOUT = 1.0


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class TLSStream(trio.abc.Stream):
    """TLS over a connected trio stream with an SSLObject on memory BIOs.

    ``receive_some`` and ``send_all`` run the handshake first if nobody has yet, so
    calling :meth:`do_handshake` explicitly is optional. Several tasks may send at
    once (they are serialised); only one may receive at a time.
    """

    def __init__(
        self, transport: trio.abc.Stream, ssl_context: ssl.SSLContext, server_hostname: str
    ) -> None:
        self._transport = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        hostname = _strip_brackets(server_hostname)
        self._ssl = ssl_context.wrap_bio(self._incoming, self._outgoing, server_hostname=hostname)
        self._handshake_lock = trio.Lock()
        self._send_lock = trio.Lock()
        self._handshook = False
        self._receiving = False
        self._plain = bytearray()
        self._eof = False
        self._closed = False
        self._broken = False
        # A send was interrupted: the peer may hold half a record, so nothing more is sent.
        self._send_broken = False
        # A TLS error found after some good records: raised once those are returned.
        self._error: trio.BrokenResourceError | None = None

    @property
    def transport_stream(self) -> trio.abc.Stream:
        return self._transport

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._ssl

    def version(self) -> str | None:
        """The negotiated protocol ("TLSv1.3"), or None before the handshake."""
        return self._ssl.version()

    def _check_usable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream was closed")
        if self._broken:
            raise trio.BrokenResourceError("the TLS stream is broken")

    async def do_handshake(self) -> None:
        """Run the handshake once; later (or concurrent) calls wait for that one."""
        self._check_usable()
        async with self._handshake_lock:
            self._check_usable()
            if self._handshook:
                return
            try:
                await self._handshake()
            except BaseException:
                self._broken = True
                raise
            self._handshook = True

    async def _handshake(self) -> None:
        while True:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                await self._send_briefly(shield=False)  # the alert says why
                raise trio.BrokenResourceError(f"TLS handshake failed: {exc}") from exc
            else:
                break
            await self._flush(wait=True)
            data = await self._transport.receive_some(_MIN_READ)
            if not data:
                raise trio.BrokenResourceError("the peer closed during TLS handshake")
            self._incoming.write(data)
        self._plain += self._decrypt()  # records that came right behind the server's Finished
        await self._flush(wait=True)

    async def _flush(self, *, wait: bool, until_writable: bool = False) -> None:
        """Send the outgoing BIO. Without ``wait``, leave it to a task already sending."""
        lock = self._send_lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            if not wait:
                return
            await lock.acquire()
        try:
            if self._send_broken:
                raise trio.BrokenResourceError("an earlier TLS send was interrupted")
            if until_writable:
                await self._transport.wait_send_all_might_not_block()
            while self._outgoing.pending:
                data = self._outgoing.read()
                try:
                    await self._transport.send_all(data)
                except BaseException:
                    self._send_broken = True
                    raise
        finally:
            lock.release()

    async def _send_briefly(self, *, shield: bool) -> None:
        """Best effort, bounded: a peer that stops reading must not hold us up."""
        with (
            trio.move_on_after(CLOSE_NOTIFY_TIMEOUT, shield=shield),
            contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
        ):
            await self._flush(wait=True)

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        elif max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this TLS stream")
        self._receiving = True
        try:
            if not self._handshook:
                await self.do_handshake()
            self._check_usable()
            if self._plain or self._eof or self._error is not None:
                await trio.lowlevel.checkpoint()
                return self._take(max_bytes)
            read_size = min(max(max_bytes, _MIN_READ), _MAX_READ)
            while True:
                data = await self._transport.receive_some(read_size)
                if not data:
                    self._eof = True
                    return b""
                self._incoming.write(data)
                plain = self._decrypt()
                if plain and len(plain) <= max_bytes and not self._outgoing.pending:
                    return plain
                # Kept here first, so a flush that is cancelled loses nothing.
                self._plain += plain
                if self._outgoing.pending and not self._send_broken:
                    await self._flush(wait=False)
                if self._plain or self._eof or self._error is not None:
                    return self._take(max_bytes)
        finally:
            self._receiving = False

    def _take(self, max_bytes: int) -> bytes | bytearray:
        if self._plain:
            data = self._plain[:max_bytes]
            del self._plain[:max_bytes]
            return data
        if self._error is not None:
            self._broken = True
            raise self._error
        return b""

    def _decrypt(self) -> bytes:
        """The plaintext of every complete record in the incoming BIO."""
        chunks: list[bytes] = []
        read = self._ssl.read
        try:
            # Until WantRead: OpenSSL may hold whole records itself, so an empty BIO proves nothing.
            while chunk := read(_RECORD):
                chunks.append(chunk)
            self._eof = True  # read() returns b"" once close_notify has arrived
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self._eof = True
        except ssl.SSLError as exc:
            if not chunks:
                self._broken = True
                raise trio.BrokenResourceError(f"TLS error: {exc}") from exc
            self._error = trio.BrokenResourceError(f"TLS error: {exc}")
            self._error.__cause__ = exc
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self._handshook:
            await self.do_handshake()
        self._check_usable()
        if not data:
            await trio.lowlevel.checkpoint()
            return
        try:
            self._ssl.write(data)
        except ssl.SSLError as exc:
            self._broken = True
            renegotiating = isinstance(exc, ssl.SSLWantReadError)
            why = "renegotiation is not supported" if renegotiating else exc
            raise trio.BrokenResourceError(f"TLS error: {why}") from exc
        await self._flush(wait=True)

    async def wait_send_all_might_not_block(self) -> None:
        """Under the send lock: the transport allows one sender, and this counts as one."""
        self._check_usable()
        await self._flush(wait=True, until_writable=True)

    async def aclose(self) -> None:
        """Send close_notify within a short bound, then close; never waits for the peer's."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            if self._handshook and not (self._broken or self._send_broken):
                # SSLWantReadError: close_notify is written and the reply is not awaited.
                with contextlib.suppress(ssl.SSLError):
                    self._ssl.unwrap()
                await self._send_briefly(shield=True)
        finally:
            if trio.current_effective_deadline() == float("-inf"):
                await trio.aclose_forcefully(self._transport)
            else:
                await self._transport.aclose()


async def open_tls_over_tcp(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    *,
    happy_eyeballs_delay: float | None = 0.25,
) -> TLSStream:
    """open_raw_tcp_stream (IPv4/IPv6, names) + TLSStream + handshake; closes on failure."""
    host = _strip_brackets(host)
    tcp = await open_raw_tcp_stream(host, port, happy_eyeballs_delay=happy_eyeballs_delay)
    return await start_tls(tcp, ssl_context, host)


async def start_tls(tcp: trio.abc.Stream, ssl_context: ssl.SSLContext, host: str) -> TLSStream:
    """A TLSStream over ``tcp``, handshake done; ``tcp`` is closed if that fails."""
    try:
        stream = TLSStream(tcp, ssl_context, _strip_brackets(host))
        await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return stream
