"""The fake server's own transport: its WebSocket (``_wire``) and TLS (``_tls``) layers.

Clients here are written by hand on wsproto (or raw bytes), so every frame
and every write is under the test's control. The parser is checked against
wsproto itself: the same bytes, cut anywhere, must give the same messages,
pongs and close codes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from fakeclient import PROJECT, TOKEN, fake_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

from signalwire_relay_trio.testing import FakeRelay
from signalwire_relay_trio.testing._link import CLOSE_TIMEOUT
from signalwire_relay_trio.testing._tls import ServerTLSStream
from signalwire_relay_trio.testing._wire import MAX_MESSAGE_SIZE, ServerWebSocket, WireClosed

JSON = dict[str, Any]


def connect_frame(frame_id: str = "c1", **extra: Any) -> str:
    params = {
        "version": {"major": 2, "minor": 0, "revision": 0},
        "authentication": {"project": PROJECT, "token": TOKEN},
        "contexts": ["office"],
        **extra,
    }
    return json.dumps(
        {"jsonrpc": "2.0", "id": frame_id, "method": "signalwire.connect", "params": params}
    )


def request_text(method: str, params: JSON, frame_id: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params})


class WsClient:
    """A wsproto client over one stream: every write and read is explicit."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        self.eof = False

    async def handshake(self) -> None:
        await self.stream.send_all(self.ws.send(Request(host="fake-relay.invalid", target="/")))
        while True:
            for event in await self.read():
                if isinstance(event, AcceptConnection):
                    return
                raise AssertionError(f"unexpected {event!r}")  # pragma: no cover

    def frame(self, event: Event) -> bytes:
        return self.ws.send(event)

    async def send(self, *events: Event) -> None:
        """All the frames of ``events`` in one write."""
        await self.stream.send_all(b"".join(self.ws.send(event) for event in events))

    async def read(self) -> list[Event]:
        """Read once; the events of that read (``eof`` is set at EOF or a reset)."""
        try:
            data = await self.stream.receive_some(1 << 20)
        except trio.BrokenResourceError:  # a reset, or TLS cut without close_notify
            data = b""
        if not data:
            self.eof = True
            return []
        self.ws.receive_data(data)
        return list(self.ws.events())

    async def next_event(self) -> Event:
        while not self.pending:
            if self.eof:
                raise AssertionError("EOF")
            self.pending += await self.read()
        return self.pending.pop(0)

    async def next_message(self) -> JSON:
        """The next whole text message, decoded (control frames are skipped)."""
        parts: list[str] = []
        while True:
            event = await self.next_event()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    frame: JSON = json.loads("".join(parts))
                    return frame
            elif isinstance(event, CloseConnection):
                raise AssertionError(f"closed: {event!r}")

    async def reply(self, frame_id: str) -> JSON:
        while True:
            frame = await self.next_message()
            if frame.get("id") == frame_id and "method" not in frame:
                return frame
            if frame.get("method") == "signalwire.event":
                await self.send(
                    TextMessage(
                        data=json.dumps({"jsonrpc": "2.0", "id": frame["id"], "result": {}})
                    )
                )

    async def until_eof(self) -> list[Event]:
        """Every event up to EOF."""
        events = list(self.pending)
        self.pending.clear()
        while not self.eof:
            events += await self.read()
        return events


@asynccontextmanager
async def memory_client(fake: FakeRelay) -> AsyncIterator[WsClient]:
    client = WsClient(await fake.open_memory_stream())
    await client.handshake()
    try:
        yield client
    finally:
        await trio.aclose_forcefully(client.stream)


# -- the handshake ------------------------------------------------------------------------


