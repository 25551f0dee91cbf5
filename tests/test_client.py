"""The RelayClient façade: the official SDK's shape over open_relay.

``async with RelayClient(...)`` tests run inside trio against the fake
(memory stream, autojump clock). ``client.run()`` is ``trio.run`` underneath,
so those tests are plain sync tests against a fake served from a thread
over loopback.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    AuthenticationError,
    Call,
    CallState,
    Message,
    MessageState,
    MessageStateEvent,
    Phone,
    RelayClient,
    RelayConnectionError,
    RelayError,
)
from signalwire_relay_trio.testing import FakeCall, FakeRelay, open_fake_relay

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")


def client_for(fake_relay: FakeRelay, **overrides: Any) -> RelayClient:
    return RelayClient(**fake_relay.connect_kwargs(**overrides))


async def subscribed(fake: FakeRelay, context: str = "office") -> None:
    """Wait until the fake counts a session as subscribed to ``context``."""
    await fake.journal.wait_for(None, lambda _: any(context in s.contexts for s in fake.sessions))


async def calls_settled(client: RelayClient) -> None:
    """Wait until the client follows no call (their ended events were processed)."""
    while client.relay.calls:  # noqa: ASYNC110 (a plain attribute: nothing to wait on)
        await trio.sleep(0.01)


# -- async with RelayClient(...) ------------------------------------------------------------------


async def test_on_call_handlers_run_while_the_block_is_open(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    handled: list[Call] = []
    client = client_for(fake_relay)

    @client.on_call
    async def handle_call(call: Call) -> None:
        await call.answer()
        await (await call.play_tts("Hello from the façade")).wait()
        handled.append(call)

    assert handle_call.__name__ == "handle_call"  # the decorator returns the function
    with trio.fail_after(60):
        async with client as opened:
            assert opened is client
            assert client.relay.connected
            fake_call = await fake_relay.inbound_call()
            await fake_call.wait_for_state("ended")  # the handler returned: serve() hung up
            await calls_settled(client)
            assert [c.call_id for c in handled] == [fake_call.call_id]
            assert fake_call.states == ["created", "answered", "ending", "ended"]
        assert fake_relay.journal.find("calling.play")
        assert client.relay_protocol == ""
        with pytest.raises(RuntimeError):
            _ = client.relay


async def test_a_call_offered_as_soon_as_the_client_subscribes_is_served(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """No gap between subscribing and serving: a queued call is not passed away."""
    client = client_for(fake_relay)
    answered: list[str] = []

    @client.on_call
    async def handle_call(call: Call) -> None:
        await call.answer()
        answered.append(call.call_id)

    fake_calls: list[FakeCall] = []

    async def offer_at_once() -> None:
        await subscribed(fake_relay)
        fake_calls.append(await fake_relay.inbound_call())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(offer_at_once)
            async with client:
                while not fake_calls:  # noqa: ASYNC110 (set by the task above)
                    await trio.sleep(0.01)
                await fake_calls[0].wait_for_state("ended")
    (fake_call,) = fake_calls
    assert answered == [fake_call.call_id]
    assert fake_relay.journal.all("calling.pass") == []
    assert fake_call.states == ["created", "answered", "ending", "ended"]


async def test_the_reference_call_page_example_runs_unchanged(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """The reference's Call page example, with only the import line changed."""
    client = RelayClient(
        project=fake_relay.project,
        token=fake_relay.token,
        contexts=["office"],
        **{k: v for k, v in fake_relay.connect_kwargs().items() if k in ("url", "stream_factory")},
    )

    @client.on_call
    async def handle_call(call):  # type: ignore[no-untyped-def]  # as the reference writes it
        await call.answer()
        action = await call.play([{"type": "tts", "text": "Welcome"}])
        await action.wait()
        await call.hangup()

    with trio.fail_after(60):
        async with client:
            fake_call = await fake_relay.inbound_call()
            await fake_call.wait_for_state("ended")
            await calls_settled(client)
    (play,) = fake_relay.journal.all("calling.play")
    assert play.params["play"] == [{"type": "tts", "params": {"text": "Welcome"}}]
    (op,) = fake_call.operations.values()
    assert op.done and op.stopped_by is None  # played to its end before the hang-up
    (end,) = fake_relay.journal.all("calling.end")  # hung up once, by the handler
    assert end.params["reason"] == "hangup"
    assert fake_call.end_reason == "hangup"


