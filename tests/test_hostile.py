"""Hostile frames, full queues, pre-cancelled calls and bad arguments never take an app down.

Each test is one finding of the reliability review: it failed before the fix.
Clock-driven tests run over the in-memory stream; the half-open, stalled-reader
and connect-stage tests use loopback sockets, a real clock and a deadline.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
import trio_websocket
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from signalwire_relay_trio import (
    Call,
    ConnectionState,
    RelayConnection,
    RelayConnectionError,
    RelayError,
    open_relay,
)
from signalwire_relay_trio._transport import ClientWebSocket, TransportClosed
from signalwire_relay_trio.testing import FakeRelay, open_fake_relay

CONNECT_RESULT = {
    "protocol": "signalwire_hostile_test",
    "identity": "project@hostile",
    "authorization": {"project": "p"},
}


async def received_call(relay: RelayConnection, fake_relay: FakeRelay) -> Call:
    async with relay.inbound_calls() as calls:
        await fake_relay.inbound_call()
        return await calls.receive()


def event_frame(frame_id: str, event_type: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": frame_id,
        "method": "signalwire.event",
        "params": {"event_type": event_type, "params": params},
    }


# -- 1. a frame nested beyond any parser's depth -----------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_a_deeply_nested_frame_is_skipped_and_the_reader_lives_on(
    depth: int,
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="signalwire_relay_trio")
    with trio.fail_after(30):
        await fake_relay.send_malformed("[" * depth + "]" * depth)
        frame = event_frame("deep-1", "calling.made_up", {"x": 0})
        text = json.dumps(frame).replace('{"x": 0}', '{"x": ' + "[" * depth + "]" * depth + "}")
        await fake_relay.send_malformed(text)
        assert await relay.execute("signalwire.ping", {}) is not None
    assert relay.state is ConnectionState.CONNECTED
    assert fake_relay.connection_count == 1
    assert "skipping" in caplog.text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


@settings(max_examples=15, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_as_a_frame_never_escapes_the_reader(payload: Any) -> None:
    async def main() -> None:
        with trio.fail_after(30):
            async with (
                open_fake_relay() as fake,
                open_relay(**fake.connect_kwargs(keepalive_interval=None)) as relay,
            ):
                await fake.send_malformed(json.dumps(payload))
                state = event_frame("any-1", "calling.call.state", {"call_id": payload})
                await fake.send_raw(state)
                await relay.execute("signalwire.ping", {})

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- 2 and 4. the keepalive: outside the request cap, on its own deadline -------------------


async def test_a_full_request_table_does_not_stop_the_ping_from_finding_a_half_open_socket(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    kwargs = fake_relay.connect_kwargs(
        max_pending_requests=2, keepalive_interval=2, keepalive_timeout=1, request_timeout=30
    )
    with trio.fail_after(60):
        async with open_relay(**kwargs) as relay, trio.open_nursery() as nursery:
            fake_relay.stop_answering()
            for _ in range(2):  # fill the cap with requests nobody answers
                nursery.start_soon(partial(_ignore_errors, relay.execute, "signalwire.ping", {}))
            await fake_relay.journal.wait_for(
                None, lambda _: len(fake_relay.journal.all("signalwire.ping")) >= 2
            )
            start = trio.current_time()
            async with relay.states() as states:
                async for state in states:
                    if state is ConnectionState.RECONNECTING:
                        break
            # silence for the interval, then no answer within the timeout: about 3 s
            assert trio.current_time() - start <= 2 + 1 + 0.5
            fake_relay.resume_answering()
            nursery.cancel_scope.cancel()


async def _ignore_errors(fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    with contextlib.suppress(RelayError):
        await fn(*args)


async def test_half_open_socket_is_replaced_in_keepalive_time_over_loopback() -> None:
    """Real sockets and clock: request_timeout=30 must not delay the half-open detection."""
    with trio.fail_after(15):
        async with open_fake_relay() as fake:
            kwargs = fake.connect_kwargs(
                memory=False, keepalive_interval=0.5, keepalive_timeout=0.5, request_timeout=30
            )
            async with open_relay(**kwargs) as relay, relay.states() as states:
                assert await states.receive() is ConnectionState.CONNECTED
                fake.stop_answering()
                start = trio.current_time()
                assert await states.receive() is ConnectionState.RECONNECTING
                assert trio.current_time() - start < 3
                fake.resume_answering()
                assert await states.receive() is ConnectionState.CONNECTED


# -- 3. a request over the frame limit -------------------------------------------------------


async def test_an_oversized_request_is_refused_before_sending_and_nothing_else_is_touched(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            fake_relay.delay_next("signalwire.receive", 5)
            results: list[Any] = []

            async def unrelated() -> None:
                results.append(await relay.execute("signalwire.receive", {"contexts": ["x"]}))

            nursery.start_soon(unrelated)
            await fake_relay.journal.wait_for("signalwire.receive")
            with pytest.raises(RelayError, match=r"user\.huge.*\d+ bytes"):
                await relay.execute("user.huge", {"blob": "x" * (11 * 1024 * 1024)})
        assert results and fake_relay.connection_count == 1
        assert "user.huge" not in fake_relay.journal.methods()
        assert relay.statistics().pending_requests == 0


# -- 5. a server that stops reading ---------------------------------------------------------


SMALL_BUFFER = 4096


async def small_buffer_listener() -> trio.SocketListener:
    """A loopback listener whose sockets buffer little, so a peer that stops reading shows."""
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, SMALL_BUFFER)
    await sock.bind(("127.0.0.1", 0))
    sock.listen()
    return trio.SocketListener(sock)


async def test_a_server_that_stops_reading_is_dropped_after_the_write_timeout() -> None:
    """The server floods events and never reads our acks: the client gives up on the socket."""
    sent = 0

    async def flooding_server(request: trio_websocket.WebSocketRequest) -> None:
        nonlocal sent
        ws = await request.accept()
        hello = json.loads(await ws.get_message())
        reply = {"jsonrpc": "2.0", "id": hello["id"], "result": CONNECT_RESULT}
        await ws.send_message(json.dumps(reply))
        while True:  # from here on, never read: its one-message queue fills, then the socket
            sent += 1
            await ws.send_message(json.dumps(event_frame(f"e{sent}", "calling.made_up", {})))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            listener = await small_buffer_listener()
            server = trio_websocket.WebSocketServer(flooding_server, [listener])
            await nursery.start(server.run)
            port = listener.socket.getsockname()[1]

            async def small_send_buffer() -> trio.abc.Stream:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                stream.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_SNDBUF, SMALL_BUFFER)
                return stream

            kwargs = {
                "project": "p",
                "token": "t",
                "url": f"ws://127.0.0.1:{port}",
                "stream_factory": small_send_buffer,
                "keepalive_interval": None,
                "keepalive_timeout": 1,
                "reconnect": False,
            }
            start = trio.current_time()
            with pytest.raises(RelayConnectionError, match="no write progress"):
                async with open_relay(**kwargs):
                    await trio.sleep_forever()
            assert trio.current_time() - start < 10
            nursery.cancel_scope.cancel()
    assert sent > 0


async def test_the_write_queue_is_bounded_while_the_peer_reads_nothing() -> None:
    """Over a stream whose peer never reads, queued bytes stop at the bound with a clear error."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    ws = ClientWebSocket(client_stream, max_queued_bytes=64 * 1024)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_upgrade, server_stream)
            await ws.handshake("relay.test")
            nursery.start_soon(ws.run_writer)
            message = "x" * 1000
            with pytest.raises(TransportClosed, match="not reading"):
                for _ in range(10_000):
                    ws.send(message)
                    await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()