def upgrade_request(key: bytes = b"dGhlIHNhbXBsZSBub25jZQ==", **headers: str) -> bytes:
    fields = {
        "Host": "fake-relay.invalid",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key.decode(),
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    lines = ["GET /api/relay/ws HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items() if v)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_http_head(stream: trio.abc.Stream) -> tuple[bytes, bytes]:
    """The HTTP response head, and whatever came after it in the same reads."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


async def test_handshake_by_hand_then_frames_sent_right_behind_the_request() -> None:
    """A raw upgrade: 101 with the RFC's accept token; frames pipelined behind it count."""
    with trio.fail_after(5):
        async with fake_server() as fake:
            stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
            key = b"dGhlIHNhbXBsZSBub25jZQ=="
            frames = Connection(ConnectionType.CLIENT)
            first = frames.send(TextMessage(data=connect_frame("pipelined")))
            await stream.send_all(upgrade_request(key) + first)  # one write
            head, rest = await read_http_head(stream)
            status, *fields = head.decode().split("\r\n")
            assert status.startswith("HTTP/1.1 101")
            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            ).decode()
            assert f"sec-websocket-accept: {accept}".lower() in [f.lower() for f in fields]
            frames.receive_data(rest)
            texts = [e for e in frames.events() if isinstance(e, TextMessage)]
            while not texts:
                frames.receive_data(await stream.receive_some(65536))
                texts = [e for e in frames.events() if isinstance(e, TextMessage)]
            reply = json.loads(texts[0].data)
            assert reply["id"] == "pipelined" and "result" in reply
            assert fake.connection_count == 1
            await stream.aclose()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),  # plain HTTP, no upgrade
        (upgrade_request().replace(b"GET", b"POST"), b"400"),
        (upgrade_request(**{"Sec-WebSocket-Version": "8"}), b"426"),
        (upgrade_request(**{"Sec-WebSocket-Key": ""}), b"400"),
        (b"\x16\x03\x01garbage\r\n\r\n", b"400"),  # not HTTP at all (TLS to a ws:// port)
    ],
)
async def test_a_request_that_is_no_websocket_upgrade_is_refused(
    request_bytes: bytes, status: bytes
) -> None:
    with trio.fail_after(5):
        async with fake_server() as fake:
            stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
            await stream.send_all(request_bytes)
            head, _ = await read_http_head(stream)
            assert head.split(b"\r\n")[0].split()[1] == status
            assert await stream.receive_some(100) == b""  # and the fake hangs up
            await stream.aclose()
            async with memory_client(fake) as client:  # the listener is fine
                await client.send(TextMessage(data=connect_frame()))
                assert "result" in await client.reply("c1")
            assert fake.connection_count == 1


async def test_a_silent_connection_is_cut_after_the_handshake_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake:
            stream = await fake.open_memory_stream()
            start = trio.current_time()
            assert await stream.receive_some(100) == b""
            assert trio.current_time() - start == pytest.approx(10)
            assert fake.connection_count == 0


# -- messages -----------------------------------------------------------------------------


async def test_fragmented_messages_with_a_ping_in_between(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, memory_client(fake) as client:
            text = connect_frame("frag")
            thirds = [text[:20], text[20:50], text[50:]]
            await client.send(
                TextMessage(data=thirds[0], message_finished=False),
                TextMessage(data=thirds[1], message_finished=False),
                Ping(payload=b"between"),
            )
            event = await client.next_event()
            assert isinstance(event, Pong) and event.payload == b"between"
            await client.send(TextMessage(data=thirds[2], message_finished=True))
            assert "result" in await client.reply("frag")
            # A binary message, in fragments, is read as UTF-8 text.
            data = request_text("signalwire.ping", {"timestamp": 7}, "bin").encode()
            await client.send(
                BytesMessage(data=data[:10], message_finished=False),
                BytesMessage(data=data[10:], message_finished=True),
            )
            assert (await client.reply("bin"))["result"] == {"timestamp": 7}
            (entry,) = [e for e in fake.journal if e.id == "frag"]
            assert entry.method == "signalwire.connect"


async def test_pings_get_pongs_with_their_payload(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(Ping(payload=b""), Ping(payload=b"x" * 125))
            pongs = [await client.next_event(), await client.next_event()]
            assert [p.payload for p in pongs if isinstance(p, Pong)] == [b"", b"x" * 125]
            await client.send(Pong(payload=b"unsolicited"))  # ignored
            await client.send(TextMessage(data=connect_frame()))
            assert "result" in await client.reply("c1")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 65537, 3 * 65536 + 17])
def test_frames_of_every_length_encoding(size: int) -> None:
    for text in ("a" * size, "é" * (size // 2)):
        assert server_frames([text, "after"]) == [text, "after"]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 65537, 3 * 65536 + 17])
