"""Code written for the official asyncio SDK, run as it is written, against the fake.

Each test uses a call shape exactly as official code would (``on_completed=``,
extra keyword arguments, ``pause(behavior=)``, ``nursery.start_soon(call.play,
...)``) and checks what went on the wire: no callback, the extra params
present, no stray stop. Clock-driven, over the in-memory stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    Call,
    CallStateEvent,
    RelayConnection,
    RelayEvent,
    Tts,
)
from signalwire_relay_trio.testing import FakeCall, FakeRelay

MEDIA = [{"type": "tts", "params": {"text": "hello"}}]
DIGITS = {"digits": {"max": 1, "digit_timeout": 5}}


async def answered_call(relay: RelayConnection, fake_relay: FakeRelay) -> tuple[FakeCall, Call]:
    async with relay.inbound_calls() as calls:
        fake_call = await fake_relay.inbound_call()
        call = await calls.receive()
    await call.answer()
    return fake_call, call


def last_params(fake_relay: FakeRelay, method: str) -> dict[str, Any]:
    """The params of the last ``method`` request, without the call's ids."""
    params = dict(fake_relay.journal.all(method)[-1].params)
    params.pop("node_id", None)
    params.pop("call_id", None)
    return params


#: Every action method of the official SDK that takes on_completed, as official code calls it.
ACTION_SHAPES: dict[str, Callable[[Call, Any], Any]] = {
    "calling.play": lambda call, cb: call.play(MEDIA, on_completed=cb),
    "calling.record": lambda call, cb: call.record({"beep": True}, on_completed=cb),
    "calling.play_and_collect": lambda call, cb: call.play_and_collect(
        MEDIA, DIGITS, on_completed=cb
    ),
    "calling.collect": lambda call, cb: call.collect(digits={"max": 1}, on_completed=cb),
    "calling.detect": lambda call, cb: call.detect(
        {"type": "machine", "params": {}}, on_completed=cb
    ),
    "calling.tap": lambda call, cb: call.tap(
        {"type": "audio", "params": {}},
        {"type": "rtp", "params": {"addr": "127.0.0.1", "port": 1234}},
        on_completed=cb,
    ),
    "calling.stream": lambda call, cb: call.stream("wss://example.test/s", on_completed=cb),
    "calling.send_fax": lambda call, cb: call.send_fax(
        "https://example.test/f.pdf", on_completed=cb
    ),
    "calling.receive_fax": lambda call, cb: call.receive_fax(on_completed=cb),
    "calling.pay": lambda call, cb: call.pay("https://example.test/pay", on_completed=cb),
    "calling.transcribe": lambda call, cb: call.transcribe(on_completed=cb),
    "calling.ai": lambda call, cb: call.ai(prompt={"text": "hi"}, on_completed=cb),
}


@pytest.mark.parametrize("method", sorted(ACTION_SHAPES))
async def test_on_completed_gets_the_event_that_ended_the_action_and_is_never_sent(
    method: str,
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
) -> None:
    received: list[RelayEvent] = []
    with trio.fail_after(300):
        _fake_call, call = await answered_call(relay, fake_relay)
        action = await ACTION_SHAPES[method](call, received.append)
        assert "on_completed" not in last_params(fake_relay, method)
        with trio.move_on_after(60):
            await action.wait()
        if not action.is_done:
            await action.stop()
        assert action.is_done
        assert len(received) == 1
        if action.result is not None:
            assert received[0] is action.result
        else:  # stopped, and no final event of its own (ai): an empty event naming it
            assert received[0].event_type == ""
            assert received[0].control_id == action.control_id
        await call.hangup()
    assert len(received) == 1  # once, whatever happens next


async def test_an_async_on_completed_runs_and_a_failing_one_is_only_logged(
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="signalwire_relay_trio")
    seen: list[str] = []

    async def completed(event: RelayEvent) -> None:
        await trio.sleep(1)
        seen.append(event.params["state"])

    def broken(event: RelayEvent) -> None:
        raise RuntimeError("broken callback")

    with trio.fail_after(120):
        _fake_call, call = await answered_call(relay, fake_relay)
        first = await call.play(MEDIA, on_completed=completed)
        second = await call.play_tts("again", on_completed=broken)
        await first.wait()
        await second.wait()
        await trio.sleep(2)
        assert seen == ["finished"]
        assert "broken callback" in caplog.text and call.call_id in caplog.text
        # the reader lives on: the call still works
        await (await call.play(MEDIA)).wait()


