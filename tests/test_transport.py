"""``ClientWebSocket`` against real servers: trio-websocket, and raw wsproto where a
test needs frames trio-websocket never sends (fragments, garbage, early frames).

Over ``trio.testing.memory_stream_pair()`` (every byte the server sends before a
read arrives in that read) and over loopback TCP.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason

from signalwire_relay_trio._transport import ClientWebSocket, TransportClosed

HOST = "relay.test"
TARGET = "/api/relay/wss"


async def receive_messages(ws: ClientWebSocket, count: int) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        found += await ws.receive_batch()
    return found


@asynccontextmanager
async def trio_websocket_pair(
    **client_options: int,
) -> AsyncIterator[tuple[ClientWebSocket, WebSocketConnection]]:
    """Our client, upgraded, against a trio-websocket server; the writer runs."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    ws = ClientWebSocket(client_stream, **client_options)
    async with trio.open_nursery() as nursery:
        accepted: list[WebSocketConnection] = []
        ready = trio.Event()

        async def serve() -> None:
            request = await trio_websocket.wrap_server_stream(nursery, server_stream)
            assert request.path == TARGET
            accepted.append(await request.accept())
            ready.set()

        nursery.start_soon(serve)
        with trio.fail_after(5):
            await ws.handshake(HOST, TARGET)
            await ready.wait()
        assert ws.is_open
        nursery.start_soon(ws.run_writer)
        with trio.fail_after(10):
            yield ws, accepted[0]
        nursery.cancel_scope.cancel()


class RawServer:
    """A wsproto server connection over one stream, driven by the test."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None

    async def accept(self, then: bytes = b"") -> None:
        """Answer the upgrade; ``then`` goes out in the same write."""
        while self.request is None:
            self.ws.receive_data(bytes(await self.stream.receive_some(65536)))
            for event in self.ws.events():
                assert isinstance(event, Request)
                self.request = event
        await self.stream.send_all(self.ws.send(AcceptConnection()) + then)

    def frames(self, *events: Event) -> bytes:
        return b"".join(self.ws.send(event) for event in events)

    async def send(self, *events: Event) -> None:
        await self.stream.send_all(self.frames(*events))

    async def receive(self) -> list[Event]:
        """Events of the next read (``[]`` at EOF)."""
        data = await self.stream.receive_some(65536)
        if not data:
            return []
        self.ws.receive_data(bytes(data))
        return list(self.ws.events())

    async def receive_until_eof(self) -> list[Event]:
        found: list[Event] = []
        while events := await self.receive():
            found += events
        return found


@asynccontextmanager
async def raw_pair(**client_options: int) -> AsyncIterator[tuple[ClientWebSocket, RawServer]]:
    """Our client against a raw wsproto server, upgraded; the writer does not run."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    ws = ClientWebSocket(client_stream, **client_options)
    server = RawServer(server_stream)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.accept)
            await ws.handshake(HOST, TARGET)
        yield ws, server


# -- with trio-websocket -----------------------------------------------------------------


async def test_handshake_and_messages_both_ways() -> None:
    async with trio_websocket_pair() as (ws, server):
        for text in ["one", "twö", "{}" * 1000]:
            ws.send(text)
        assert [await server.get_message() for _ in range(3)] == ["one", "twö", "{}" * 1000]
        for text in ["a", "b€", "c" * 70_000]:
            await server.send_message(text)
        assert await receive_messages(ws, 3) == ["a", "b€", "c" * 70_000]
        assert ws.bytes_in > 70_000
        assert ws.bytes_out > 2000


async def test_every_message_of_one_read_comes_in_one_batch() -> None:
    async with trio_websocket_pair() as (ws, server):
        sent = [f'{{"n": {i}, "pad": "{"x" * (i * 7)}"}}' for i in range(40)]
        for text in sent:
            await server.send_message(text)
        assert await ws.receive_batch() == sent


async def test_a_message_larger_than_one_read_is_assembled() -> None:
    async with trio_websocket_pair(read_size=1000) as (ws, server):
        await server.send_message("big" * 10_000)
        await server.send_message("small")
        batches: list[list[str]] = []
        while sum(len(batch) for batch in batches) < 2:
            batches.append(await ws.receive_batch())
        assert [text for batch in batches for text in batch] == ["big" * 10_000, "small"]
        assert len(batches) > 20  # it really took many reads


async def test_the_writer_sends_a_batch_in_one_write() -> None:
    writes: list[int] = []
    async with trio_websocket_pair() as (ws, server):
        stream = ws._stream
        original = stream.send_all

        async def counting_send_all(data: bytes | bytearray | memoryview) -> None:
            writes.append(len(data))
            await original(data)

        stream.send_all = counting_send_all  # type: ignore[method-assign]
        for i in range(50):
            ws.send(f"frame {i}")
        assert [await server.get_message() for _ in range(50)] == [f"frame {i}" for i in range(50)]
        assert len(writes) == 1


