"""The examples in ``examples/`` run against the fake server and do what they say.

Each example module is imported by path and its handler is run with the
``relay`` fixture; the test plays the caller (or callee) through the fake.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing

from signalwire_relay_trio import Call, CallEndedError
from signalwire_relay_trio.testing import FakeCall, FakeRelay

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples are not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


voicemail = load("voicemail")
ivr_menu = load("ivr_menu")
outbound_amd = load("outbound_amd")
answer_and_welcome = load("answer_and_welcome")
forward_call = load("forward_call")
conference_bridge = load("conference_bridge")
sms_autoreply = load("sms_autoreply")


async def serve_one_call(
    relay: Any,
    fake_relay: FakeRelay,
    handler: Callable[[Call], Awaitable[Any]],
    caller: Callable[[FakeCall], Awaitable[None]],
) -> tuple[FakeCall, Any]:
    """Serve ``handler`` with ``relay.serve``, offer one call, let ``caller`` act.

    Returns the fake call and what the handler returned (or the exception
    it raised), once serve() has finished with the call.
    """
    outcome: list[Any] = []
    finished = trio.Event()

    async def recorded(call: Call) -> None:
        try:
            outcome.append(await handler(call))
        except Exception as exc:
            outcome.append(exc)
            raise
        finally:
            finished.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(relay.serve, recorded)
        fake_call = await fake_relay.inbound_call()
        await caller(fake_call)
        await fake_call.wait_for_state("ended")  # serve() hangs up when the handler is done
        await finished.wait()
        nursery.cancel_scope.cancel()
    assert fake_relay.internal_errors == []
    assert relay.statistics().actions == 0
    (result,) = outcome
    return fake_call, result


def tts_texts(fake_relay: FakeRelay, method: str = "calling.play") -> list[str]:
    """The text of every tts item sent with ``method``, in order."""
    return [
        item["params"]["text"]
        for entry in fake_relay.journal.all(method)
        for item in entry.params["play"]
        if item["type"] == "tts"
    ]


# -- voicemail ----------------------------------------------------------------------------------


async def test_voicemail_records_a_message_until_the_caller_stops_talking(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        fake_call.script["recording_url"] = "https://rec.example.com/vm-1.mp3"
        fake_call.script["caller_speaks_for"] = 8.0

    with trio.fail_after(300):
        fake_call, url = await serve_one_call(relay, fake_relay, voicemail.handler, caller)
    assert url == "https://rec.example.com/vm-1.mp3"
    assert tts_texts(fake_relay) == [voicemail.GREETING]
    (record,) = fake_relay.journal.all("calling.record")
    assert record.params["record"] == {
        "audio": {"beep": True, "format": "mp3", "end_silence_timeout": 3}
    }
    (op,) = (o for o in fake_call.operations.values() if o.kind == "record")
    assert op.stopped_by is None  # it ended by end-of-silence, not by a stop
    assert op.recorded_seconds() == 11.0  # 8 s of message, 3 s of silence
    assert fake_relay.journal.all("calling.record.stop") == []
    # the greeting played in full before the recording began
    (play,) = fake_relay.journal.all("calling.play")
    assert record.time > play.time


async def test_voicemail_keeps_the_message_when_the_caller_hangs_up(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        fake_call.script["caller_speaks_for"] = 60.0
        await fake_call.wait_for_operation("record")
        await trio.sleep(20)
        await fake_call.hangup()

    with trio.fail_after(300):
        fake_call, url = await serve_one_call(relay, fake_relay, voicemail.handler, caller)
    (op,) = (o for o in fake_call.operations.values() if o.kind == "record")
    assert url == op.url
    assert op.stopped_by == "hangup" and op.recorded_seconds() == 20.0
    assert fake_relay.journal.all("calling.record.stop") == []


async def test_voicemail_caller_hangs_up_and_nothing_is_kept(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """A server that does not finalise on hang-up: the handler ends with CallEndedError."""

    async def caller(fake_call: FakeCall) -> None:
        fake_call.script["record_finalize_on_hangup"] = False
        await fake_call.wait_for_operation("record")
        await trio.sleep(5)
        await fake_call.hangup()

    with trio.fail_after(300):
        _fake_call, outcome = await serve_one_call(relay, fake_relay, voicemail.handler, caller)
    assert isinstance(outcome, CallEndedError)  # serve() treats that as a normal end
    assert fake_relay.journal.all("calling.end") == []


async def test_voicemail_stops_a_message_that_runs_too_long(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        fake_call.script["caller_speaks_for"] = 10_000.0

    with trio.fail_after(600):
        fake_call, url = await serve_one_call(relay, fake_relay, voicemail.handler, caller)
    (op,) = (o for o in fake_call.operations.values() if o.kind == "record")
    assert url == op.url
    assert op.stopped_by == "stop"
    assert op.recorded_seconds() == voicemail.MAX_MESSAGE_SECONDS
    (stop,) = fake_relay.journal.all("calling.record.stop")
    assert stop.params["control_id"] == op.control_id


# -- ivr_menu -----------------------------------------------------------------------------------


def pressing(*choices: str) -> Callable[[FakeCall], Awaitable[None]]:
    """A caller who answers each menu prompt in turn with one of ``choices``."""

    async def caller(fake_call: FakeCall) -> None:
        for digits in choices:
            op = await fake_call.wait_for_operation("play_and_collect")
            await trio.sleep(1)  # mid-prompt: input cuts it short
            await fake_call.press(digits)
            await op.wait_done()

    return caller


@pytest.mark.parametrize("choice", sorted(ivr_menu.ANSWERS))
async def test_ivr_menu_branches(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, choice: str
) -> None:
    with trio.fail_after(300):
        fake_call, result = await serve_one_call(
            relay, fake_relay, ivr_menu.handler, pressing(choice)
        )
    assert result == choice
    (prompt,) = fake_relay.journal.all("calling.play_and_collect")
    assert prompt.params["play"] == [{"type": "tts", "params": {"text": ivr_menu.MENU}}]
    assert prompt.params["collect"] == {"digits": {"max": 1, "digit_timeout": 5}}
    assert prompt.params["volume"] == 0
    assert tts_texts(fake_relay) == [ivr_menu.ANSWERS[choice]]
    (op,) = [o for o in fake_call.operations.values() if o.kind == "play_and_collect"]
    assert op.results == [{"type": "digit", "params": {"digits": choice, "terminator": ""}}]
    (end,) = fake_relay.journal.all("calling.end")  # the menu hangs up itself
    assert fake_call.end_reason == "hangup"
    assert end.time > fake_relay.journal.all("calling.play")[-1].time


async def test_ivr_menu_repeats_after_an_unknown_choice(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(300):
        _fake_call, result = await serve_one_call(
            relay, fake_relay, ivr_menu.handler, pressing("9", "2")
        )
    assert result == "2"
    assert len(fake_relay.journal.all("calling.play_and_collect")) == 2
    assert tts_texts(fake_relay) == ["Sorry, I did not get that.", ivr_menu.ANSWERS["2"]]


async def test_ivr_menu_gives_up_after_three_silent_attempts(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(fake_call: FakeCall) -> None:
        pass

    with trio.fail_after(300):
        fake_call, result = await serve_one_call(relay, fake_relay, ivr_menu.handler, silent)
    assert result is None
    prompts = fake_relay.journal.all("calling.play_and_collect")
    assert len(prompts) == ivr_menu.ATTEMPTS
    results = [o.results for o in fake_call.operations.values() if o.kind == "play_and_collect"]
    assert results == [[{"type": "no_input"}]] * ivr_menu.ATTEMPTS
    assert tts_texts(fake_relay) == ["Sorry, I did not get that."] * ivr_menu.ATTEMPTS + [
        "Goodbye."
    ]
    assert len(fake_relay.journal.all("calling.end")) == 1


# -- outbound_amd -------------------------------------------------------------------------------

TO, FROM = "+15557654321", "+15551234567"


async def dial_with_amd(
    relay: Any, fake_relay: FakeRelay, detect: list[str] | None
) -> tuple[FakeCall, str]:
    answered_by: list[str] = []
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            answered_by.append(await outbound_amd.call_with_amd(relay, TO, FROM))

        nursery.start_soon(run)
        leg = await fake_relay.wait_for_dialed_call()  # answered, before detect starts
        if detect is not None:
            leg.script["detect"] = detect
    assert fake_relay.internal_errors == []
    return leg, answered_by[0]


async def test_outbound_amd_human(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(300):
        leg, answered_by = await dial_with_amd(relay, fake_relay, None)
    assert answered_by == "human"
    (dial,) = fake_relay.journal.all("calling.dial")
    assert dial.params["devices"] == [
        [{"type": "phone", "params": {"to_number": TO, "from_number": FROM}}]
    ]
    (detect,) = fake_relay.journal.all("calling.detect")
    assert detect.params["detect"] == {"type": "machine", "params": {}}
    assert detect.params["timeout"] == 30
    assert tts_texts(fake_relay) == [outbound_amd.MESSAGE]
    (play,) = fake_relay.journal.all("calling.play")
    assert play.time - detect.time == pytest.approx(1.0, abs=0.05)  # right after HUMAN
    assert leg.ended and leg.end_reason == "hangup"
    assert relay.statistics().active_calls == 0


async def test_outbound_amd_machine_waits_for_the_greeting_to_end(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(300):
        leg, answered_by = await dial_with_amd(relay, fake_relay, ["MACHINE", "NOT_READY", "READY"])
    assert answered_by == "machine"
    (detect,) = fake_relay.journal.all("calling.detect")
    (play,) = fake_relay.journal.all("calling.play")
    # MACHINE at 1 s, NOT_READY at 2 s, READY at 3 s: the message starts after READY
    assert play.time - detect.time == pytest.approx(3.0, abs=0.05)
    (op,) = (o for o in leg.operations.values() if o.kind == "play")
    assert op.stopped_by is None and op.done  # the message played in full
    assert leg.ended


async def test_outbound_amd_dial_failure_raises(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    from signalwire_relay_trio import DialError

    fake_relay.set_dial_outcome(TO, "busy")
    with trio.fail_after(300), pytest.raises(DialError):
        await outbound_amd.call_with_amd(relay, TO, FROM)
    assert fake_relay.journal.all("calling.detect") == []


async def test_outbound_amd_handler_calls_the_caller_back(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        pass

    with trio.fail_after(300):
        fake_call, answered_by = await serve_one_call(
            relay, fake_relay, lambda call: outbound_amd.handler(call, relay), caller
        )
    assert answered_by == "human"
    assert tts_texts(fake_relay) == [outbound_amd.CALLBACK, outbound_amd.MESSAGE]
    (dial,) = fake_relay.journal.all("calling.dial")
    (device,) = dial.params["devices"][0]
    assert device["params"] == {
        "to_number": fake_call.from_number,  # the caller, called back
        "from_number": fake_call.to_number,  # from the number they called
    }
    methods = [entry.method for entry in fake_relay.journal.all()]
    assert methods.index("calling.end") < methods.index("calling.dial")  # hung up, then called


# -- answer_and_welcome -------------------------------------------------------------------------


async def test_answer_and_welcome_plays_the_welcome_and_hangs_up(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        pass

    with trio.fail_after(300):
        fake_call, _ = await serve_one_call(relay, fake_relay, answer_and_welcome.handler, caller)
    assert tts_texts(fake_relay) == [answer_and_welcome.WELCOME]
    (op,) = fake_call.operations.values()
    assert op.done and op.stopped_by is None  # played in full before the hang-up
    assert fake_call.end_reason == "hangup" and fake_relay.journal.all("calling.end")


# -- forward_call -------------------------------------------------------------------------------


async def test_forward_call_falls_back_and_ends_when_the_callee_hangs_up(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    fake_relay.set_dial_outcome(forward_call.OFFICE, "no_answer", ring_time=20)

    async def caller(fake_call: FakeCall) -> None:
        await fake_call.wait_for_command("calling.connect")
        while fake_call.peer is None:  # noqa: ASYNC110 (the fallback answers after 20 s)
            await trio.sleep(1)
        await trio.sleep(30)  # they talk
        await fake_call.peer.hangup()

    with trio.fail_after(300):
        fake_call, answered_by = await serve_one_call(
            relay, fake_relay, forward_call.handler, caller
        )
    assert answered_by == forward_call.FALLBACK
    (connect,) = fake_relay.journal.all("calling.connect")
    groups = connect.params["devices"]
    assert [[device["params"]["to_number"] for device in group] for group in groups] == [
        [forward_call.OFFICE],
        [forward_call.FALLBACK],
    ]
    assert groups[0][0]["params"]["timeout"] == forward_call.RING_SECONDS
    assert connect.params["ringback"] == [{"type": "ringtone", "params": {"name": "us"}}]
    assert fake_call.end_reason == "hangup"  # serve() hung up the caller after the callee left


async def test_forward_call_apologises_when_nobody_answers(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    fake_relay.set_dial_outcome(forward_call.OFFICE, "busy")
    fake_relay.set_dial_outcome(forward_call.FALLBACK, "no_answer")

    async def caller(fake_call: FakeCall) -> None:
        pass

    with trio.fail_after(300):
        _fake_call, answered_by = await serve_one_call(
            relay, fake_relay, forward_call.handler, caller
        )
    assert answered_by is None
    assert tts_texts(fake_relay) == [forward_call.SORRY]


# -- conference_bridge --------------------------------------------------------------------------


@pytest.mark.parametrize(("digits", "room"), [("42#", "standup"), ("999#", "main"), (None, "main")])
async def test_conference_bridge_joins_the_room_keyed_in(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    digits: str | None,
    room: str,
) -> None:
    async def caller(fake_call: FakeCall) -> None:
        if digits is not None:
            await fake_call.wait_for_operation("play_and_collect")
            await fake_call.press(digits)
        await fake_call.wait_for_command("calling.join_conference")
        await trio.sleep(120)  # in the meeting
        await fake_call.hangup()

    with trio.fail_after(600):
        _fake_call, joined = await serve_one_call(
            relay, fake_relay, conference_bridge.handler, caller
        )
    assert joined == room
    (join,) = fake_relay.journal.all("calling.join_conference")
    assert join.params["name"] == room
    assert join.params["beep"] == "onEnter"
    assert fake_relay.journal.all("calling.end") == []  # the caller hung up, not the bridge


# -- sms_autoreply ------------------------------------------------------------------------------


async def test_sms_autoreply_replies_from_the_number_texted(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    from signalwire_relay_trio import MessageState

    replies: list[Any] = []
    done = trio.Event()

    async def handler(message: Any) -> None:
        replies.append(await sms_autoreply.handler(message, relay))
        done.set()

    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve_messages, handler)
            (session,) = fake_relay.sessions
            session.emit(
                "messaging.receive",
                {
                    "message_id": "1d5c3e8e-0000-4000-8000-000000000001",
                    "context": "office",
                    "direction": "inbound",
                    "from_number": "+15559870001",
                    "to_number": "+15551230000",
                    "body": "Are you open on Saturday?",
                    "message_state": "received",
                },
                context="office",
            )
            await done.wait()
            nursery.cancel_scope.cancel()
    assert replies == [MessageState.DELIVERED]
    (send,) = fake_relay.journal.all("messaging.send")
    assert send.params["to_number"] == "+15559870001"
    assert send.params["from_number"] == "+15551230000"
    assert send.params["body"] == sms_autoreply.REPLY
    assert send.params["context"] == "office"


# -- every example, as a newcomer runs it -------------------------------------------------------

RUNS = {
    "answer_and_welcome": [],
    "ivr_menu": [],
    "voicemail": [],
    "outbound_amd": [],
    "forward_call": [],
    "conference_bridge": [],
    "sms_autoreply": ["--messages"],
}


@pytest.fixture(scope="module")
def fake_runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """``run examples.NAME:handler --fake`` for every example, all started at once."""
    cli = [sys.executable, "-m", "signalwire_relay_trio", "run"]
    started = {
        name: subprocess.Popen(
            [*cli, f"examples.{name}:handler", "--fake", *extra],
            cwd=EXAMPLES.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, extra in RUNS.items()
    }
    try:
        yield started
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def test_every_example_is_tested_here() -> None:
    assert sorted(RUNS) == sorted(path.stem for path in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_runs_with_fake_and_no_other_option(
    fake_runs: dict[str, subprocess.Popen[str]], name: str
) -> None:
    output, _ = fake_runs[name].communicate(timeout=120)
    assert fake_runs[name].returncode == 0, output
    assert "handler finished without error" in output