async def test_on_completed_gets_the_ended_state_event_when_the_call_ends_first(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    received: list[RelayEvent] = []
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        await call.ai(prompt={"text": "hi"}, on_completed=received.append)  # no event of its own
        await fake_call.hangup()
        ended = await call.wait_for_ended()
    assert received == [ended]
    assert isinstance(received[0], CallStateEvent)


EXTRA_SHAPES: dict[str, Callable[[Call], Any]] = {
    "calling.transfer": lambda call: call.transfer("support", extra_flag="x"),
    "calling.connect": lambda call: call.connect(
        [
            [
                {
                    "type": "phone",
                    "params": {"to_number": "+15550001111", "from_number": "+15550002222"},
                }
            ]
        ],
        extra_flag="x",
    ),
    "calling.echo": lambda call: call.echo(timeout=5, extra_flag="x"),
    "calling.bind_digit": lambda call: call.bind_digit("*1", "calling.hold", extra_flag="x"),
    "calling.clear_digit_bindings": lambda call: call.clear_digit_bindings(extra_flag="x"),
    "calling.live_transcribe": lambda call: call.live_transcribe({"stop": {}}, extra_flag="x"),
    "calling.live_translate": lambda call: call.live_translate({"stop": {}}, extra_flag="x"),
    "calling.join_room": lambda call: call.join_room("room", extra_flag="x"),
    "calling.answer": lambda call: call.answer(extra_flag="x"),
    "calling.send_fax": lambda call: call.send_fax("https://example.test/f.pdf", extra_flag="x"),
    "calling.receive_fax": lambda call: call.receive_fax(extra_flag="x"),
    "calling.pay": lambda call: call.pay("https://example.test/pay", extra_flag="x"),
    "calling.transcribe": lambda call: call.transcribe(extra_flag="x"),
    "calling.queue.enter": lambda call: call.queue_enter("line", extra_flag="x"),
}


@pytest.mark.parametrize("method", sorted(EXTRA_SHAPES))
async def test_extra_keyword_arguments_go_into_the_params(
    method: str,
    relay: RelayConnection,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with relay.inbound_calls() as calls:
            await fake_relay.inbound_call()
            call = await calls.receive()
        if method != "calling.answer":
            await call.answer()
        await EXTRA_SHAPES[method](call)
        assert last_params(fake_relay, method)["extra_flag"] == "x"


async def test_extra_arguments_of_the_remaining_methods(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """refer, leave_conference and queue_leave take extras too (they need some set-up)."""
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        joined = await call.join_conference("room-1")
        await call.leave_conference(joined["conference_id"], extra_flag="x")
        assert last_params(fake_relay, "calling.leave_conference")["extra_flag"] == "x"
        await call.queue_enter("line")
        await call.queue_leave("line", extra_flag="y")
        assert last_params(fake_relay, "calling.queue.leave")["extra_flag"] == "y"
        await call.refer({"type": "sip", "params": {"to": "sip:a@b.test"}}, extra_flag="z")
        assert last_params(fake_relay, "calling.refer")["extra_flag"] == "z"


async def test_a_named_argument_wins_over_an_extra_of_the_same_wire_name(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        await call.bind_digit("*1", "calling.hold", bind_params={"a": 1}, params={"b": 2})
        assert last_params(fake_relay, "calling.bind_digit")["params"] == {"a": 1}
        async with call.ai(ai_params={"named": True}, params={"extra": True}):
            pass
        assert last_params(fake_relay, "calling.ai")["params"] == {"named": True}


async def test_an_extra_that_is_not_json_is_refused_by_name_before_anything_is_sent(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        with pytest.raises(TypeError, match="callback"):
            await call.play(MEDIA, callback=lambda e: None)
        with pytest.raises(TypeError, match="when"):
            await call.echo(when=object())
        await trio.testing.wait_all_tasks_blocked()
        methods = fake_relay.journal.methods()
        assert "calling.play" not in methods and "calling.play.stop" not in methods
        assert "calling.echo" not in methods
        assert relay.statistics().actions == 0


async def test_play_pause_with_behavior_and_play_and_collect_pause_resume(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(120):
        fake_call, call = await answered_call(relay, fake_relay)
        long_media = [Tts(text="a long prompt " * 50)]
        play = await call.play(long_media)
        await play.pause(behavior="skip")
        assert last_params(fake_relay, "calling.play.pause") == {
            "control_id": play.control_id,
            "behavior": "skip",
        }
        assert fake_call.operations[play.control_id].paused
        await play.resume()
        await play.stop()

        prompt = await call.play_and_collect(long_media, DIGITS)
        await prompt.pause()
        assert fake_call.operations[prompt.control_id].paused
        await prompt.resume()
        assert not fake_call.operations[prompt.control_id].paused
        assert fake_relay.journal.methods().count("calling.play_and_collect.pause") == 1
        assert last_params(fake_relay, "calling.play_and_collect.resume") == {
            "control_id": prompt.control_id
        }
        await prompt.stop()


async def test_start_soon_runs_an_action_method_in_a_task(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call.play, MEDIA)
            nursery.start_soon(call.play_tts, "hello there")
        assert fake_relay.journal.methods().count("calling.play") == 2
        # await and async with are unchanged
        action = await call.play(MEDIA)
        await action.wait()
        async with call.play(MEDIA) as owned:
            pass
        assert owned.is_done