async def test_dial_receive_unreceive_execute_and_relay_protocol(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with client_for(fake_relay) as client:
            (session,) = fake_relay.sessions
            assert client.relay_protocol == session.protocol
            assert client.relay_protocol.startswith("signalwire_")

            call = await client.dial(
                Phone(to_number="+15550001111", from_number="+15551230000"), tag="out-1"
            )
            assert isinstance(call, Call)
            assert call.state is CallState.ANSWERED and call.tag == "out-1"
            (dial,) = fake_relay.journal.all("calling.dial")
            assert dial.params["tag"] == "out-1"
            assert dial.params["devices"] == [
                [
                    {
                        "type": "phone",
                        "params": {"to_number": "+15550001111", "from_number": "+15551230000"},
                    }
                ]
            ]
            await call.hangup()
            assert call.state is CallState.ENDED

            # the reference's dict devices, a flat list of two tried in turn
            fake_relay.set_dial_outcome("+15550002222", "no_answer")
            call = await client.dial(
                [
                    {"type": "phone", "to_number": "+15550002222", "from_number": "+1555"},
                    {"type": "phone", "to_number": "+15550003333", "from_number": "+1555"},
                ],
                dial_timeout=30,
            )
            assert call.device["params"]["to_number"] == "+15550003333"
            await call.hangup()

            await client.receive(["sales", "support"])
            assert session.contexts == ["office", "sales", "support"]
            await client.unreceive(["sales"])
            assert session.contexts == ["office", "support"]
            # the first receive subscribed the client's contexts once its handlers served
            subscribed, receive = fake_relay.journal.all("signalwire.receive")
            assert subscribed.params == {"contexts": ["office"]}
            assert receive.params == {"contexts": ["sales", "support"]}

            result = await client.execute("signalwire.receive", {"contexts": ["billing"]})
            assert result["code"] == "200"
            assert "billing" in session.contexts
            with pytest.raises(RelayError) as info:
                await client.execute("calling.teleport", {})
            assert info.value.code == -32601


async def test_send_message_and_wait_for_delivery(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with client_for(fake_relay) as client:
            message = await client.send_message(
                to_number="+15550001111",
                from_number="+15551230000",
                body="Your table is ready",
                tags=["reminder"],
            )
            assert isinstance(message, Message)
            assert message.message_id and message.direction == "outbound"
            event = await message.wait()
            assert isinstance(event, MessageStateEvent)
            assert event.message_state == MessageState.DELIVERED
            assert message.state == MessageState.DELIVERED and message.is_done
            (sent,) = fake_relay.journal.all("messaging.send")
            assert sent.params == {
                "context": "office",
                "to_number": "+15550001111",
                "from_number": "+15551230000",
                "body": "Your table is ready",
                "tags": ["reminder"],
            }

            mms = await client.send_message(
                to_number="+15550001111",
                from_number="+15551230000",
                media=["https://media.example.com/menu.jpg"],
                context="marketing",
            )
            assert (await mms.wait(timeout=10)).message_state == MessageState.DELIVERED
            last = fake_relay.journal.all("messaging.send")[-1]
            assert last.params["context"] == "marketing"
            assert last.params["media"] == ["https://media.example.com/menu.jpg"]


async def test_on_message_receives_an_inbound_message(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """The fake has no helper for inbound messages; its session emits the real event."""
    received: list[Message] = []
    got_one = trio.Event()
    client = client_for(fake_relay)

    @client.on_message
    async def handle_message(message: Message) -> None:
        received.append(message)
        got_one.set()

    with trio.fail_after(60):
        async with client:
            (session,) = fake_relay.sessions
            session.emit(
                "messaging.receive",
                {
                    "message_id": "e438ffbe-d1ae-4bad-a21c-ffb81bc4cece",
                    "context": "office",
                    "direction": "inbound",
                    "tags": ["message", "inbound", "SMS", "office"],
                    "from_number": "+15559870001",
                    "to_number": "+15551230000",
                    "body": "Can I move it to 11?",
                    "media": [],
                    "segments": 1,
                    "message_state": "received",
                },
                context="office",
            )
            await got_one.wait()
    (message,) = received
    assert message.message_id == "e438ffbe-d1ae-4bad-a21c-ffb81bc4cece"
    assert message.body == "Can I move it to 11?"
    assert message.from_number == "+15559870001"
    assert message.direction == "inbound"
    assert message.state == MessageState.RECEIVED and message.is_done
    assert fake_relay.unacked_events() == []  # the event was acknowledged


async def test_the_body_exception_passes_through_and_reopening_is_refused(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    class Boom(Exception):
        pass

    client = client_for(fake_relay)
    with trio.fail_after(60):
        with pytest.raises(Boom):
            async with client:
                raise Boom
        async with client:
            with pytest.raises(RuntimeError):
                await client.__aenter__()
        bad = client_for(fake_relay, token="wrong")
        with pytest.raises(AuthenticationError):
            async with bad:
                pytest.fail("the body must not run")  # pragma: no cover


async def test_a_failing_handler_hangs_up_only_its_call(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, caplog: Any
) -> None:
    client = client_for(fake_relay)

    @client.on_call
    async def handle_call(call: Call) -> None:
        await call.answer()
        if call.device["params"]["from_number"] == "+15550000666":
            raise RuntimeError("broken handler")
        await call.wait_for_ended()

    with trio.fail_after(60), caplog.at_level(logging.ERROR):
        async with client:
            good = await fake_relay.inbound_call(from_number="+15550000001")
            bad = await fake_relay.inbound_call(from_number="+15550000666")
            await bad.wait_for_state("ended")
            await good.wait_for_state("answered")
            assert not good.ended
            await good.hangup()
    assert any("broken handler" in r.getMessage() or r.exc_info for r in caplog.records)


# -- client.run(): trio.run underneath ------------------------------------------------------------


class ThreadedFake:
    """A fake RELAY server on loopback, run by trio in a thread of its own."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self.fake: FakeRelay | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None

    async def _main(self) -> None:
        async with open_fake_relay() as fake:
            self.fake = fake
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedFake:
        self._thread.start()
        assert self._ready.wait(10), "the fake did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._stop is not None
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)

    def run(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await afn(*args)`` in the fake's trio thread (10 s deadline)."""

        async def bounded() -> T:
            with trio.fail_after(10):
                return await afn(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)

    def kwargs(self, **overrides: Any) -> dict[str, Any]:
        assert self.fake is not None
        return self.fake.connect_kwargs(memory=False, **overrides)


@contextmanager
def threaded_fake() -> Iterator[ThreadedFake]:
    with ThreadedFake() as fake:
        yield fake


def test_run_returns_cleanly_on_keyboard_interrupt(monkeypatch: Any, caplog: Any) -> None:
    started: list[object] = []

    def interrupted_run(async_fn: Callable[[], Awaitable[None]], *args: Any) -> None:
        started.append(async_fn)
        raise KeyboardInterrupt

    monkeypatch.setattr(trio, "run", interrupted_run)
    client = RelayClient(project="p", token="t", url="ws://127.0.0.1:9")
    with caplog.at_level(logging.INFO, logger="signalwire_relay_trio"):
        assert client.run() is None  # no exception escapes
    assert len(started) == 1
    assert any("interrupted" in r.getMessage() for r in caplog.records)


def test_run_with_bad_credentials_raises_authentication_error_unwrapped() -> None:
    with threaded_fake() as server:
        client = RelayClient(**server.kwargs(token="wrong-token"))
        with pytest.raises(AuthenticationError) as info:
            client.run()
        assert not isinstance(info.value, BaseExceptionGroup)
        assert info.value.code == -32002
        assert server.fake is not None and server.fake.connection_count == 1  # no retry


def test_run_serves_calls_and_a_lost_connection_leaves_unwrapped() -> None:
    """run() serves @on_call handlers; a connection lost for good ends it with its error."""
    with threaded_fake() as server:
        client = RelayClient(**server.kwargs(), reconnect=False)
        handled = threading.Event()

        @client.on_call
        async def handle_call(call: Call) -> None:
            await call.answer()
            await (await call.play([{"type": "tts", "text": "Welcome"}])).wait()
            await call.hangup()
            handled.set()

        problems: list[BaseException] = []

        def caller() -> None:
            assert server.fake is not None
            fake = server.fake
            try:
                server.run(subscribed, fake)
                fake_call: FakeCall = server.run(fake.inbound_call)
                server.run(fake_call.wait_for_state, "ended")
                assert handled.wait(10)
            except BaseException as exc:
                problems.append(exc)
            finally:
                server.run(fake.drop)  # reconnect is off: this ends run()

        thread = threading.Thread(target=caller, daemon=True)
        thread.start()
        with pytest.raises(RelayConnectionError) as info:
            client.run()
        thread.join(10)
        assert problems == []
        assert not isinstance(info.value, BaseExceptionGroup)
        assert handled.is_set()


def test_ctrl_c_ends_run_cleanly() -> None:
    """A real SIGINT, delivered while run() serves, makes it return (no traceback)."""
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.fail("signal tests must run in the main thread")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with threaded_fake() as server:
        client = RelayClient(**server.kwargs(), reconnect=False)
        handled = threading.Event()

        @client.on_call
        async def handle_call(call: Call) -> None:
            await call.answer()
            await call.hangup()
            handled.set()

        problems: list[BaseException] = []

        def interrupt() -> None:
            assert server.fake is not None
            fake = server.fake
            try:
                server.run(subscribed, fake)
                fake_call: FakeCall = server.run(fake.inbound_call)
                server.run(fake_call.wait_for_state, "ended")
                assert handled.wait(10)
                server.run(trio.sleep, 0.2)  # let run() settle back into its sleep
            except BaseException as exc:
                problems.append(exc)
                server.run(fake.drop)  # end run() (reconnect is off) rather than hang
            else:
                os.kill(os.getpid(), signal.SIGINT)

        thread = threading.Thread(target=interrupt, daemon=True)
        thread.start()
        try:
            assert client.run() is None
        finally:
            thread.join(10)
        assert problems == []
        assert handled.is_set()
        assert client.relay_protocol == ""  # closed


def test_a_handler_raising_keyboard_interrupt_is_not_swallowed() -> None:
    """KeyboardInterrupt/SystemExit are not handler *errors*: serve() must let them out.

    API §3 and the style guide: serve() logs a handler's ``Exception``; a
    ``BaseException`` such as KeyboardInterrupt must end ``run()``, which then
    returns cleanly.
    """
    with threaded_fake() as server:
        client = RelayClient(**server.kwargs(), reconnect=False)

        @client.on_call
        async def handle_call(call: Call) -> None:
            raise KeyboardInterrupt

        outcome: list[object] = []

        def run() -> None:
            try:
                outcome.append(client.run())
            except BaseException as exc:  # the test reports it
                outcome.append(exc)

        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        assert server.fake is not None
        fake = server.fake
        server.run(subscribed, fake)
        server.run(fake.inbound_call)
        runner.join(2)
        stuck = runner.is_alive()
        if stuck:  # end it: the fake drops the socket and reconnect is off
            server.run(fake.drop)
            runner.join(10)
        assert not stuck, "run() kept serving after a handler raised KeyboardInterrupt"
        assert outcome == [None]


async def test_a_rejection_and_a_close_in_one_read_still_raise_authentication_error() -> None:
    """A server that answers signalwire.connect with an error and closes at once.

    The error reply and the close frame arrive in the same read (as over a
    real network): the refusal must surface as AuthenticationError, never as
    a lost connection. A raw wsproto server sends both in one write.
    """
    import json

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    async def reject(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        with trio.move_on_after(10):
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        await stream.send_all(ws.send(AcceptConnection()))
                    elif isinstance(event, TextMessage):
                        request = json.loads(event.data)
                        reply = {
                            "jsonrpc": "2.0",
                            "id": request["id"],
                            "error": {"code": -32002, "message": "Authentication failed"},
                        }
                        await stream.send_all(
                            ws.send(TextMessage(data=json.dumps(reply)))
                            + ws.send(CloseConnection(code=1000))
                        )
                    elif isinstance(event, CloseConnection):
                        return

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, reject, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            client = RelayClient(project="p", token="bad", url=f"ws://127.0.0.1:{port}")
            with pytest.raises(AuthenticationError) as info:
                async with client:
                    pytest.fail("the body must not run")  # pragma: no cover
            assert info.value.code == -32002
            nursery.cancel_scope.cancel()