# -- 6. an operation in a cancelled scope never reaches the server ---------------------------

CANCELLED_OPERATIONS: dict[str, Callable[[RelayConnection, Call], Awaitable[Any]]] = {
    "execute": lambda relay, call: relay.execute("signalwire.receive", {"contexts": ["x"]}),
    "receive": lambda relay, call: relay.receive(["x"]),
    "unreceive": lambda relay, call: relay.unreceive(["office"]),
    "dial": lambda relay, call: relay.dial(
        {"type": "phone", "params": {"to_number": "+15550001111", "from_number": "+15550002222"}}
    ),
    "send_message": lambda relay, call: relay.send_message(
        to_number="+15550001111", from_number="+15550002222", body="hi"
    ),
    "drain": lambda relay, call: relay.drain(5),
    "answer": lambda relay, call: call.answer(),
    "hangup": lambda relay, call: call.hangup(),
    "pass_": lambda relay, call: call.pass_(),
    "transfer": lambda relay, call: call.transfer("elsewhere"),
    "play": lambda relay, call: call.play_tts("hello"),
    "record": lambda relay, call: call.record(),
    "play_and_collect": lambda relay, call: call.prompt_tts("x", {"digits": {"max": 1}}),
    "collect": lambda relay, call: call.collect(digits={"max": 1}),
    "detect": lambda relay, call: call.detect_answering_machine(),
    "tap": lambda relay, call: call.tap(
        {"type": "audio"}, {"type": "rtp", "params": {"addr": "127.0.0.1", "port": 9}}
    ),
    "stream": lambda relay, call: call.stream("wss://example.test/s"),
    "ai": lambda relay, call: call.ai(prompt={"text": "hi"}),
    "send_digits": lambda relay, call: call.send_digits("1"),
    "hold": lambda relay, call: call.hold(),
    "connect": lambda relay, call: call.connect(
        [[{"type": "phone", "params": {"to_number": "+15550001111", "from_number": "+1555000222"}}]]
    ),
    "queue_enter": lambda relay, call: call.queue_enter("line"),
    "join_conference": lambda relay, call: call.join_conference("room"),
    "wait_for": lambda relay, call: call.wait_for("calling.call.play"),
}


