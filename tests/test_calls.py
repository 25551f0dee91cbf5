"""Calls against the fake server: inbound, serve(), dial, waits and events."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    CALL_STATE_ANSWERED,
    EVENT_CALL_STATE,
    Call,
    CallEndedError,
    CallState,
    CallStateEvent,
    DialError,
    EventOverflowError,
    Phone,
    RelayEvent,
    open_relay,
)
from signalwire_relay_trio.testing import FakeRelay


async def receive_call(relay, fake_relay: FakeRelay, **kwargs):
    async with relay.inbound_calls() as calls:
        fake_call = await fake_relay.inbound_call(**kwargs)
        call = await calls.receive()
    return fake_call, call


async def test_inbound_call_answered_then_we_hang_up(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay, from_number="+15550001111")
        assert isinstance(call, Call)
        assert call.call_id == fake_call.call_id
        assert call.node_id == fake_call.node_id
        assert call.context == "office"
        assert call.direction == "inbound"
        assert call.device["params"]["from_number"] == "+15550001111"
        assert call.state is CallState.CREATED
        assert call.project_id == fake_relay.project

        await call.answer()
        assert call.state == CALL_STATE_ANSWERED  # kept current before answer() returns
        assert fake_call.state == "answered"

        await call.hangup("busy")
        ended = await call.wait_for_ended()
        assert isinstance(ended, CallStateEvent)
        assert ended.call_state is CallState.ENDED
        assert ended.end_reason == "busy"
        assert call.state is CallState.ENDED
        (end,) = fake_relay.journal.find("calling.end")
        assert end.params == {
            "node_id": call.node_id,
            "call_id": call.call_id,
            "reason": "busy",
        }
        assert relay.statistics().active_calls == 0


async def test_caller_hangs_up(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay)
        await call.answer()
        await fake_call.hangup()
        ended = await call.wait_for_ended()
        assert ended.end_reason == "hangup"
        with pytest.raises(CallEndedError):
            await call.answer()
        with pytest.raises(CallEndedError):
            await call.wait_for(EVENT_CALL_STATE)
        assert await call.hangup() == {}  # a no-op on an ended call
        assert fake_relay.journal.methods().count("calling.end") == 0


async def test_waits_raise_when_the_call_ends_under_them(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fake_call.hangup)
            with pytest.raises(CallEndedError):
                await call.wait_for_answered()
        # ended is reached, so this returns immediately
        assert (await call.wait_for_ended()).call_state is CallState.ENDED
        assert (await call.wait_for_ending()).call_state is CallState.ENDING


async def test_wait_for_with_predicate_and_timeout(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        _fake_call, call = await receive_call(relay, fake_relay)
        with pytest.raises(trio.TooSlowError):
            await call.wait_for(EVENT_CALL_STATE, timeout=1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call.answer)
            event = await call.wait_for(
                EVENT_CALL_STATE, lambda e: e.params.get("call_state") == "answered"
            )
        assert event.params["call_state"] == "answered"
        assert await call.wait_for_answered() is not None
        assert (await call.wait_for_ringing()).call_state is CallState.ANSWERED


async def test_answer_of_a_gone_call_raises_call_ended(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        _fake_call, call = await receive_call(relay, fake_relay)
        fake_relay.fail_next("calling.answer", code="410", message="Call has ended")
        with pytest.raises(CallEndedError) as info:
            await call.answer()
        assert info.value.code == 410
        assert call.ended
        assert (await call.wait_for_ended()).call_state is CallState.ENDED


async def test_on_handlers_sync_and_async(relay, fake_relay, autojump_clock) -> None:
    seen_sync: list[str] = []
    seen_async: list[str] = []

    async def record_async(event: RelayEvent) -> None:
        await trio.sleep(1)
        seen_async.append(event.params["call_state"])

    with trio.fail_after(30):
        _fake_call, call = await receive_call(relay, fake_relay)
        call.on(EVENT_CALL_STATE, lambda e: seen_sync.append(e.params["call_state"]))
        call.on(EVENT_CALL_STATE, record_async)
        call.on(EVENT_CALL_STATE, lambda e: 1 / 0)  # a broken listener is logged, not fatal
        await call.answer()
        await call.hangup()
        await call.wait_for_ended()
        await trio.sleep(5)
    assert seen_sync == ["answered", "ending", "ended"]
    assert sorted(seen_async) == ["answered", "ended", "ending"]


async def test_events_stream_ends_with_the_call(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay)
        states = []
        async with call.events(EVENT_CALL_STATE) as events:
            await call.answer()
            await fake_call.hangup()
            async for event in events:
                states.append(event.params["call_state"])
        assert states == ["answered", "ending", "ended"]


async def test_slow_subscriber_overflows_alone(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay)
        async with call.events(max_buffer=1) as slow, call.events() as fast:
            await call.answer()
            await fake_call.hangup()
            await call.wait_for_ended()
            assert call.state is CallState.ENDED  # the call itself saw everything
            fast_events = [event async for event in fast]
            assert [e.params["call_state"] for e in fast_events] == [
                "answered",
                "ending",
                "ended",
            ]
            await slow.receive()  # the one buffered event
            with pytest.raises(EventOverflowError):
                await slow.receive()


async def test_slow_consumer_on_one_call_does_not_delay_another(
    relay, fake_relay, autojump_clock
) -> None:
    """A call whose handler never reads does not hold up another call's events."""
    with trio.fail_after(30):
        _first_fake, first = await receive_call(relay, fake_relay)
        second_fake, second = await receive_call(relay, fake_relay)
        async with first.events(max_buffer=1):  # subscribed, never read
            for _ in range(3):
                await first.answer()  # a stream of events nobody consumes
            start = trio.current_time()
            await second.answer()
            await second_fake.hangup()
            await second.wait_for_ended()
            assert trio.current_time() - start < 1


