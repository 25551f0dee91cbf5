"""The official asyncio SDK (signalwire-sdk 3.7.5, untouched) against the standalone fake.

The fake runs as ``python -m signalwire_relay_trio.testing --tls`` in its own
process, as a user would run it; the SDK reads the ``SIGNALWIRE_*``
variables of its start line (``SIGNALWIRE_RELAY_CA_FILE`` trusts the
throw-away CA) and connects over ``wss://``; the test drives the world only
through the control API. Where the SDK and the fake disagreed, the SDK was
taken as right and the fake changed (README, "Testing your app").

Run with ``python -m pytest -q -m interop`` (the ``interop`` extra).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from signalwire_relay_trio.testing import ControlAPIError, RelayControl

pytestmark = pytest.mark.interop

relay = pytest.importorskip("signalwire.relay", reason="the interop extra is not installed")
RelayClient = relay.RelayClient
RelayError = relay.client.RelayError

T = TypeVar("T")
DEADLINE = 20.0  # seconds for one scenario
#: A fast world: the flows take milliseconds, not the seconds of real media.
TIMINGS = {
    "tts_min": 0.05,
    "tts_seconds_per_char": 0.001,
    "audio_seconds": 0.1,
    "digit_timeout": 0.5,
    "initial_timeout": 2.0,
    "message_state_gap": 0.02,
    "event_gap": 0.01,
}
TO = "+15550001111"
FROM = "+15551230000"


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayControl]:
    """The standalone fake over wss://, one process for the module."""
    ca_file = tmp_path_factory.mktemp("interop") / "relay-ca.pem"
    timings = [arg for name, value in TIMINGS.items() for arg in ("--timing", f"{name}={value}")]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "signalwire_relay_trio.testing",
            "--port",
            "0",
            "--tls",
            "--ca-file",
            str(ca_file),
            "--context",
            "office",
            *timings,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        control = RelayControl.from_start_line(process.stdout.readline())
        assert control.url.startswith("wss://") and Path(control.ca_file or "").exists()
        yield control
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert process.returncode == 0


@pytest.fixture
def fake(standalone: RelayControl, monkeypatch: pytest.MonkeyPatch) -> RelayControl:
    """The standalone fake, reset, with its ``SIGNALWIRE_*`` variables in the environment."""
    standalone.reset()
    for name, value in standalone.env.items():
        monkeypatch.setenv(name, value)
    return standalone


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run one asyncio scenario under a deadline."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), DEADLINE)

    return asyncio.run(bounded())


