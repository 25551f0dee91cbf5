"""A TCP stream that goes through trio's scheduler only when the socket would block.

:class:`trio.SocketStream` makes every send and every receive a schedule
point: one that did not have to wait still yields once, which is a pass of
trio's run loop with an ``epoll_wait`` of its own. A RELAY connection makes a
few of each per call. ``bench/socket_micro.py`` on the bench VM: a 200-byte
send plus its receive over a socket pair costs about 56 µs through
``SocketStream`` and 24 µs here (one yield instead of two); without any yield
it would be under 4 µs. One call at a time, the client's CPU per call fell by
about 8% (``bench/ANALYSIS.md``).

It remains a cooperative trio stream. Each operation raises if its task is
cancelled, and waits with :func:`trio.lowlevel.wait_readable` /
:func:`~trio.lowlevel.wait_writable` when the socket would block. A receive
is always a schedule point: one that had to wait yielded while it waited,
and one that found data at once yields after reading it (a busy peer: the
tasks the reader woke get to answer before it reads on). A send that did not
have to wait is not, except after ``YIELD_EVERY`` of them in a row, so a
peer that keeps taking data cannot starve the other tasks. That last point is
the one departure from trio's stream contract (every call a schedule point);
it saves a pass of the run loop per write.
"""

from __future__ import annotations

import errno
import socket

import trio

__all__ = ["YIELD_EVERY", "RawSocketStream", "open_raw_tcp_stream"]

#: Operations without a wait allowed in a row before one yields anyway.
YIELD_EVERY = 16
_DEFAULT_RECEIVE = 65536


class RawSocketStream(trio.abc.HalfCloseableStream):
    """A :class:`trio.abc.HalfCloseableStream` over a non-blocking ``socket.socket``.

    One task may send while another receives; errors of the socket come out
    as :class:`trio.BrokenResourceError`, use after :meth:`aclose` as
    :class:`trio.ClosedResourceError`.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket = sock
        self._closed = False
        self._eof_sent = False
        self._sending = False
        self._receiving = False
        self._unyielded = 0

    @classmethod
    def from_socket_stream(cls, stream: trio.SocketStream) -> RawSocketStream:
        """Take over the socket of a connected ``SocketStream`` (which is left empty)."""
        trio_socket = stream.socket
        sock = socket.socket(trio_socket.family, trio_socket.type, fileno=trio_socket.detach())
        return cls(sock)

    def _check(self, busy: bool, what: str) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")
        if busy:
            raise trio.BusyResourceError(f"another task is already {what} on this stream")

    async def _no_wait_needed(self) -> None:
        """A send completed at once: a schedule point all the same, now and then."""
        self._unyielded += 1
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._check(self._sending, "sending")
        if self._eof_sent:
            raise trio.ClosedResourceError("cannot send after send_eof()")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            waited = False
            with memoryview(data) as view:
                sent = 0
                while sent < len(view):
                    try:
                        sent += self.socket.send(view[sent:])
                    except BlockingIOError:
                        waited = True
                        self._unyielded = 0
                        await trio.lowlevel.wait_writable(self.socket)
                    except OSError as exc:
                        raise self._broken(exc) from exc
            if not waited:
                await self._no_wait_needed()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        self._check(self._sending, "sending")
        self._sending = True
        try:
            self._unyielded = 0
            await trio.lowlevel.wait_writable(self.socket)
        except OSError as exc:
            raise self._broken(exc) from exc
        finally:
            self._sending = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self._check(self._receiving, "receiving")
        if max_bytes is None:
            max_bytes = _DEFAULT_RECEIVE
        elif max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            waited = False
            while True:
                try:
                    data = self.socket.recv(max_bytes)
                except BlockingIOError:
                    waited = True
                    await trio.lowlevel.wait_readable(self.socket)
                    continue
                except OSError as exc:
                    raise self._broken(exc) from exc
                break
            if not waited:
                # Data was there at once: the peer is busy, so let the tasks this
                # reader woke run (and answer) before it reads on.
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        finally:
            self._receiving = False

    async def send_eof(self) -> None:
        self._check(self._sending, "sending")
        await trio.lowlevel.checkpoint()
        if self._eof_sent:
            return
        self._eof_sent = True
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise self._broken(exc) from exc

    def _broken(self, exc: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if self._closed or exc.errno == errno.EBADF:
            return trio.ClosedResourceError("the stream was closed")
        return trio.BrokenResourceError(f"socket error: {exc}")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.socket)  # wakes a task waiting on it
            self.socket.close()
        await trio.lowlevel.checkpoint()


async def open_raw_tcp_stream(
    host: str, port: int, *, happy_eyeballs_delay: float | None = 0.25
) -> RawSocketStream:
    """:func:`trio.open_tcp_stream` (names, IPv4/IPv6, happy eyeballs), then its socket raw."""
    stream = await trio.open_tcp_stream(host, port, happy_eyeballs_delay=happy_eyeballs_delay)
    try:
        return RawSocketStream.from_socket_stream(stream)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