async def test_serve_runs_each_call_in_its_own_task(
    relay, fake_relay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")
    handled: list[str] = []

    async def handler(call: Call) -> None:
        await call.answer()
        if call.device["params"]["from_number"] == "+15550000666":
            raise RuntimeError("boom in one handler")
        handled.append(call.call_id)
        await call.wait_for_ended()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            good = await fake_relay.inbound_call(from_number="+15550000001")
            bad = await fake_relay.inbound_call(from_number="+15550000666")
            await bad.wait_for_state("ended")
            assert bad.end_reason == "hangup"  # the failing call was hung up
            await good.wait_for_state("answered")
            assert good.state == "answered"  # the other call goes on
            await good.hangup()
            await good.wait_for_state("ended")
            nursery.cancel_scope.cancel()
    assert handled == [good.call_id]
    assert bad.call_id in caplog.text and "boom in one handler" in caplog.text


async def test_serve_hangs_up_when_the_handler_returns(relay, fake_relay, autojump_clock) -> None:
    async def handler(call: Call) -> None:
        await call.answer()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            fake_call = await fake_relay.inbound_call()
            await fake_call.wait_for_state("ended")
            nursery.cancel_scope.cancel()


async def test_serve_treats_call_ended_as_a_normal_end(
    relay, fake_relay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")

    async def handler(call: Call) -> None:
        await call.answer()
        await call.wait_for(EVENT_CALL_STATE, lambda e: False)  # raises when the call ends

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            fake_call = await fake_relay.inbound_call()
            await fake_call.wait_for_state("answered")
            await fake_call.hangup()
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_max_active_calls_passes_extra_calls(fake_relay, autojump_clock) -> None:
    kwargs = fake_relay.connect_kwargs(max_active_calls=1)
    with trio.fail_after(30):
        async with open_relay(**kwargs) as relay, relay.inbound_calls() as calls:
            await fake_relay.inbound_call()
            first = await calls.receive()
            extra = await fake_relay.inbound_call()
            await extra.wait_for_command("calling.pass")
            assert first.active
            with trio.move_on_after(1):
                await calls.receive()
                pytest.fail("the extra call must not be handed out")  # pragma: no cover


async def test_pass_releases_the_call(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay)
        await call.pass_()
        assert fake_call.passed_by
        with pytest.raises(CallEndedError):
            await call.answer()
        assert relay.statistics().active_calls == 0


async def test_dial_answered(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(200):
        call = await relay.dial(Phone(to_number="+15553330000", from_number="+15551230000"))
        assert call.state is CallState.ANSWERED
        assert call.direction == "outbound"
        fake_call = await fake_relay.wait_for_dialed_call()
        assert fake_call.call_id == call.call_id
        (dial,) = fake_relay.journal.find("calling.dial")
        assert dial.params["devices"] == [
            [
                {
                    "type": "phone",
                    "params": {"to_number": "+15553330000", "from_number": "+15551230000"},
                }
            ]
        ]
        assert dial.params["tag"] == call.tag
        await call.hangup()
        await call.wait_for_ended()


async def test_dial_parallel_first_answer_wins(relay, fake_relay, autojump_clock) -> None:
    fake_relay.set_dial_outcome("+15553330000", "answer", ring_time=3)
    fake_relay.set_dial_outcome("+15553330001", "answer", ring_time=1)
    with trio.fail_after(200):
        call = await relay.dial(
            [
                [
                    Phone(to_number="+15553330000", from_number="+15551230000"),
                    {
                        "type": "phone",
                        "params": {"to_number": "+15553330001", "from_number": "+15551230000"},
                    },
                ]
            ]
        )
        assert call.device["params"]["to_number"] == "+15553330001"
        assert relay.statistics().active_calls == 1  # the losing leg ended and was dropped


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("busy", "busy"), ("no_answer", "noAnswer"), ("failure", "error")],
)
async def test_dial_failures_raise_dial_error(
    relay, fake_relay, outcome, reason, autojump_clock
) -> None:
    fake_relay.set_dial_outcome("+15553330000", outcome)
    with trio.fail_after(200), pytest.raises(DialError) as info:
        await relay.dial([{"type": "phone", "to_number": "+15553330000", "from_number": "+1555"}])
    assert info.value.reason == reason
    assert relay.statistics().dials == 0
    assert relay.statistics().active_calls == 0


async def test_dial_serial_groups_fall_back(relay, fake_relay, autojump_clock) -> None:
    fake_relay.set_dial_outcome("+15553330000", "busy")
    with trio.fail_after(200):
        call = await relay.dial(
            [
                [Phone(to_number="+15553330000", from_number="+15551230000")],
                [Phone(to_number="+15553339999", from_number="+15551230000")],
            ]
        )
    assert call.device["params"]["to_number"] == "+15553339999"


async def test_dial_rejected_raises_dial_error(relay, fake_relay, autojump_clock) -> None:
    fake_relay.fail_next("calling.dial", code="400", message="Invalid devices")
    with trio.fail_after(30), pytest.raises(DialError) as info:
        await relay.dial(Phone(to_number="+15553330000", from_number="+15551230000"))
    assert info.value.code == 400
    assert relay.statistics().dials == 0


async def test_dial_timeout_hangs_up_a_leg_that_answers_later(
    relay, fake_relay, autojump_clock
) -> None:
    fake_relay.set_dial_outcome("+15553330000", "answer", ring_time=20)
    with trio.fail_after(200):
        with pytest.raises(trio.TooSlowError):
            await relay.dial(
                Phone(to_number="+15553330000", from_number="+15551230000"), dial_timeout=5
            )
        leg = await fake_relay.wait_for_dialed_call()
        await leg.wait_for_state("ended")
        (end,) = fake_relay.journal.find("calling.end")
        assert end.params["call_id"] == leg.call_id
        await trio.sleep(1)
        assert relay.statistics().dials == 0


async def test_cancelled_dial_leaves_no_orphan(relay, fake_relay, autojump_clock) -> None:
    fake_relay.set_dial_outcome("+15553330000", "answer", ring_time=10)
    with trio.fail_after(200):
        with trio.move_on_after(5):
            await relay.dial(Phone(to_number="+15553330000", from_number="+15551230000"))
        leg = await fake_relay.wait_for_dialed_call()
        await leg.wait_for_state("ended")
        assert leg.end_reason == "hangup"


async def test_state_waits_keep_only_the_ended_event(relay, fake_relay, autojump_clock) -> None:
    """A live wait returns the event as it came; a passed state is rebuilt from the call."""
    with trio.fail_after(30):
        fake_call, call = await receive_call(relay, fake_relay, from_number="+15550002222")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call.answer)
            live = await call.wait_for_answered()
        assert live.params["call_state"] == "answered"
        assert live.event_channel is not None  # only a real event has the envelope

        later = await call.wait_for_answered()
        assert later is not live
        assert later.call_state is CallState.ANSWERED
        assert later.event_channel is None
        assert (later.call_id, later.node_id) == (call.call_id, call.node_id)
        assert later.params["call_state"] == "answered"
        assert later.params["direction"] == "inbound"
        assert later.device is not None
        assert later.device["params"]["from_number"] == "+15550002222"
        assert later.end_reason is None

        await fake_call.hangup()
        ended = await call.wait_for_ended()
        assert ended.event_channel is not None
        assert ended.end_reason == "hangup"
        assert await call.wait_for_ended() is ended
        rebuilt = await call.wait_for_answered()  # still answered once, after the end
        assert rebuilt.call_state is CallState.ANSWERED