async def control(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A control API request, off the event loop (it blocks)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@asynccontextmanager
async def connected(client: Any) -> AsyncIterator[Any]:
    """The client connected for the block; always disconnected (the SDK allows one per process)."""
    try:
        await client.connect()
        yield client
    finally:
        await client.disconnect()


def methods(fake: RelayControl, call_id: str) -> list[str]:
    """The commands the SDK sent for one call, in order."""
    entries = fake.journal(call_id=call_id, direction="received")
    return [e["method"] for e in entries if e["kind"] == "request"]


async def command_sent(fake: RelayControl, call_id: str, method: str) -> None:
    """Until the SDK sent ``method`` for the call (the fake's journal is in another process)."""
    while method not in await control(methods, fake, call_id):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


# -- connecting -------------------------------------------------------------------------


def test_connect(fake: RelayControl) -> None:
    async def scenario() -> str:
        async with connected(RelayClient(contexts=["office"])) as client:
            return str(client.relay_protocol)

    protocol = run(scenario)
    assert protocol.startswith("signalwire_")
    connect, reply = fake.journal(method="signalwire.connect")
    assert connect["direction"] == "received"
    assert connect["params"]["authentication"] == {"project": "test-project", "token": "***"}
    assert connect["params"]["contexts"] == ["office"]
    assert reply["result"]["protocol"] == protocol


def test_bad_credentials(fake: RelayControl) -> None:
    async def scenario() -> Exception:
        client = RelayClient(project="test-project", token="wrong", contexts=["office"])
        try:
            async with connected(client):
                raise AssertionError("connected with a wrong token")
        except RelayError as exc:
            return exc
        raise AssertionError("no error")

    error = run(scenario)
    assert error.code == -32002
    (reply,) = fake.journal(method="signalwire.connect", direction="sent")
    assert reply["error"]["code"] == -32002
    assert fake.sessions() == []


# -- an inbound call: answer, play, play_and_collect, record, the caller hangs up ------------


def test_inbound_call_answered_played_collected_recorded_and_hung_up_by_the_caller(
    fake: RelayControl,
) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        handled = asyncio.Event()
        client = RelayClient(contexts=["office"])

        @client.on_call
        async def handle(call: Any) -> None:
            try:
                await call.answer()
                play = await call.play([{"type": "tts", "params": {"text": "Hello"}}])
                seen["play"] = (await play.wait(timeout=5)).params["state"]
                collect = await call.play_and_collect(
                    [{"type": "tts", "params": {"text": "Press two digits"}}],
                    {"digits": {"max": 2, "digit_timeout": 1}},
                )
                seen["collect"] = (await collect.wait(timeout=5)).params["result"]
                record = await call.record({"beep": True, "end_silence_timeout": 1})
                seen["record"] = record.control_id
                ended = await call.wait_for_ended(timeout=5)
                seen["ended"] = ended.params["call_state"]
                seen["recorded"] = (await record.wait(timeout=5)).params
            finally:
                handled.set()

        async with connected(client):
            call_id = await control(fake.inbound_call, "office", from_number="+15559870001")
            await control(fake.wait_for_state, call_id, "answered", 5)
            # the caller presses the digits once the prompt is listening
            await command_sent(fake, call_id, "calling.play_and_collect")
            await control(fake.press, call_id, "42")
            await command_sent(fake, call_id, "calling.record")
            await control(fake.hangup, call_id)
            await asyncio.wait_for(handled.wait(), 10)
            seen["call_id"] = call_id
        return seen

    seen = run(scenario)
    assert seen["play"] == "finished"
    assert seen["collect"]["type"] == "digit"
    assert seen["collect"]["params"]["digits"] == "42"
    assert seen["ended"] == "ended"
    assert seen["recorded"]["state"] == "finished" and seen["recorded"]["url"]
    assert methods(fake, seen["call_id"]) == [
        "calling.answer",
        "calling.play",
        "calling.play_and_collect",
        "calling.record",
    ]
    assert fake.call(seen["call_id"])["states"] == ["created", "answered", "ending", "ended"]


# -- outbound --------------------------------------------------------------------------------


def device(number: str) -> list[list[dict[str, Any]]]:
    return [[{"type": "phone", "params": {"to_number": number, "from_number": FROM}}]]


def test_dial_answered_and_busy(fake: RelayControl) -> None:
    fake.dial_outcome(TO, "answer", ring_time=0.05)
    fake.dial_outcome("+15550002222", "busy", ring_time=0.05)

    async def scenario() -> tuple[str, str, Exception]:
        async with connected(RelayClient(contexts=["office"])) as client:
            call = await client.dial(device(TO), dial_timeout=5)
            state = call.state
            await call.hangup()
            await call.wait_for_ended(timeout=5)
            try:
                await client.dial(device("+15550002222"), dial_timeout=5)
            except RelayError as exc:
                return call.call_id, state, exc
        raise AssertionError("the busy number answered")

    call_id, state, busy = run(scenario)
    assert state == "answered"
    assert "Dial failed" in str(busy)
    assert fake.call(call_id)["states"] == ["created", "ringing", "answered", "ending", "ended"]
    dial_states = [
        e["params"]["params"]["dial_state"] for e in fake.journal(event_type="calling.call.dial")
    ]
    assert dial_states == ["dialing", "answered", "dialing", "failed"]


def test_connect_bridges_the_inbound_call(fake: RelayControl) -> None:
    fake.dial_outcome("+15550003333", "answer", ring_time=0.05)

    async def scenario() -> tuple[str, dict[str, Any]]:
        bridged = asyncio.Event()
        result: dict[str, Any] = {}
        client = RelayClient(contexts=["office"])

        @client.on_call
        async def handle(call: Any) -> None:
            await call.answer()
            call.on(
                "calling.call.connect",
                lambda event: (
                    result.update(event.params)
                    if event.params.get("connect_state") == "connected"
                    else None,
                    bridged.set() if event.params.get("connect_state") == "connected" else None,
                ),
            )
            result["reply"] = await call.connect(device("+15550003333"))
            await call.wait_for_ended(timeout=10)

        async with connected(client):
            call_id = await control(fake.inbound_call, "office")
            await asyncio.wait_for(bridged.wait(), 10)
            await control(fake.hangup, call_id)
            await control(fake.wait_for_state, call_id, "ended", 5)
        return call_id, result

    call_id, result = run(scenario)
    assert result["reply"]["code"] == "200"
    assert result["connect_state"] == "connected"
    assert result["peer"]["call_id"] != call_id
    assert methods(fake, call_id) == ["calling.answer", "calling.connect"]


# -- messaging --------------------------------------------------------------------------------


def test_send_message_delivered_and_failed(fake: RelayControl) -> None:
    fake.message_outcome("+15550004444", "failed")

    async def scenario() -> list[tuple[str, str | None]]:
        async with connected(RelayClient(contexts=["office"])) as client:
            outcomes = []
            for number in (TO, "+15550004444"):
                message = await client.send_message(to_number=number, from_number=FROM, body="Hi")
                event = await message.wait(timeout=5)
                outcomes.append((event.params["message_state"], message.reason))
            return outcomes

    assert run(scenario) == [("delivered", ""), ("failed", "unreachable_destination")]
    states = [
        e["params"]["params"]["message_state"] for e in fake.journal(event_type="messaging.state")
    ]
    assert states == ["queued", "initiated", "sent", "delivered", "queued", "initiated", "failed"]


def test_an_inbound_message_reaches_on_message(fake: RelayControl) -> None:
    async def scenario() -> tuple[str, Any]:
        received: asyncio.Queue[Any] = asyncio.Queue()
        client = RelayClient(contexts=["office"])

        @client.on_message
        async def on_message(message: Any) -> None:
            await received.put(message)

        async with connected(client):
            message_id = await control(
                fake.inbound_message, "office", "+15559870001", FROM, "Can I move it to 11?"
            )
            return message_id, await asyncio.wait_for(received.get(), 5)

    message_id, message = run(scenario)
    assert message.message_id == message_id
    assert (message.body, message.direction, message.state) == (
        "Can I move it to 11?",
        "inbound",
        "received",
    )
    assert message.from_number == "+15559870001"


# -- the reference's Call page example ------------------------------------------------------


def test_the_call_page_example(fake: RelayControl) -> None:
    """The example at the top of the official Call reference, as written there."""

    async def scenario() -> str:
        client = RelayClient(contexts=["office"])

        @client.on_call
        async def handle_call(call: Any) -> None:
            await call.answer()
            action = await call.play([{"type": "tts", "text": "Welcome"}])
            await action.wait()
            await call.hangup()

        async with connected(client):
            call_id = await control(fake.inbound_call, "office")
            await control(fake.wait_for_state, call_id, "ended", 5)
        return call_id

    call_id = run(scenario)
    (play,) = fake.journal(method="calling.play", call_id=call_id, direction="received")
    assert play["params"]["play"] == [{"type": "tts", "text": "Welcome"}]  # sent flat, as is
    (reply,) = fake.journal(method="calling.play", call_id=call_id, direction="sent")
    assert reply["result"]["code"] == "200"
    states = [
        e["params"]["params"]["state"]
        for e in fake.journal(event_type="calling.call.play", call_id=call_id)
    ]
    assert states == ["playing", "finished"]
    assert fake.call(call_id)["end_reason"] == "hangup"


def test_the_control_api_refuses_what_it_cannot_do(fake: RelayControl) -> None:
    with pytest.raises(ControlAPIError) as caught:
        fake.inbound_call("office", timeout=0)  # nobody is connected
    assert caught.value.status == 409
    assert json.dumps(caught.value.body).count("office") == 1


@pytest.mark.fake_relay(timings=TIMINGS)
def test_the_fake_relay_server_fixture_serves_the_sdk_from_a_thread(
    fake_relay_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_fake_relay (a thread, not a process) for pytest-asyncio and unittest users."""
    for name, value in fake_relay_server.env.items():
        monkeypatch.setenv(name, value)

    async def scenario() -> str:
        client = RelayClient(contexts=["office"])

        @client.on_call
        async def handle_call(call: Any) -> None:
            await call.answer()
            await (await call.play([{"type": "tts", "text": "Welcome"}])).wait()
            await call.hangup()

        async with connected(client):
            call_id = await control(fake_relay_server.inbound_call, "office")
            await control(fake_relay_server.wait_for_state, call_id, "ended", 5)
        return call_id

    call_id = run(scenario)
    assert fake_relay_server.call(call_id)["states"] == ["created", "answered", "ending", "ended"]