@pytest.mark.parametrize("name", sorted(CANCELLED_OPERATIONS))
async def test_an_operation_started_in_a_cancelled_scope_sends_nothing(
    name: str,
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        call = await received_call(relay, fake_relay)
        await trio.testing.wait_all_tasks_blocked()
        before = len(fake_relay.journal.all())
        with trio.CancelScope() as scope:
            scope.cancel()
            await CANCELLED_OPERATIONS[name](relay, call)
        assert scope.cancelled_caught
        await trio.testing.wait_all_tasks_blocked()
        sent = [entry.method for entry in fake_relay.journal.all()[before:]]
        assert sent == []
        assert relay.statistics().actions == 0 and relay.statistics().dials == 0
        assert relay.connected and call.active


# -- 7. a receive re-sent for a call that already ended -----------------------------------------


async def test_a_late_receive_for_an_ended_call_starts_no_second_handler(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    handled: list[str] = []

    async def handler(call: Call) -> None:
        handled.append(call.call_id)
        await call.answer()
        await call.hangup()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            fake_call = await fake_relay.inbound_call()
            await fake_call.wait_for_state("ended")
            await trio.testing.wait_all_tasks_blocked()
            params = {**fake_call.call_params(), "call_state": "created", "context": "office"}
            await fake_relay.send_raw(event_frame("late-1", "calling.call.receive", params))
            await trio.testing.wait_all_tasks_blocked()
            assert handled == [fake_call.call_id]
            assert relay.statistics().active_calls == 0
            assert "late-1" not in [e["id"] for e in fake_relay.unacked_events()]
            nursery.cancel_scope.cancel()


# -- 8. arguments that are wrong name themselves --------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [
        ("token", b"x", TypeError),
        ("project", 3, TypeError),
        ("url", 123, TypeError),
        ("host", ["relay.example"], TypeError),
        ("request_timeout", "10", TypeError),
        ("keepalive_timeout", None, TypeError),
        ("connect_timeout", -1, ValueError),
        ("reconnect", "no", TypeError),
        ("max_active_calls", 2.5, TypeError),
        ("ssl_context", "insecure", TypeError),
        ("contexts", "office", ValueError),
    ],
)
async def test_open_relay_names_a_bad_argument(
    argument: str, value: Any, error: type[Exception]
) -> None:
    kwargs: dict[str, Any] = {"project": "p", "token": "t", "url": "ws://127.0.0.1:9"}
    kwargs[argument] = value
    with pytest.raises(error, match=argument):
        async with open_relay(**kwargs):
            pytest.fail("must not connect")  # pragma: no cover


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.binary(), st.integers(), st.floats(), st.lists(st.text()), st.none()))
def test_any_wrong_type_of_token_or_timeout_is_named(value: Any) -> None:
    from signalwire_relay_trio._config import resolve_settings

    base: dict[str, Any] = dict(
        project="p", token="t", jwt_token=None, host=None, contexts=(), url=None, ssl_context=None
    )
    if value is not None:
        with pytest.raises(TypeError, match="token"):
            resolve_settings(**{**base, "token": value}, environ={})
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        with pytest.raises((TypeError, ValueError), match="request_timeout"):
            resolve_settings(**base, request_timeout=value, environ={})