async def test_calls_share_repeated_facts(relay, fake_relay, autojump_clock) -> None:
    """Values many calls repeat are one object; each call's values stay equal to the wire's."""
    with trio.fail_after(30):
        _, first = await receive_call(relay, fake_relay, from_number="+15550003333")
        _, second = await receive_call(relay, fake_relay, from_number="+15550004444")
        assert first.context == second.context == "office"
        assert first.context is second.context
        assert first.direction is second.direction
        assert first.project_id is second.project_id
        assert first.device["params"]["to_number"] is second.device["params"]["to_number"]
        assert first.device["params"]["from_number"] == "+15550003333"
        assert second.device["params"]["from_number"] == "+15550004444"
        await first.answer()
        assert first.device["params"]["from_number"] == "+15550003333"  # kept across events


async def test_a_control_id_in_use_is_refused(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(30):
        _, call = await receive_call(relay, fake_relay)
        await call.answer()
        await call.record(audio={}, control_id="rec-1")
        with pytest.raises(ValueError, match="rec-1"):
            await call.record(audio={}, control_id="rec-1")


async def test_stopped_serve_takes_no_more_calls(relay, fake_relay, autojump_clock) -> None:
    """Handlers start straight from the reader, and a cancelled serve() unregisters."""
    names: list[str] = []

    async def handler(call: Call) -> None:
        names.append(trio.lowlevel.current_task().name)
        await call.answer()
        await call.wait_for_ended()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            assert relay.statistics().inbound_consumers == 1
            served = await fake_relay.inbound_call()
            await served.wait_for_state("answered")
            nursery.cancel_scope.cancel()  # the running handler is cancelled and hangs up
        assert names == [f"call {served.call_id}"]
        await served.wait_for_state("ended")
        assert relay.statistics().inbound_consumers == 0
        late = await fake_relay.inbound_call()
        await late.wait_for_command("calling.pass")
