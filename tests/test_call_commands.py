"""One-shot call commands end to end over the fake server.

Each test checks the exact params the client put on the wire (the fake's
journal) and the events that follow. Clock-driven, over the in-memory stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    Call,
    CallEndedError,
    ConferenceEvent,
    ConnectEvent,
    DenoiseEvent,
    EchoEvent,
    HoldEvent,
    Phone,
    QueueEvent,
    ReferEvent,
    RelayError,
    SendDigitsEvent,
    Tts,
)
from signalwire_relay_trio.testing import FakeCall, FakeRelay


async def answered_call(relay: Any, fake_relay: FakeRelay) -> tuple[FakeCall, Call]:
    async with relay.inbound_calls() as calls:
        fake_call = await fake_relay.inbound_call()
        call = await calls.receive()
    await call.answer()
    return fake_call, call


def sent(fake_relay: FakeRelay, method: str, call: Call) -> dict[str, Any]:
    """The params of the last ``method`` request; checks and drops the call ids."""
    params = dict(fake_relay.journal.all(method)[-1].params)
    assert params.pop("node_id") == call.node_id
    assert params.pop("call_id") == call.call_id
    return params


async def next_event(events: Any) -> Any:
    with trio.fail_after(10):
        return await events.receive()


# -- send_digits -----------------------------------------------------------------------------


async def test_send_digits_returns_its_terminal_event(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        t0 = trio.current_time()
        event = await call.send_digits("1234#")
        assert isinstance(event, SendDigitsEvent)
        assert event.state == "finished"
        # it returned once the digits were sent, not at the ack
        assert trio.current_time() - t0 == pytest.approx(0.5, abs=0.01)
        params = sent(fake_relay, "calling.send_digits", call)
        assert params == {"control_id": event.control_id, "digits": "1234#"}

        event = await call.send_digits("9", control_id="dtmf-1")
        assert event.control_id == "dtmf-1"
        with pytest.raises(ValueError):
            await call.send_digits("")
        assert relay.statistics().actions == 0


async def test_send_digits_rejected_or_interrupted(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        with pytest.raises(RelayError) as info:
            await call.send_digits("12x")  # the server refuses a bad digit
        assert info.value.code == 400 and not isinstance(info.value, CallEndedError)
        assert call.active

        async with trio.open_nursery() as nursery:

            async def hang_up_soon() -> None:
                await fake_relay.journal.wait_for(
                    "calling.send_digits", lambda e: e.params["digits"] == "123456789"
                )
                await trio.sleep(0.3)
                await fake_call.hangup()

            nursery.start_soon(hang_up_soon)
            with pytest.raises(CallEndedError):
                await call.send_digits("123456789")
        with pytest.raises(CallEndedError):
            await call.send_digits("1")


# -- hold, denoise, echo ---------------------------------------------------------------------


async def test_hold_and_unhold(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.hold") as events:
            result = await call.hold()
            assert result["code"] == "200"
            event = await next_event(events)
            assert isinstance(event, HoldEvent) and event.state == "hold"
            assert fake_call.held
            await call.unhold()
            event = await next_event(events)
            assert isinstance(event, HoldEvent) and event.state == "unhold"
            assert not fake_call.held
        assert sent(fake_relay, "calling.hold", call) == {}
        assert sent(fake_relay, "calling.unhold", call) == {}


async def test_denoise_and_denoise_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.denoise") as events:
            await call.denoise()
            event = await next_event(events)
            assert isinstance(event, DenoiseEvent) and event.denoised is True
            assert fake_call.denoised
            await call.denoise_stop()
            event = await next_event(events)
            assert isinstance(event, DenoiseEvent) and event.denoised is False
        assert sent(fake_relay, "calling.denoise", call) == {}
        assert sent(fake_relay, "calling.denoise.stop", call) == {}


async def test_echo(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.echo") as events:
            await call.echo(timeout=30, status_url="https://hooks.example.com/echo")
            event = await next_event(events)
        assert isinstance(event, EchoEvent) and event.state == "echoing"
        assert sent(fake_relay, "calling.echo", call) == {
            "timeout": 30,
            "status_url": "https://hooks.example.com/echo",
        }
        await call.echo()
        assert sent(fake_relay, "calling.echo", call) == {}


# -- transfer --------------------------------------------------------------------------------


async def test_transfer_hands_the_call_away(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        recording = await call.record()
        result = await call.transfer("https://swml.example.com/next.yaml")
        assert result["code"] == "200"
        assert sent(fake_relay, "calling.transfer", call) == {
            "dest": "https://swml.example.com/next.yaml"
        }
        assert fake_call.transferred_to == "https://swml.example.com/next.yaml"
        assert call.ended
        with pytest.raises(CallEndedError):
            await recording.wait()
        with pytest.raises(CallEndedError):
            await call.wait_for("calling.call.state")
        with pytest.raises(CallEndedError):
            await call.play_tts("still there?")
        assert await call.hangup() == {}  # no-op: the call is not ours any more
        assert fake_relay.journal.all("calling.end") == []
        assert fake_call.state == "answered"  # it lives on elsewhere
        stats = relay.statistics()
        assert stats.active_calls == 0 and stats.actions == 0


# -- connect / disconnect ----------------------------------------------------------------------


async def test_connect_bridges_then_disconnect_unbridges(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        agent = Phone(to_number="+15550002222", from_number="+15551230000", timeout=20)
        async with call.events("calling.call.connect") as events:
            result = await call.connect(
                [[agent]], ringback=[Tts(text="Connecting you")], tag="bridge-1", max_duration=600
            )
            assert result["code"] == "200"
            connecting = await next_event(events)
            connected = await next_event(events)
            assert isinstance(connecting, ConnectEvent)
            assert connecting.connect_state == "connecting"
            assert isinstance(connected, ConnectEvent)
            assert connected.connect_state == "connected"
            assert connected.peer is not None
            peer_id = connected.peer["call_id"]
            leg = fake_relay.calls[peer_id]
            assert leg.state == "answered" and leg.tag == "bridge-1"
            assert fake_call.peer is leg

            await call.disconnect()
            disconnected = await next_event(events)
            assert isinstance(disconnected, ConnectEvent)
            assert disconnected.connect_state == "disconnected"
            assert disconnected.peer is not None and disconnected.peer["call_id"] == peer_id
        assert fake_call.peer is None
        assert sent(fake_relay, "calling.connect", call) == {
            "devices": [
                [
                    {
                        "type": "phone",
                        "params": {
                            "to_number": "+15550002222",
                            "from_number": "+15551230000",
                            "timeout": 20,
                        },
                    }
                ]
            ],
            "ringback": [{"type": "tts", "params": {"text": "Connecting you"}}],
            "tag": "bridge-1",
            "max_duration": 600,
        }
        assert sent(fake_relay, "calling.disconnect", call) == {}
        assert call.active  # both legs survive a disconnect


async def test_connect_failure_and_a_disconnect_that_is_refused(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.set_dial_outcome("+15550003333", "busy", ring_time=2)
        device = {"type": "phone", "params": {"to_number": "+15550003333", "from_number": "+1555"}}
        async with call.events("calling.call.connect") as events:
            await call.connect(device)
            assert (await next_event(events)).connect_state == "connecting"
            failed = await next_event(events)
        assert isinstance(failed, ConnectEvent)
        assert failed.connect_state == "failed" and failed.failed_reason == "busy"
        params = sent(fake_relay, "calling.connect", call)
        assert params["devices"] == [[device]]
        assert isinstance(params["tag"], str) and params["tag"]  # a tag is always sent
        with pytest.raises(RelayError) as info:
            await call.disconnect()  # not connected
        assert info.value.code == 400
        assert call.active


async def test_the_bridged_leg_hanging_up_disconnects(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.connect") as events:
            await call.connect(Phone(to_number="+15550004444", from_number="+15551230000"))
            await next_event(events)
            connected = await next_event(events)
            leg = fake_relay.calls[connected.peer["call_id"]]
            await leg.hangup()
            disconnected = await next_event(events)
        assert disconnected.connect_state == "disconnected"
        assert call.active


# -- refer ----------------------------------------------------------------------------------------


async def test_refer(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        device = {"type": "sip", "params": {"to": "sip:desk@pbx.example.com"}}
        async with call.events("calling.call.refer") as events:
            await call.refer(device, status_url="https://hooks.example.com/refer")
            first = await next_event(events)
            final = await next_event(events)
        assert isinstance(first, ReferEvent) and first.state == "inProgress"
        assert isinstance(final, ReferEvent) and final.state == "success"
        assert final.sip_refer_to == "sip:desk@pbx.example.com"
        assert final.sip_notify_response_code == "200"
        assert sent(fake_relay, "calling.refer", call) == {
            "device": device,
            "status_url": "https://hooks.example.com/refer",
        }
        with pytest.raises(ValueError):
            await call.refer({"type": "phone", "params": {"to_number": "+1"}})

        fake_call.script["refer_state"] = "error"
        async with call.events("calling.call.refer") as events:
            await call.refer({"type": "sip", "to": "sip:nobody@pbx.example.com"})
            await next_event(events)
            final = await next_event(events)
        assert final.state == "error" and final.sip_notify_response_code == "500"


# -- queues -------------------------------------------------------------------------------------


async def test_queue_enter_and_leave(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.queue") as events:
            result = await call.queue_enter(
                "support", status_url="https://hooks.example.com/q", wait_url="https://m/w.mp3"
            )
            enter = sent(fake_relay, "calling.queue.enter", call)
            assert enter == {
                "queue_name": "support",
                "control_id": result["control_id"],
                "status_url": "https://hooks.example.com/q",
                "wait_url": "https://m/w.mp3",
            }
            enqueued = await next_event(events)
            assert isinstance(enqueued, QueueEvent)
            assert enqueued.status == "enqueue" and enqueued.queue_name == "support"
            assert enqueued.position == 1 and enqueued.queue_id
            assert fake_relay.queues["support"] == [fake_call]

            await call.queue_leave("support", queue_id=enqueued.queue_id)
            left = await next_event(events)
            assert isinstance(left, QueueEvent) and left.status == "leave"
        leave = sent(fake_relay, "calling.queue.leave", call)
        # the leave addresses the entry: same control_id as the enter
        assert leave == {
            "queue_name": "support",
            "control_id": enter["control_id"],
            "queue_id": enqueued.queue_id,
        }
        assert fake_relay.queues["support"] == []
        assert call.active


async def test_queue_with_explicit_control_ids_and_dequeue(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.events("calling.call.queue") as events:
            await call.queue_enter("sales", control_id="q-1")
            assert (await next_event(events)).status == "enqueue"
            await fake_call.dequeue()  # an agent takes the call
            dequeued = await next_event(events)
        assert dequeued.status == "dequeue" and dequeued.queue_name == "sales"
        assert sent(fake_relay, "calling.queue.enter", call)["control_id"] == "q-1"

        await call.queue_enter("sales", control_id="q-2")
        await call.queue_leave("sales", control_id="q-2")
        assert sent(fake_relay, "calling.queue.leave", call)["control_id"] == "q-2"


# -- conferences and rooms ------------------------------------------------------------------------


async def test_join_and_leave_conference(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        stream = {"url": "wss://conf.example.com/audio", "name": "conf-stream"}
        async with call.events("calling.conference") as events:
            result = await call.join_conference(
                "standup", muted=True, beep="onEnter", end_on_exit=True, stream_obj=stream
            )
            conference_id = result["conference_id"]
            joined = await next_event(events)
            assert isinstance(joined, ConferenceEvent)
            assert joined.status == "participant-join" and joined.name == "standup"
            assert joined.conference_id == conference_id
            assert joined.muted is True and joined.end_on_leave is True and joined.size == 1
            await call.leave_conference(conference_id)
            left = await next_event(events)
            assert left.status == "participant-leave" and left.size == 0
        assert sent(fake_relay, "calling.join_conference", call) == {
            "name": "standup",
            "muted": True,
            "beep": "onEnter",
            "end_on_exit": True,
            "stream": stream,
        }
        assert sent(fake_relay, "calling.leave_conference", call) == {
            "conference_id": conference_id
        }


async def test_join_and_leave_room(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        result = await call.join_room("war-room", status_url="https://hooks.example.com/room")
        assert result["code"] == "200" and result["call_id"] == call.call_id
        assert sent(fake_relay, "calling.join_room", call) == {
            "name": "war-room",
            "status_url": "https://hooks.example.com/room",
        }
        await call.leave_room()
        assert sent(fake_relay, "calling.leave_room", call) == {}


# -- plain acknowledged commands: exact params ----------------------------------------------------

PLAIN: list[tuple[str, Callable[[Call], Awaitable[dict[str, Any]]], str, dict[str, Any]]] = [
    (
        "bind_digit",
        lambda c: c.bind_digit(
            "*1",
            "calling.transfer",
            bind_params={"dest": "operator"},
            realm="menu",
            max_triggers=2,
        ),
        "calling.bind_digit",
        {
            "digits": "*1",
            "bind_method": "calling.transfer",
            "params": {"dest": "operator"},
            "realm": "menu",
            "max_triggers": 2,
        },
    ),
    (
        "bind_digit minimal",
        lambda c: c.bind_digit("#", "calling.play"),
        "calling.bind_digit",
        {"digits": "#", "bind_method": "calling.play"},
    ),
    (
        "clear_digit_bindings",
        lambda c: c.clear_digit_bindings(realm="menu"),
        "calling.clear_digit_bindings",
        {"realm": "menu"},
    ),
    (
        "clear_digit_bindings all",
        lambda c: c.clear_digit_bindings(),
        "calling.clear_digit_bindings",
        {},
    ),
    (
        "user_event",
        lambda c: c.user_event({"kind": "survey", "score": 9}, source="ivr"),
        "calling.user_event",
        {"event": {"kind": "survey", "score": 9}, "source": "ivr"},
    ),
    (
        "live_transcribe",
        lambda c: c.live_transcribe({"start": {"lang": "en", "direction": ["remote-caller"]}}),
        "calling.live_transcribe",
        {"action": {"start": {"lang": "en", "direction": ["remote-caller"]}}},
    ),
    (
        "live_transcribe stop",
        lambda c: c.live_transcribe("stop"),
        "calling.live_transcribe",
        {"action": "stop"},
    ),
    (
        "live_translate",
        lambda c: c.live_translate(
            {"start": {"from_lang": "en", "to_lang": "es"}},
            status_url="https://hooks.example.com/tr",
        ),
        "calling.live_translate",
        {
            "action": {"start": {"from_lang": "en", "to_lang": "es"}},
            "status_url": "https://hooks.example.com/tr",
        },
    ),
    (
        "amazon_bedrock",
        lambda c: c.amazon_bedrock(
            prompt={"text": "Be helpful"},
            SWAIG={"functions": []},
            ai_params={"temperature": 0.3},
            global_data={"account": "42"},
            post_prompt_url="https://hooks.example.com/bedrock",
        ),
        "calling.amazon_bedrock",
        {
            "prompt": {"text": "Be helpful"},
            "SWAIG": {"functions": []},
            "params": {"temperature": 0.3},
            "global_data": {"account": "42"},
            "post_prompt_url": "https://hooks.example.com/bedrock",
        },
    ),
    (
        "ai_message",
        lambda c: c.ai_message(message_text="The caller is a VIP", role="system"),
        "calling.ai_message",
        {"message_text": "The caller is a VIP", "role": "system"},
    ),
    (
        "ai_message reset",
        lambda c: c.ai_message(reset={"system_prompt": True}, global_data={"vip": True}),
        "calling.ai_message",
        {"reset": {"system_prompt": True}, "global_data": {"vip": True}},
    ),
    (
        "ai_hold",
        lambda c: c.ai_hold(timeout=30, prompt="Please hold"),
        "calling.ai_hold",
        {"timeout": "30", "prompt": "Please hold"},
    ),
    (
        "ai_unhold",
        lambda c: c.ai_unhold(prompt="Thanks for holding"),
        "calling.ai_unhold",
        {"prompt": "Thanks for holding"},
    ),
]


@pytest.mark.parametrize(("name", "command", "method", "params"), PLAIN, ids=[p[0] for p in PLAIN])
async def test_plain_commands_send_exact_params(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    name: str,
    command: Callable[[Call], Awaitable[dict[str, Any]]],
    method: str,
    params: dict[str, Any],
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        result = await command(call)
        assert result["code"] == "200"
        assert result["call_id"] == call.call_id
        assert sent(fake_relay, method, call) == params
        assert call.active


# -- refusals -------------------------------------------------------------------------------------

REFUSABLE: list[tuple[str, Callable[[Call], Awaitable[Any]]]] = [
    ("calling.hold", lambda c: c.hold()),
    ("calling.unhold", lambda c: c.unhold()),
    ("calling.denoise", lambda c: c.denoise()),
    ("calling.transfer", lambda c: c.transfer("elsewhere")),
    ("calling.connect", lambda c: c.connect(Phone(to_number="+1555", from_number="+1556"))),
    ("calling.echo", lambda c: c.echo()),
    ("calling.bind_digit", lambda c: c.bind_digit("*", "calling.play")),
    ("calling.user_event", lambda c: c.user_event("x")),
    ("calling.live_transcribe", lambda c: c.live_transcribe("stop")),
    ("calling.join_conference", lambda c: c.join_conference("c")),
    ("calling.join_room", lambda c: c.join_room("r")),
    ("calling.queue.enter", lambda c: c.queue_enter("q")),
    ("calling.amazon_bedrock", lambda c: c.amazon_bedrock()),
    ("calling.ai_message", lambda c: c.ai_message(message_text="hi")),
    ("calling.send_digits", lambda c: c.send_digits("1")),
]


@pytest.mark.parametrize(("method", "command"), REFUSABLE, ids=[r[0] for r in REFUSABLE])
async def test_a_refused_command_raises_relay_error_with_an_int_code(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    method: str,
    command: Callable[[Call], Awaitable[Any]],
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.fail_next(method, code="409", message="Conflict")
        with pytest.raises(RelayError) as info:
            await command(call)
        assert type(info.value) is RelayError
        assert info.value.code == 409 and info.value.message == "Conflict"
        assert call.active  # a refusal does not end the call


@pytest.mark.parametrize("code", ["404", "410"])
@pytest.mark.parametrize(("method", "command"), REFUSABLE, ids=[r[0] for r in REFUSABLE])
async def test_404_and_410_raise_call_ended(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    method: str,
    command: Callable[[Call], Awaitable[Any]],
    code: str,
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.fail_next(method, code=code, message="Call has ended")
        with pytest.raises(CallEndedError) as info:
            await command(call)
        assert info.value.code == int(code)
        assert call.ended
        with pytest.raises(CallEndedError):  # and it is known locally from now on
            await command(call)
        assert len(fake_relay.journal.all(method)) == 1
        assert relay.statistics().active_calls == 0


async def test_commands_on_an_ended_call_raise_without_sending(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        await fake_call.hangup()
        await call.wait_for_ended()
        before = len(fake_relay.journal.methods())
        for _method, command in REFUSABLE:
            with pytest.raises(CallEndedError):
                await command(call)
        assert len(fake_relay.journal.methods()) == before
        assert await call.hangup() == {}