@pytest.mark.parametrize(
    ("arguments", "error", "named"),
    [
        ({"media": [None]}, TypeError, "media"),
        ({"media": [""]}, TypeError, "media"),
        ({"to_number": "garbage"}, ValueError, "to_number"),
        ({"to_number": 15551234567}, TypeError, "to_number"),
        ({"from_number": "not-a-number"}, ValueError, "from_number"),
        ({"body": 42}, TypeError, "body"),
    ],
)
async def test_send_message_names_a_bad_argument(
    arguments: dict[str, Any],
    error: type[Exception],
    named: str,
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
) -> None:
    message: dict[str, Any] = {"to_number": "+15550001111", "from_number": "+15550002222"}
    message["body"] = "hi"
    message.update(arguments)
    with trio.fail_after(30), pytest.raises(error, match=named):
        await relay.send_message(**message)
    assert "messaging.send" not in fake_relay.journal.methods()
    short_code = await relay.send_message(to_number="+15550001111", from_number="72345", body="ok")
    assert short_code.from_number == "72345"


async def test_dial_names_a_bad_argument(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    device = {"type": "phone", "params": {"to_number": "+15550001111", "from_number": "+1555002"}}
    with trio.fail_after(30):
        with pytest.raises(TypeError, match="tag"):
            await relay.dial(device, tag=5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="dial_timeout"):
            await relay.dial(device, dial_timeout="soon")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="dial_timeout"):
            await relay.dial(device, dial_timeout=0)
    assert "calling.dial" not in fake_relay.journal.methods()


@pytest.mark.parametrize("stage", ["the WebSocket upgrade", "signalwire.connect"])
async def test_a_connect_that_hangs_names_its_stage(stage: str) -> None:
    """A server that accepts TCP but never answers (the upgrade, or then signalwire.connect)."""

    async def silent(stream: trio.SocketStream) -> None:
        if stage == "signalwire.connect":  # accept the upgrade, then say nothing
            server = WSConnection(ConnectionType.SERVER)
            while True:
                server.receive_data(await stream.receive_some(4096))
                requests = [e for e in server.events() if isinstance(e, Request)]
                if requests:
                    await stream.send_all(server.send(AcceptConnection()))
                    break
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            kwargs = {"project": "p", "token": "t", "url": f"ws://127.0.0.1:{port}"}
            start = trio.current_time()
            with pytest.raises(RelayConnectionError, match=stage) as caught:
                async with open_relay(**kwargs, connect_timeout=0.5):
                    pytest.fail("must not connect")  # pragma: no cover
            assert trio.current_time() - start < 3
            assert "0.5 s" in str(caught.value)
            nursery.cancel_scope.cancel()