async def test_a_ping_from_the_server_is_answered() -> None:
    async with trio_websocket_pair() as (ws, server), trio.open_nursery() as nursery:
        nursery.start_soon(ws.receive_batch)
        await server.ping(b"are you there")  # returns once our pong is in
        nursery.cancel_scope.cancel()


async def test_our_close_reaches_the_server_with_its_code() -> None:
    async with trio_websocket_pair() as (ws, server):
        ws.send("last words")
        await trio.sleep(0.01)
        await ws.aclose(1001)
        assert await server.get_message() == "last words"
        with pytest.raises(ConnectionClosed) as info:
            await server.get_message()
        assert info.value.reason is not None
        assert info.value.reason.code == 1001
        assert not ws.is_open
        with pytest.raises(TransportClosed):
            ws.send("too late")
        with pytest.raises(TransportClosed):
            await ws.receive_batch()


async def test_a_server_close_delivers_what_came_before_and_gets_its_reply() -> None:
    async with trio_websocket_pair() as (ws, server):
        await server.send_message("before the close")
        async with trio.open_nursery() as nursery:
            # trio-websocket's aclose waits for our reply to its close frame.
            nursery.start_soon(functools.partial(server.aclose, 4000, "maintenance"))
            batches = [await ws.receive_batch()]
            with pytest.raises(TransportClosed) as info:
                while True:
                    batches.append(await ws.receive_batch())
        assert [text for batch in batches for text in batch] == ["before the close"]
        assert info.value.code == 4000
        assert "maintenance" in info.value.reason
        assert not ws.is_open
        with pytest.raises(TransportClosed):
            ws.send("too late")
        await ws.aclose()


async def test_an_oversized_message_closes_with_1009() -> None:
    async with trio_websocket_pair(max_message_size=1000) as (ws, server):
        await server.send_message("fits")
        await server.send_message("x" * 1001)
        assert await ws.receive_batch() == ["fits"]  # what came before is delivered
        with pytest.raises(TransportClosed) as info:
            await ws.receive_batch()
        assert info.value.code == 1009
        await ws.aclose()
        with pytest.raises(ConnectionClosed) as closed:
            await server.get_message()
        assert closed.value.reason is not None
        assert closed.value.reason.code == 1009


async def test_a_refused_upgrade_raises_transport_closed() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    ws = ClientWebSocket(client_stream)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def refuse() -> None:
                request = await trio_websocket.wrap_server_stream(nursery, server_stream)
                await request.reject(403, body=b"no")

            nursery.start_soon(refuse)
            with pytest.raises(TransportClosed, match=r"rejected \(HTTP 403\)"):
                await ws.handshake(HOST, TARGET)
            nursery.cancel_scope.cancel()
    assert not ws.is_open


# -- with a raw wsproto server -------------------------------------------------------


async def test_fragments_with_a_ping_between_are_assembled_and_the_ping_answered() -> None:
    async with raw_pair() as (ws, server):
        await server.send(
            TextMessage(data="frag", message_finished=False),
            Ping(payload=b"mid"),
            TextMessage(data="mented", message_finished=False),
            TextMessage(data=" €"),
            BytesMessage(data=b"ignored"),
            Pong(payload=b"unasked"),
            TextMessage(data="next"),
        )
        assert await ws.receive_batch() == ["fragmented €", "next"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.run_writer)
            events = await server.receive()
            nursery.cancel_scope.cancel()
        assert events == [Pong(payload=b"mid")]