async def test_messages_of_every_length_encoding_both_ways(
    size: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The ping reply echoes ``timestamp``: a big one makes a big frame each way."""
    with trio.fail_after(30):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            padding = "é" * (size // 2) + "x" * (size % 2)  # two bytes per é
            await client.send(
                TextMessage(data=request_text("signalwire.ping", {"timestamp": padding}, "big"))
            )
            assert (await client.reply("big"))["result"] == {"timestamp": padding}


def server_frames(texts: list[str]) -> list[str]:
    """Frame ``texts`` as the fake does; parse them back with a wsproto client."""

    class Sink(trio.abc.Stream):  # pragma: no cover - never used for I/O
        async def send_all(self, data: Any) -> None: ...
        async def wait_send_all_might_not_block(self) -> None: ...
        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            return b""

        async def aclose(self) -> None: ...

    server = ServerWebSocket(Sink())
    for text in texts:
        server.send(text)
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(b"".join(server._outgoing))
    parts: list[str] = []
    messages = []
    for event in client.events():
        assert isinstance(event, TextMessage), event
        parts.append(event.data)
        if event.message_finished:
            messages.append("".join(parts))
            parts.clear()
    return messages


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300) | st.sampled_from(["a" * 70000, "é" * 40000]), max_size=6))
def test_the_fakes_frames_parse_as_wsproto_reads_them(texts: list[str]) -> None:
    assert server_frames(texts) == texts


async def test_a_message_over_the_cap_closes_with_1009(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            await client.send(TextMessage(data="x" * (MAX_MESSAGE_SIZE + 1)))
            events = await client.until_eof()
            closes = [e for e in events if isinstance(e, CloseConnection)]
            assert [c.code for c in closes] == [1009]
            assert fake.sessions[0].link is None


@pytest.mark.parametrize("fragmented", [False, True])
async def test_the_cap_counts_bytes_and_fragments(fragmented: bool) -> None:
    async with wire_pair(max_message_size=100) as (client, server):
        ok = "é" * 50  # 100 bytes
        if fragmented:
            await client.send(
                TextMessage(data=ok[:20], message_finished=False), TextMessage(data=ok[20:])
            )
        else:
            await client.send(TextMessage(data=ok))
        assert await server.receive_batch() == [ok]
        too_big = ok + "x"
        if fragmented:
            await client.send(
                TextMessage(data=too_big[:60], message_finished=False),
                TextMessage(data=too_big[60:]),
            )
        else:
            await client.send(TextMessage(data=too_big))
        assert await server.receive_batch() == []
        with pytest.raises(WireClosed) as info:
            await server.receive_batch()
        assert info.value.code == 1009
        event = await client.next_event()
        assert isinstance(event, CloseConnection) and event.code == 1009


# -- closing ------------------------------------------------------------------------------


async def test_the_client_closes_the_fake_answers_and_hangs_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            (session,) = fake.sessions
            # The messages before the close frame are still handled.
            ping = request_text("signalwire.ping", {"timestamp": 1}, "last")
            await client.send(TextMessage(data=ping), CloseConnection(code=1001, reason="bye"))
            events = await client.until_eof()
            assert [e.code for e in events if isinstance(e, CloseConnection)] == [1001]
            assert [e.id for e in fake.journal][-1] == "last"
            assert session.link is None and not session.connected


async def test_the_fake_closes_and_waits_for_the_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fake.send_disconnect)
                disconnect = await client.next_message()
                while disconnect.get("method") != "signalwire.disconnect":
                    disconnect = await client.next_message()
                await client.send(
                    TextMessage(
                        data=json.dumps({"jsonrpc": "2.0", "id": disconnect["id"], "result": {}})
                    )
                )
                event = await client.next_event()
                assert isinstance(event, CloseConnection) and event.code == 1000
                start = trio.current_time()
                await client.send(event.response())  # the close reply
                assert await client.until_eof() == []
                assert trio.current_time() - start < 1
            assert fake.sessions[0].link is None


async def test_a_client_that_never_answers_the_close_is_cut(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, memory_client(fake) as client:
            await client.send(TextMessage(data=connect_frame(authentication={"project": "nope"})))
            assert (await client.reply("c1"))["error"]["code"] == -32002
            event = await client.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1000
            start = trio.current_time()
            # Frames the client sends now are not answered; no close reply ever comes.
            late = TextMessage(data=request_text("signalwire.ping", {}, "late"))
            await client.stream.send_all(Connection(ConnectionType.CLIENT).send(late))
            assert await client.until_eof() == []
            assert trio.current_time() - start == pytest.approx(CLOSE_TIMEOUT)


async def test_drop_cuts_the_socket_without_a_close_frame() -> None:
    with trio.fail_after(10):
        async with fake_server() as fake:
            client = WsClient(await trio.open_tcp_stream("127.0.0.1", fake.port))
            await client.handshake()
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            await fake.drop()
            events = await client.until_eof()
            assert not any(isinstance(e, CloseConnection) for e in events)
            assert fake.sessions[0].link is None  # the session outlives its socket
            await client.stream.aclose()


# -- batching -----------------------------------------------------------------------------


class CountingStream(trio.abc.Stream):
    """The fake's end of a memory stream pair, counting the fake's writes."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.writes: list[bytes] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def texts_in(write: bytes) -> list[str]:
    frames = Connection(ConnectionType.CLIENT)
    frames.receive_data(write)
    return [e.data for e in frames.events() if isinstance(e, TextMessage)]


async def test_a_batch_is_answered_in_one_write_and_an_ack_is_read_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            client_end, server_end = trio.testing.memory_stream_pair()
            counting = CountingStream(server_end)
            fake.spawn(fake._serve_stream, counting)
            client = WsClient(client_end)
            await client.handshake()
            await client.send(TextMessage(data=connect_frame()))
            await client.reply("c1")
            await trio.testing.wait_all_tasks_blocked()
            # Ten requests in one write: ten replies in one write.
            counting.writes.clear()
            pings = [request_text("signalwire.ping", {"timestamp": i}, f"p{i}") for i in range(10)]
            await client.send(*(TextMessage(data=p) for p in pings))
            await trio.testing.wait_all_tasks_blocked()
            assert [len(texts_in(w)) for w in counting.writes] == [10]
            # A command's ack goes out alone; the events it causes in the next write.
            call = await fake.inbound_call()
            await trio.testing.wait_all_tasks_blocked()
            counting.writes.clear()
            answer = {"node_id": call.node_id, "call_id": call.call_id}
            await client.send(TextMessage(data=request_text("calling.answer", answer, "a1")))
            await trio.testing.wait_all_tasks_blocked()
            written = [[json.loads(t) for t in texts_in(w)] for w in counting.writes]
            assert [[f.get("id") for f in w] for w in written[:1]] == [["a1"]]
            states = [f["params"]["params"]["call_state"] for w in written[1:] for f in w]
            assert states == ["answered"]
            await trio.aclose_forcefully(client_end)


# -- the parser against wsproto -------------------------------------------------------------


class ChunkStream(trio.abc.Stream):
    """Hands over the given chunks one per read, then EOF; records writes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.written = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        return self.chunks.pop(0) if self.chunks else b""

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def parse_with_the_fake(
    chunks: list[bytes], max_size: int
) -> tuple[list[str], Any, list[Event]]:
    """Messages, the close (or None at EOF) and the frames the fake queued."""
    server = ServerWebSocket(ChunkStream(chunks), max_message_size=max_size)
    server._ws.receive_data(upgrade_request())  # a real handshake first...
    list(server._ws.events())
    server._ws.send(AcceptConnection())  # ...so wsproto is in the OPEN state
    messages: list[str] = []
    closed: WireClosed | None = None
    try:
        while True:
            messages += await server.receive_batch()
    except WireClosed as exc:
        closed = exc
    replies = Connection(ConnectionType.CLIENT)
    replies.receive_data(b"".join(server._outgoing))
    return messages, closed, list(replies.events())


def parse_with_wsproto(data: bytes, max_size: int) -> tuple[list[str], int | None, list[bytes]]:
    """What a plain wsproto server makes of ``data``: messages, close code, pong payloads.

    A message over ``max_size`` closes the connection (1009) as soon as the
    fragments received so far exceed it, before any later control frame.
    """
    ws = Connection(ConnectionType.SERVER)
    ws.receive_data(data)
    messages: list[str] = []
    parts: list[Any] = []
    pongs: list[bytes] = []
    code = None
    for event in ws.events():
        if isinstance(event, (TextMessage, BytesMessage)):
            parts.append(event.data)
            received = sum(len(p.encode()) if isinstance(p, str) else len(p) for p in parts)
            if received > max_size:
                return messages, 1009, pongs
            if event.message_finished:
                if isinstance(parts[0], str):
                    text = "".join(parts)
                else:
                    text = b"".join(parts).decode("utf-8", "replace")
                size = len(text.encode()) if isinstance(parts[0], str) else len(b"".join(parts))
                parts.clear()
                if size > max_size:
                    return messages, 1009, pongs
                messages.append(text)
        elif isinstance(event, Ping):
            pongs.append(bytes(event.payload))
        elif isinstance(event, CloseConnection):
            code = event.code
            break
    return messages, code, pongs


client_events = st.one_of(
    st.builds(TextMessage, data=st.text(max_size=200)),
    st.builds(BytesMessage, data=st.binary(max_size=200)),
    st.builds(Ping, payload=st.binary(max_size=125)),
    st.builds(Pong, payload=st.binary(max_size=20)),
    st.just(TextMessage(data="x" * 70000)),
    st.tuples(st.text(min_size=2, max_size=100), st.integers(1, 99)).map(
        lambda t: [
            TextMessage(data=t[0][: t[1] % len(t[0])], message_finished=False),
            Ping(payload=b"mid"),
            TextMessage(data=t[0][t[1] % len(t[0]) :], message_finished=True),
        ]
    ),
    st.just(CloseConnection(code=1000, reason="done")),
)


def masked(payload: bytes, key: bytes = b"abcd") -> bytes:
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


#: Frames wsproto refuses (a client's: masked with b"abcd" unless said otherwise).
BAD_FRAMES = {
    "rsv bit": b"\xc1\x81abcd" + masked(b"x"),
    "unmasked": b"\x81\x01x",
    "bad opcode": b"\x83\x80abcd",
    "long ping": b"\x89\xfe\x00\x7eabcd" + masked(b"\x00" * 126),
    "fragmented ping": b"\x09\x80abcd",
    "lone continuation": b"\x80\x80abcd",
    "non-minimal length": b"\x81\xfe\x00\x05abcd" + masked(b"hello"),
    "non-minimal 64-bit length": b"\x81\xff" + (5).to_bytes(8, "big") + b"abcd" + masked(b"hello"),
    "invalid utf-8": b"\x81\x82abcd" + masked(b"\xc3\x28"),
    "bad close code": b"\x88\x82abcd" + masked(b"\x03\xed"),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(client_events, max_size=12),
    st.sampled_from([None, *BAD_FRAMES]),
    st.lists(st.integers(1, 400), max_size=30),
    st.sampled_from([100, MAX_MESSAGE_SIZE]),
)
def test_the_parser_agrees_with_wsproto(
    events: list[Any], bad: str | None, cuts: list[int], max_size: int
) -> None:
    client = Connection(ConnectionType.CLIENT)
    flat: list[Event] = []
    for item in events:
        flat += item if isinstance(item, list) else [item]
    data = b""
    for event in flat:
        data += client.send(event)
        if isinstance(event, CloseConnection):
            break
    else:
        if bad is not None:
            data += BAD_FRAMES[bad]
    chunks = []
    rest = data
    for cut in cuts:
        if not rest:
            break
        chunks.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        chunks.append(rest)

    expected, code, pongs = parse_with_wsproto(data, max_size)
    messages, closed, replies = trio.run(parse_with_the_fake, chunks, max_size)
    assert messages == expected
    assert [bytes(e.payload) for e in replies if isinstance(e, Pong)] == pongs
    sent_closes = [e.code for e in replies if isinstance(e, CloseConnection)]
    assert closed is not None
    if code is None:  # the bytes ran out: EOF without a close frame
        assert closed.code == 1006 and sent_closes == []
    else:
        assert closed.code == code
        assert sent_closes == [code]  # the reply to a close, or the fake's own


# -- ServerWebSocket alone ------------------------------------------------------------------


@asynccontextmanager
async def wire_pair(**kwargs: Any) -> AsyncIterator[tuple[WsClient, ServerWebSocket]]:
    client_end, server_end = trio.testing.memory_stream_pair()
    server = ServerWebSocket(server_end, **kwargs)
    client = WsClient(client_end)
    async with trio.open_nursery() as nursery:
        accepted = trio.Event()

        async def serve() -> None:
            assert await server.accept()
            accepted.set()
            with contextlib.suppress(WireClosed):
                await server.run_writer()

        nursery.start_soon(serve)
        await client.handshake()
        await accepted.wait()
        yield client, server
        nursery.cancel_scope.cancel()


async def test_sends_after_close_are_dropped_and_the_writer_finishes() -> None:
    async with wire_pair() as (client, server):
        server.send("one")
        server.close(4000, "going")
        server.send("dropped")
        assert not server.is_open
        event = await client.next_event()
        assert isinstance(event, TextMessage) and event.data == "one"
        event = await client.next_event()
        assert isinstance(event, CloseConnection) and event.code == 4000
        await client.send(event.response())
        with pytest.raises(WireClosed) as info:
            while True:
                assert await server.receive_batch() == []
        assert info.value.code == 4000
        assert server.peer_close == (4000, "going")


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


async def test_wss_handshake_messages_and_drop(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    with trio.fail_after(10):
        async with fake_server(ssl_context=server_context) as fake:
            assert fake.url.startswith("wss://127.0.0.1:")
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", fake.port, ssl_context=client_context
            )
            client = WsClient(stream)
            await client.handshake()
            await client.send(TextMessage(data=connect_frame()))
            assert "result" in await client.reply("c1")
            await fake.drop()  # cuts the TCP stream under the TLS layer
            events = await client.until_eof()
            assert not any(isinstance(e, CloseConnection) for e in events)
            await trio.aclose_forcefully(stream)


async def test_plain_text_to_a_wss_port_does_not_break_the_listener(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    with trio.fail_after(10):
        async with fake_server(ssl_context=server_context) as fake:
            stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
            await stream.send_all(upgrade_request())
            with trio.move_on_after(2):
                while await stream.receive_some(1000):
                    pass
            await stream.aclose()
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", fake.port, ssl_context=client_context
            )
            client = WsClient(stream)
            await client.handshake()
            await client.send(TextMessage(data=connect_frame()))
            assert "result" in await client.reply("c1")
            assert fake.connection_count == 1
            await trio.aclose_forcefully(stream)


async def test_every_record_of_one_read_is_decrypted_at_once(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    left, right = trio.socket.socketpair()
    server = ServerTLSStream(trio.SocketStream(left), server_context)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    client = trio.SocketStream(right)
    received: list[bytes] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def serve() -> None:  # the handshake, then one read
                received.append(await server.receive_some(1 << 20))

            nursery.start_soon(serve)
            while True:  # the client's handshake, by hand
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        await client.send_all(outgoing.read())
                    incoming.write(await client.receive_some(65536))
            for i in range(50):
                tls.write(b"record %d;" % i)  # one record per write
            await client.send_all(outgoing.read())  # Finished and 50 records, one write
        assert received == [b"".join(b"record %d;" % i for i in range(50))]
        # max_bytes is honoured: the rest waits for the next read.
        for word in (b"alpha", b"beta", b"gamma"):
            tls.write(word)
        await client.send_all(outgoing.read())
        await trio.sleep(0.05)
        assert await server.receive_some(7) == b"alphabe"
        assert await server.receive_some(7) == b"tagamma"
        # The server's writes come back; the client's close_notify reads as EOF.
        await server.send_all(b"hello")
        data = b""
        while True:
            with contextlib.suppress(ssl.SSLWantReadError):
                data += tls.read(100)
            if data:
                break
            incoming.write(await client.receive_some(65536))
        assert data == b"hello"
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.unwrap()
        await client.send_all(outgoing.read())
        assert await server.receive_some() == b""
        await server.aclose()
        await client.aclose()


async def test_whole_messages_and_pings_skip_wsproto_fragments_hand_over() -> None:
    async with wire_pair() as (client, server):
        await client.send(TextMessage(data="a"), Ping(payload=b"p"), TextMessage(data="b" * 70000))
        messages: list[str] = []
        while len(messages) < 2:
            messages += await server.receive_batch()
        assert messages == ["a", "b" * 70000]
        assert not server._wsproto_reads  # parsed by the fake itself
        await client.send(TextMessage(data="c", message_finished=False), TextMessage(data="d"))
        assert await server.receive_batch() == ["cd"]
        assert server._wsproto_reads  # from the first fragment on, wsproto parses
        await client.send(TextMessage(data="e"), Ping(payload=b"q"))
        assert await server.receive_batch() == ["e"]
        pongs = [await client.next_event(), await client.next_event()]
        assert [p.payload for p in pongs if isinstance(p, Pong)] == [b"p", b"q"]