# -- found in review: retiring a dead socket, slow links, deep devices -----------------------


class StallingStream(trio.abc.Stream):
    """A stream that stops taking writes when told to (a peer that stopped reading)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.stalled = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.stalled:
            await trio.sleep_forever()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_requests_that_overflow_a_stalled_socket_wait_instead_of_spinning(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """A send that finds the socket closed retires it: the request waits for the next one."""
    streams: list[StallingStream] = []

    async def factory() -> trio.abc.Stream:
        streams.append(StallingStream(await fake_relay.open_memory_stream()))
        return streams[-1]

    kwargs = fake_relay.connect_kwargs(stream_factory=factory, keepalive_timeout=2)
    outcomes: list[str] = []

    async def big_request() -> None:
        try:
            await relay.execute("signalwire.ping", {"pad": "x" * (3 * 1024 * 1024)})
            outcomes.append("answered")
        except RelayError as exc:
            outcomes.append(type(exc).__name__)

    with trio.fail_after(60):
        async with open_relay(**kwargs) as relay:
            streams[-1].stalled = True
            async with trio.open_nursery() as nursery:
                for _ in range(8):  # 24 MiB: more than the 16 MiB the queue takes
                    nursery.start_soon(big_request)
    assert len(outcomes) == 8  # every request ended: none spun
    assert len(streams) >= 2  # the stalled socket was replaced
    assert "answered" in outcomes


class SlowOnceUpgraded(trio.abc.Stream):
    """After the upgrade, takes 100 KiB of writes every 0.1 s (1 MiB/s), steadily."""

    def __init__(self, inner: trio.abc.Stream, target: int) -> None:
        self.inner = inner
        self.slow = False
        self.got = 0
        self.target = target
        self.all_sent = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self.slow:
            await self.inner.send_all(data)
            return
        view = memoryview(data)
        while view:
            await trio.sleep(0.1)
            taken = min(len(view), 100 * 1024)
            self.got += taken
            view = view[taken:]
        if self.got >= self.target:
            self.all_sent.set()

    async def wait_send_all_might_not_block(self) -> None:
        pass

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def accept_upgrade(server: trio.abc.Stream) -> None:
    upgrade = WSConnection(ConnectionType.SERVER)
    while True:
        upgrade.receive_data(await server.receive_some(4096))
        if any(isinstance(e, Request) for e in upgrade.events()):
            await server.send_all(upgrade.send(AcceptConnection()))
            return


def test_a_slow_link_that_keeps_reading_is_not_cut_off() -> None:
    """The write timeout is about progress: a big frame on a slow link goes out whole."""
    size = 5 * 1024 * 1024  # 5 s at 1 MiB/s, with a 2 s write timeout

    async def main() -> None:
        client, server = trio.testing.memory_stream_pair()
        slow = SlowOnceUpgraded(client, size)
        ws = ClientWebSocket(slow, write_timeout=2.0)
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(accept_upgrade, server)
                await ws.handshake("relay.test")
                slow.slow = True
                ws.send("x" * size)
                nursery.start_soon(ws.run_writer)
                await slow.all_sent.wait()
                nursery.cancel_scope.cancel()
        assert ws.failure is None

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_a_deeply_nested_device_still_ends_the_call(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        call = await received_call(relay, fake_relay)
        device: Any = {"type": "phone"}
        for _ in range(900):
            device = {"d": device}
        params = {"call_id": call.call_id, "node_id": call.node_id, "call_state": "ended"}
        text = json.dumps(event_frame("deep-device", "calling.call.state", params))
        nested = '{"d": ' * 900 + '{"type": "phone"}' + "}" * 900
        await fake_relay.send_malformed(
            text.replace('"call_state"', f'"device": {nested}, "call_state"')
        )
        ended = await call.wait_for_ended()
    assert ended.call_state == "ended"
    assert not call.active and relay.statistics().active_calls == 0
