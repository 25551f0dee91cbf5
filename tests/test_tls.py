"""``TLSStream`` against ``trio.SSLStream`` as the server: an independent TLS peer.

Most tests run over ``trio.testing`` streams (no sockets): ``memory_stream_pair``
delivers everything sent before a read in that read, which is how a burst of
records shows up; ``lockstep_stream_pair`` blocks each send until the peer reads,
which is what makes concurrent senders really overlap. ``open_tls_over_tcp`` is
tested over loopback sockets.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from signalwire_relay_trio import _tls
from signalwire_relay_trio._socket import RawSocketStream
from signalwire_relay_trio._tls import TLSStream, open_tls_over_tcp, start_tls


class Wire(trio.abc.Stream):
    """A transport wrapper that counts reads and can ignore ``aclose``."""

    def __init__(self, stream: trio.abc.Stream, *, keep_open: bool = False) -> None:
        self.stream = stream
        self.keep_open = keep_open
        self.reads = 0
        self.closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        self.reads += 1
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self.closed = True
        if self.keep_open:
            await trio.lowlevel.checkpoint()
        else:
            await self.stream.aclose()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


Pair = tuple[TLSStream, trio.SSLStream[Wire], Wire, trio.abc.Stream]


async def connect(
    client_context: ssl.SSLContext,
    server_context: ssl.SSLContext,
    *,
    lockstep: bool = False,
    server_keep_open: bool = False,
) -> Pair:
    """A handshaken client and trio server; the client's wire counts reads from zero."""
    pair = trio.testing.lockstep_stream_pair() if lockstep else trio.testing.memory_stream_pair()
    client_end, server_end = pair
    wire = Wire(client_end)
    client = TLSStream(wire, client_context, "localhost")
    server = trio.SSLStream(
        Wire(server_end, keep_open=server_keep_open), server_context, server_side=True
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        await client.do_handshake()
    wire.reads = 0
    return client, server, wire, server_end


def manual_delivery(
    wire: Wire, server_end: trio.abc.Stream
) -> tuple[trio.testing.MemorySendStream, trio.testing.MemoryReceiveStream]:
    """The server's memory send stream, no longer pumped, and the client's receive stream."""
    assert isinstance(wire.stream, trio.StapledStream)
    assert isinstance(server_end, trio.StapledStream)
    from_server, to_client = server_end.send_stream, wire.stream.receive_stream
    assert isinstance(from_server, trio.testing.MemorySendStream)
    assert isinstance(to_client, trio.testing.MemoryReceiveStream)
    from_server.send_all_hook = None
    return from_server, to_client


async def receive_exactly(stream: trio.abc.Stream, size: int) -> bytes:
    data = bytearray()
    with trio.fail_after(2):
        while len(data) < size:
            chunk = await stream.receive_some()
            assert chunk, f"EOF after {len(data)} of {size} bytes"
            data += chunk
    assert len(data) == size
    return bytes(data)


async def handshake_error(client: TLSStream, server: trio.SSLStream[Any]) -> BaseException:
    """The error the client's handshake raises; the server's own failure is expected."""

    async def serve() -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await server.do_handshake()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        with pytest.raises(trio.BrokenResourceError) as caught:
            await client.do_handshake()
        await client.aclose()
    return caught.value


# -- handshake and data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["TLSv1.3", "TLSv1.2"]
)
async def test_handshake_and_echo(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, version: ssl.TLSVersion
) -> None:
    client_context.minimum_version = client_context.maximum_version = version
    client, server, _, _ = await connect(client_context, server_context)
    expected = "TLSv1.3" if version is ssl.TLSVersion.TLSv1_3 else "TLSv1.2"
    assert client.version() == expected
    assert server.version() == expected
    await client.send_all(b"hello")
    assert await server.receive_some() == b"hello"
    await server.send_all(b"world")
    assert await client.receive_some() == b"world"
    await client.send_all(memoryview(b"again"))
    assert await server.receive_some() == b"again"


async def test_large_messages_arrive_intact(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, _, _ = await connect(client_context, server_context)
    down = bytes(range(256)) * 800  # 200 KiB, many records
    await server.send_all(down)
    assert await receive_exactly(client, len(down)) == down
    up = bytes(reversed(down))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, up)
        assert await receive_exactly(server, len(up)) == up


