"""``RawSocketStream``: a TCP stream that goes through trio's scheduler only when it must.

trio's own stream conformance suite holds it to every rule of a half-closeable
stream once sends yield every time too (``YIELD_EVERY = 1``); with the
default, the tests below pin the one departure: a send that did not have to
wait is not a schedule point, except every ``YIELD_EVERY``th in a row.
"""

from __future__ import annotations

import functools
import itertools
import socket
import struct

import pytest
import trio
import trio.testing

from signalwire_relay_trio import _socket
from signalwire_relay_trio._socket import RawSocketStream, open_raw_tcp_stream


async def stream_pair() -> tuple[RawSocketStream, RawSocketStream]:
    left, right = socket.socketpair()
    return RawSocketStream(left), RawSocketStream(right)


async def clogged_stream_pair() -> tuple[RawSocketStream, RawSocketStream]:
    """A pair whose send buffers are full both ways (a peer that stopped reading)."""
    left, right = socket.socketpair()
    for sock in (left, right):
        sock.setblocking(False)
        try:
            while True:
                sock.send(b"x" * 65536)
        except BlockingIOError:
            pass
    return RawSocketStream(left), RawSocketStream(right)


class StepCounter(trio.abc.Instrument):
    """How many times the current task was scheduled: each is one yield to trio."""

    def __init__(self) -> None:
        self.task = trio.lowlevel.current_task()
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


async def test_trio_conformance_when_every_operation_yields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_socket, "YIELD_EVERY", 1)
    with trio.fail_after(30):
        await trio.testing.check_half_closeable_stream(stream_pair, clogged_stream_pair)


async def test_a_send_that_need_not_wait_yields_only_every_so_often() -> None:
    left, right = await stream_pair()
    async with left, right:
        left._unyielded = 0
        counter = StepCounter()
        trio.lowlevel.add_instrument(counter)
        try:
            for _ in range(_socket.YIELD_EVERY - 1):
                await left.send_all(b"x")
            assert counter.steps == 0
            await left.send_all(b"x")
            assert counter.steps == 1
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert await right.receive_some() == b"x" * _socket.YIELD_EVERY


async def test_a_receive_yields_once_whether_or_not_it_waited() -> None:
    left, right = await stream_pair()
    counter = StepCounter()
    async with left, right, trio.open_nursery() as nursery:
        await left.send_all(b"ready")
        trio.lowlevel.add_instrument(counter)
        try:
            assert await right.receive_some() == b"ready"  # there at once: yields after
            assert counter.steps == 1

            async def send_later() -> None:
                await trio.sleep(0.01)
                await left.send_all(b"later")

            nursery.start_soon(send_later)
            assert await right.receive_some() == b"later"  # waited: no second yield
            assert counter.steps == 2
        finally:
            trio.lowlevel.remove_instrument(counter)


async def test_a_socket_that_keeps_taking_data_cannot_starve_other_tasks() -> None:
    left, right = await stream_pair()
    ran: list[int] = []
    sent = 0

    async def other_task() -> None:
        while True:
            ran.append(sent)
            await trio.lowlevel.checkpoint()

    async with left, right, trio.open_nursery() as nursery:
        nursery.start_soon(other_task)
        while sent < 160:  # few enough for the socket buffer: no send ever waits
            await left.send_all(b"x")
            sent += 1
        nursery.cancel_scope.cancel()
    gaps = [later - earlier for earlier, later in itertools.pairwise(ran)]
    assert len(ran) >= 160 // _socket.YIELD_EVERY - 1
    # trio runs a batch in random order: at most two stretches between two turns.
    assert max(gaps) <= 2 * _socket.YIELD_EVERY


async def test_a_cancelled_operation_raises_before_touching_the_socket() -> None:
    left, right = await stream_pair()
    async with left, right:
        await left.send_all(b"kept")
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await right.receive_some(10)
            with pytest.raises(trio.Cancelled):
                await right.send_all(b"never")
        assert await right.receive_some(10) == b"kept"
        await left.send_all(b"")  # nothing to send is not an error


async def test_a_peer_reset_is_a_broken_resource() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    stream = RawSocketStream(left)
    right.close()
    async with stream:
        with pytest.raises(trio.BrokenResourceError, match="socket error"):
            for _ in range(100):  # the first send may still be buffered
                await stream.send_all(b"x" * 65536)


async def test_over_loopback_tcp_with_more_than_the_buffers_hold() -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB: sends and receives must wait

    async def echo(stream: trio.SocketStream) -> None:
        async with stream:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            stream = await open_raw_tcp_stream("127.0.0.1", port)
            assert stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            received = bytearray()

            async def send_then_eof() -> None:
                await stream.send_all(payload)
                await stream.send_eof()

            nursery.start_soon(send_then_eof)
            while data := await stream.receive_some():
                received += data
            assert received == payload
            await stream.aclose()
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some(1)
            nursery.cancel_scope.cancel()


async def test_aborting_the_connection_reports_the_reset() -> None:
    async def reset(stream: trio.SocketStream) -> None:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, reset, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with await open_raw_tcp_stream("127.0.0.1", port) as stream:
                with pytest.raises(trio.BrokenResourceError, match="reset"):
                    while await stream.receive_some(10):
                        pass
            nursery.cancel_scope.cancel()