async def test_frames_in_the_same_read_as_the_upgrade_are_delivered() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    ws = ClientWebSocket(client_stream)
    server = RawServer(server_stream)
    framer = Connection(ConnectionType.SERVER)
    early = framer.send(TextMessage(data="early 1")) + framer.send(TextMessage(data="early 2"))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.accept, early)
            await ws.handshake(HOST, TARGET)
        assert await ws.receive_batch() == ["early 1", "early 2"]
        assert ws.bytes_in == len(early)
    assert server.request is not None
    assert server.request.host == HOST
    assert server.request.target == TARGET


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of every masked client frame in ``data``, by hand."""
    frames = []
    while data:
        size, at = data[1] & 0x7F, 2
        if size == 126:
            size, at = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            size, at = int.from_bytes(data[2:10], "big"), 10
        key, body = data[at : at + 4], data[at + 4 : at + 4 + size]
        frames.append((data[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))))
        data = data[at + 4 + size :]
    return frames


async def test_a_peer_close_is_answered_once() -> None:
    async with raw_pair() as (ws, server):
        await server.send(TextMessage(data="bye"), CloseConnection(code=1000, reason="done"))
        assert await ws.receive_batch() == ["bye"]
        with pytest.raises(TransportClosed) as info:
            await ws.receive_batch()
        assert info.value.code == 1000
        assert info.value.reason == "closed by the peer (1000 done)"
        await ws.aclose()
        received = b""
        while data := await server.stream.receive_some(65536):
            received += data
        assert client_frames(received) == [(0x8, b"\x03\xe8done")]


async def test_a_close_frame_alone_raises_at_once() -> None:
    async with raw_pair() as (ws, server):
        await server.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))  # an empty close
        with pytest.raises(TransportClosed) as info:
            await ws.receive_batch()
        assert info.value.code == 1005
        await ws.aclose()
        assert await server.receive_until_eof() == [CloseConnection(code=1005, reason="")]


@pytest.mark.parametrize(
    ("garbage", "code"),
    [
        (b"\xff" * 16, 1002),  # reserved bits, unknown opcode
        (b"\x81\x85abcdhello", 1002),  # a masked server frame
        (b"\x81\x02\xc3\x28", 1007),  # invalid UTF-8
        (b"HTTP/1.1 200 OK\r\n\r\n", 1002),
    ],
)
async def test_garbage_after_the_upgrade_closes_with_the_right_code(
    garbage: bytes, code: int
) -> None:
    async with raw_pair() as (ws, server):
        await server.stream.send_all(garbage)
        with pytest.raises(TransportClosed) as info:
            await ws.receive_batch()
        assert info.value.code == code
        with pytest.raises(TransportClosed):
            ws.send("after the error")
        await ws.aclose()
        events = await server.receive_until_eof()
        assert len(events) == 1
        assert isinstance(events[0], CloseConnection)
        assert events[0].code == code


async def test_messages_before_garbage_in_the_same_read_are_delivered() -> None:
    async with raw_pair() as (ws, server):
        await server.stream.send_all(server.frames(TextMessage(data="good")) + b"\xff\xff")
        assert await ws.receive_batch() == ["good"]
        with pytest.raises(TransportClosed) as info:
            await ws.receive_batch()
        assert info.value.code == 1002


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        b"",  # EOF
        b"HTTP/1.1 101 Switching",  # then EOF
    ],
)
async def test_garbage_instead_of_an_upgrade_raises_transport_closed(answer: bytes) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    ws = ClientWebSocket(client_stream)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def answer_badly() -> None:
                await server_stream.receive_some(65536)
                if answer:
                    await server_stream.send_all(answer)
                await server_stream.aclose()

            nursery.start_soon(answer_badly)
            with pytest.raises(TransportClosed):
                await ws.handshake(HOST, TARGET)
    assert not ws.is_open


async def test_eof_raises_transport_closed() -> None:
    async with raw_pair() as (ws, server):
        await server.stream.send_all(server.frames(TextMessage(data="last")))
        await server.stream.aclose()
        assert await ws.receive_batch() == ["last"]
        with pytest.raises(TransportClosed, match="closed by the peer"):
            await ws.receive_batch()
        await ws.aclose()


async def test_aclose_sends_nothing_after_an_interrupted_write() -> None:
    """A write cancelled half way may leave half a frame: no close frame after it."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    ws = ClientWebSocket(client_stream)
    ws._open = True  # skip the upgrade: only the writer matters here
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.run_writer)
            ws.send("x" * 100)
            await trio.sleep(0.01)  # the writer is stuck: nobody reads a lockstep stream
            nursery.cancel_scope.cancel()
        writes: list[bytes] = []

        async def record(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))  # pragma: no cover - must not be called

        ws._stream.send_all = record  # type: ignore[method-assign]
        await ws.aclose()
    assert writes == []
    await server_stream.aclose()


# -- over loopback TCP ---------------------------------------------------------------


async def test_over_loopback_against_trio_websocket() -> None:
    received: list[str | bytes] = []
    close_codes: list[int] = []
    server_done = trio.Event()

    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        server = await request.accept()
        try:
            while True:
                message = await server.get_message()
                received.append(message)
                await server.send_message(message)
        except ConnectionClosed as exc:
            assert exc.reason is not None
            close_codes.append(exc.reason.code)
            server_done.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(trio_websocket.serve_websocket, echo, "127.0.0.1", 0, None)
            )
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            ws = ClientWebSocket(stream)
            await ws.handshake(f"127.0.0.1:{server.port}", "/echo")
            async with trio.open_nursery() as link:
                link.start_soon(ws.run_writer)
                sent = [f"message {i} " + "é" * i for i in range(200)] + ["big" * 100_000]
                for text in sent:
                    ws.send(text)
                assert await receive_messages(ws, len(sent)) == sent
                link.cancel_scope.cancel()
            await ws.aclose()
            await server_done.wait()
            assert close_codes == [1000]
            assert received == sent
            nursery.cancel_scope.cancel()