async def test_one_receive_returns_every_record_of_a_burst(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, _ = await connect(client_context, server_context)
    messages = [bytes([65 + i]) * 100 for i in range(5)]
    for message in messages:
        await server.send_all(message)  # five separate records
    assert await client.receive_some(65536) == b"".join(messages)
    assert wire.reads == 1


async def test_max_bytes_is_respected_and_the_rest_kept(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, _ = await connect(client_context, server_context)
    payload = bytes(range(250)) * 2
    await server.send_all(payload)
    assert await client.receive_some(200) == payload[:200]
    assert await client.receive_some(200) == payload[200:400]
    assert await client.receive_some(200) == payload[400:]
    assert wire.reads == 1
    with pytest.raises(ValueError):
        await client.receive_some(0)


async def test_records_that_arrive_with_the_handshake_are_returned(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """TLS 1.2: the server may send data right behind its Finished, in the same read."""
    client_context.maximum_version = ssl.TLSVersion.TLSv1_2
    client_end, server_end = trio.testing.memory_stream_pair()
    wire = Wire(client_end)
    client = TLSStream(wire, client_context, "localhost")
    server = trio.SSLStream(server_end, server_context, server_side=True)
    from_server, to_client = manual_delivery(wire, server_end)
    sends = 0

    async def deliver_first_flight_only() -> None:
        nonlocal sends
        sends += 1
        if sends == 1:
            trio.testing.memory_stream_pump(from_server, to_client)

    from_server.send_all_hook = deliver_first_flight_only

    async def serve() -> None:
        await server.do_handshake()
        await server.send_all(b"early")
        trio.testing.memory_stream_pump(from_server, to_client)

    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.do_handshake()
        reads = wire.reads
        assert await client.receive_some() == b"early"
    assert wire.reads == reads


# -- end of stream ------------------------------------------------------------------------


async def test_close_notify_is_eof_for_good(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, _ = await connect(client_context, server_context, server_keep_open=True)
    await server.send_all(b"last")
    await server.aclose()  # close_notify, and the transport stays open
    with trio.fail_after(2):
        assert await client.receive_some() == b"last"
        assert await client.receive_some() == b""
        reads = wire.reads
        assert await client.receive_some() == b""
        assert await client.receive_some(1) == b""
    assert wire.reads == reads


async def test_transport_eof_without_close_notify_is_eof(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, _, _ = await connect(client_context, server_context)
    await server.send_all(b"cut")
    await server.transport_stream.aclose()
    assert await client.receive_some() == b"cut"
    assert await client.receive_some() == b""
    assert await client.receive_some() == b""


async def test_corrupt_record_breaks_the_stream_after_the_good_ones(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, server_end = await connect(client_context, server_context)
    from_server, to_client = manual_delivery(wire, server_end)
    await server.send_all(b"good")
    good = from_server.get_data_nowait()
    await server.send_all(b"evil")
    evil = bytearray(from_server.get_data_nowait())
    evil[-1] ^= 1
    to_client.put_data(good + evil)
    assert await client.receive_some() == b"good"
    with pytest.raises(trio.BrokenResourceError) as caught:
        await client.receive_some()
    assert isinstance(caught.value.__cause__, ssl.SSLError)
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    with pytest.raises(trio.BrokenResourceError):
        await client.send_all(b"x")
    await client.aclose()
    assert wire.closed


# -- handshake failures -------------------------------------------------------------------


async def test_garbage_from_the_server(client_context: ssl.SSLContext) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = TLSStream(client_end, client_context, "localhost")

    async def not_tls() -> None:
        await server_end.receive_some()
        await server_end.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(not_tls)
        with pytest.raises(trio.BrokenResourceError) as caught:
            await client.do_handshake()
    cause = caught.value.__cause__
    assert isinstance(cause, ssl.SSLError)
    assert cause.reason
    assert f"[SSL: {cause.reason}]" in str(caught.value)
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()


async def test_eof_during_handshake(client_context: ssl.SSLContext) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = TLSStream(client_end, client_context, "localhost")
    await server_end.send_stream.aclose()  # EOF; the ClientHello can still be sent
    with pytest.raises(trio.BrokenResourceError, match="during TLS handshake"):
        await client.do_handshake()


def _stranger_context(_trusted: ssl.SSLContext) -> ssl.SSLContext:
    context = ssl.create_default_context()
    trustme.CA().configure_trust(context)  # some other CA: ours is not trusted
    return context


@pytest.mark.parametrize(
    ("make_context", "hostname", "expected"),
    [
        pytest.param(lambda trusted: trusted, "relay.example.org", "relay.example.org", id="name"),
        pytest.param(_stranger_context, "localhost", "certificate verify failed", id="ca"),
    ],
)
async def test_certificate_refused(
    client_context: ssl.SSLContext,
    server_context: ssl.SSLContext,
    make_context: Callable[[ssl.SSLContext], ssl.SSLContext],
    hostname: str,
    expected: str,
) -> None:
    """A wrong host name and an untrusted CA both fail the handshake, saying why."""
    client_end, server_end = trio.testing.memory_stream_pair()
    client = TLSStream(client_end, make_context(client_context), hostname)
    server = trio.SSLStream(server_end, server_context, server_side=True)
    error = await handshake_error(client, server)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert expected in str(error)


# -- close ---------------------------------------------------------------------------------


async def test_aclose_sends_close_notify(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, _ = await connect(client_context, server_context)
    await client.aclose()
    assert wire.closed
    # trio's server (not https_compatible) returns b"" only after a close_notify.
    assert await server.receive_some() == b""
    await client.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await client.receive_some()
    with pytest.raises(trio.ClosedResourceError):
        await client.send_all(b"x")
    with pytest.raises(trio.ClosedResourceError):
        await client.do_handshake()


async def test_aclose_does_not_wait_for_a_peer_that_stopped_reading(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, autojump_clock: object
) -> None:
    client, _, wire, _ = await connect(client_context, server_context, lockstep=True)
    start = trio.current_time()
    await client.aclose()
    assert 1.0 <= trio.current_time() - start < 1.5
    assert wire.closed


async def test_aclose_in_a_cancelled_scope_still_closes(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, _ = await connect(client_context, server_context)
    with trio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()
    assert wire.closed
    with pytest.raises(trio.ClosedResourceError):
        await wire.stream.send_all(b"x")
    assert await server.receive_some() == b""  # the close_notify went out, shielded


async def test_aclose_before_the_handshake_just_closes(client_context: ssl.SSLContext) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = TLSStream(client_end, client_context, "localhost")
    await client.aclose()
    assert await server_end.receive_some() == b""


# -- concurrency ---------------------------------------------------------------------------


async def test_concurrent_senders_and_a_reader(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, _, _ = await connect(client_context, server_context, lockstep=True)
    count = 40

    def messages(tag: str) -> list[bytes]:
        return [f"{tag}{i:03d}{'.' * (i * 37 % 300)};".encode() for i in range(count)]

    sent = {tag: messages(tag) for tag in "AB"}
    down = b"".join(messages("S"))
    total = sum(len(m) for ms in sent.values() for m in ms)
    received: dict[str, bytes] = {}

    async def send(tag: str) -> None:
        for message in sent[tag]:
            await client.send_all(message)

    async def server_reads() -> None:
        received["server"] = await receive_exactly(server, total)

    async def client_reads() -> None:
        received["client"] = await receive_exactly(client, len(down))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, "A")
            nursery.start_soon(send, "B")
            nursery.start_soon(server_reads)
            nursery.start_soon(client_reads)
            nursery.start_soon(server.send_all, down)
    parts = received["server"].split(b";")[:-1]
    for tag, expected in sent.items():
        assert [p + b";" for p in parts if p.startswith(tag.encode())] == expected
    assert received["client"] == down
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, b"still fine")
        assert await server.receive_some() == b"still fine"


async def test_reader_leaves_its_outgoing_bytes_to_a_blocked_sender(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """Bytes a read produces (a KeyUpdate reply, say) go out behind a send in progress."""
    client, server, _, _ = await connect(client_context, server_context, lockstep=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, b"S" * 1000)
        await trio.testing.wait_all_tasks_blocked()
        client.ssl_object.write(b"R")  # as if read() had produced a record
        nursery.start_soon(server.send_all, b"ping")
        with trio.fail_after(2):
            assert await client.receive_some() == b"ping"
        assert await receive_exactly(server, 1001) == b"S" * 1000 + b"R"


async def test_reader_sends_its_outgoing_bytes_itself(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, _, _ = await connect(client_context, server_context, lockstep=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.send_all, b"ping")
        client.ssl_object.write(b"R")
        nursery.start_soon(receive_exactly, server, 1)
        with trio.fail_after(2):
            assert await client.receive_some() == b"ping"


async def test_waiting_for_writability_counts_as_a_sender(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """The transport allows one sender: the wait must not collide with a send in progress."""
    client, server, _, _ = await connect(client_context, server_context, lockstep=True)

    async def wait_then_send() -> None:
        await client.wait_send_all_might_not_block()
        await client.send_all(b"T")

    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, b"S" * 100)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(wait_then_send)
            await trio.testing.wait_all_tasks_blocked()
            assert await receive_exactly(server, 101) == b"S" * 100 + b"T"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.aclose)
        assert await server.receive_some() == b""
    with pytest.raises(trio.ClosedResourceError):
        await client.wait_send_all_might_not_block()


async def test_two_receivers_conflict(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, _, _ = await connect(client_context, server_context)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.receive_some)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await client.receive_some()
        await server.send_all(b"x")


# -- cancellation --------------------------------------------------------------------------


async def cancel_when_blocked(call: Callable[[], Awaitable[object]]) -> None:
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await call()

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
    assert scope.cancelled_caught


async def test_cancelled_receive_loses_nothing(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    client, server, wire, server_end = await connect(client_context, server_context)
    await cancel_when_blocked(client.receive_some)
    await server.send_all(b"after")
    assert await client.receive_some() == b"after"

    # A partial record consumed before the cancel is completed by the next read.
    from_server, to_client = manual_delivery(wire, server_end)
    await server.send_all(b"x" * 1000)
    trio.testing.memory_stream_pump(from_server, to_client, max_bytes=300)
    reads = wire.reads
    await cancel_when_blocked(client.receive_some)
    assert wire.reads == reads + 2  # the 300 bytes, then the wait for more
    trio.testing.memory_stream_pump(from_server, to_client)
    assert await client.receive_some() == b"x" * 1000


async def test_cancelled_handshake_breaks_the_stream(
    client_context: ssl.SSLContext,
) -> None:
    client_end, _server_end = trio.testing.memory_stream_pair()
    client = TLSStream(client_end, client_context, "localhost")
    await cancel_when_blocked(client.do_handshake)
    with pytest.raises(trio.BrokenResourceError):
        await client.send_all(b"x")
    await client.aclose()


# -- over TCP ------------------------------------------------------------------------------


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def serve_echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        data = await stream.receive_some()
        await stream.send_all(data.upper())
        assert await stream.receive_some() == b""  # the client's close_notify
    finally:
        await stream.aclose()


@pytest.mark.parametrize(
    ("listen", "connect_to"),
    [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::1", "[::1]"), ("127.0.0.1", "localhost")],
)
async def test_open_tls_over_tcp(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, listen: str, connect_to: str
) -> None:
    if listen == "::1" and not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) cannot be bound here")
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_ssl_over_tcp, serve_echo, 0, server_context, host=listen)
        )
        port = listeners[0].transport_listener.socket.getsockname()[1]
        with trio.fail_after(3):
            stream = await open_tls_over_tcp(connect_to, port, client_context)
            assert stream.version() == "TLSv1.3"
            assert isinstance(stream.transport_stream, RawSocketStream)
            await stream.send_all(b"over tcp")
            assert await receive_exactly(stream, 8) == b"OVER TCP"
            await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_open_tls_over_tcp_closes_the_socket_on_failure(
    server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    untrusting = ssl.create_default_context()
    trustme.CA().configure_trust(untrusting)
    opened: list[RawSocketStream] = []
    real_open = _tls.open_raw_tcp_stream

    async def recording_open(*args: object, **kwargs: object) -> RawSocketStream:
        stream = await real_open(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(stream)
        return stream

    monkeypatch.setattr(_tls, "open_raw_tcp_stream", recording_open)

    async def serve(stream: trio.SSLStream[trio.SocketStream]) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.do_handshake()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_ssl_over_tcp, serve, 0, server_context, host="127.0.0.1")
        )
        port = listeners[0].transport_listener.socket.getsockname()[1]
        with trio.fail_after(3), pytest.raises(trio.BrokenResourceError):
            await open_tls_over_tcp("127.0.0.1", port, untrusting)
        nursery.cancel_scope.cancel()
    assert len(opened) == 1
    assert opened[0].socket.fileno() == -1


# -- open_relay over wss:// end to end ------------------------------------------------


async def test_open_relay_speaks_wss_through_tls_stream(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from signalwire_relay_trio import CallState, _link, open_relay
    from signalwire_relay_trio.testing import open_fake_relay

    opened: list[trio.abc.Stream] = []

    async def recording_start(*args: Any) -> TLSStream:
        stream = await start_tls(*args)
        opened.append(stream)
        return stream

    monkeypatch.setattr(_link, "start_tls", recording_start)
    with trio.fail_after(10):
        async with open_fake_relay(ssl_context=server_context) as fake:
            assert fake.url.startswith("wss://")
            kwargs = fake.connect_kwargs(memory=False, ssl_context=client_context)
            async with open_relay(**kwargs) as relay, relay.inbound_calls() as calls:
                assert len(opened) == 1
                assert isinstance(opened[0], TLSStream)
                fake_call = await fake.inbound_call()
                call = await calls.receive()
                await call.answer()
                await call.hangup()
                assert call.state is CallState.ENDED
                assert fake_call.state == "ended"


async def test_open_relay_refuses_an_untrusted_server(server_context: ssl.SSLContext) -> None:
    from signalwire_relay_trio import RelayConnectionError, open_relay
    from signalwire_relay_trio.testing import open_fake_relay

    stranger = ssl.create_default_context()  # system roots: the test CA is not among them
    with trio.fail_after(10):
        async with open_fake_relay(ssl_context=server_context) as fake:
            kwargs = fake.connect_kwargs(memory=False, ssl_context=stranger)
            with pytest.raises(RelayConnectionError, match="certificate verify failed"):
                async with open_relay(**kwargs):
                    pass  # pragma: no cover
