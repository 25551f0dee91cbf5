"""Actions end to end over the fake server: every action method, both forms, every control.

Each test runs on the autojump clock over the fake's in-memory stream, so
a 30-second recording costs no wall time. Nothing of our transport is
mocked: the fake speaks the real protocol, and the journal shows what the
client put on the wire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    Action,
    ActionStart,
    AIAction,
    Audio,
    Call,
    CallEndedError,
    CollectAction,
    CollectEvent,
    DetectAction,
    DetectEvent,
    DigitDetect,
    Digits,
    FaxAction,
    FaxDetect,
    FaxEvent,
    MachineDetect,
    PayAction,
    PayEvent,
    PlayAction,
    PlayEvent,
    RecordAction,
    RecordAudio,
    RecordEvent,
    RelayError,
    RelayEvent,
    Ringtone,
    RtpDevice,
    Silence,
    Speech,
    StandaloneCollectAction,
    StreamAction,
    StreamEvent,
    TapAction,
    TapAudio,
    TapEvent,
    TranscribeAction,
    TranscribeEvent,
    Tts,
    WsDevice,
)
from signalwire_relay_trio.testing import FakeCall, FakeRelay

AUDIO_URL = "https://cdn.example.com/hold-music.mp3"
DOCUMENT = "https://docs.example.com/invoice.pdf"
PAY_URL = "https://pay.example.com/connector"
STREAM_URL = "wss://stream.example.com/audio"
RTP = RtpDevice(addr="192.0.2.50", port=4000)


async def control_then_state(
    call: Call, control: Callable[[], Awaitable[Any]], event_type: str, state: str
) -> RelayEvent:
    """Send a control and return the event that reports ``state``.

    The subscription starts before the control is sent: the server may send
    the ack and the event together, and a wait started after the ack would
    miss it.
    """
    async with call.events(event_type) as events:
        await control()
        async for event in events:
            if event.params.get("state") == state:
                return event
    raise AssertionError(f"the call ended before {event_type} {state}")


async def answered_call(relay: Any, fake_relay: FakeRelay) -> tuple[FakeCall, Call]:
    """An inbound call, answered; returns (the fake's side, our side)."""
    async with relay.inbound_calls() as calls:
        fake_call = await fake_relay.inbound_call()
        call = await calls.receive()
    await call.answer()
    return fake_call, call


def stops(fake_relay: FakeRelay, prefix: str) -> list[str]:
    """The control_ids of every ``calling.<prefix>.stop`` the client sent."""
    return [e.params["control_id"] for e in fake_relay.journal.all(f"calling.{prefix}.stop")]


def started(fake_relay: FakeRelay, method: str) -> dict[str, Any]:
    """The params of the last ``method`` request, without the call ids."""
    params = dict(fake_relay.journal.all(method)[-1].params)
    for key in ("node_id", "call_id"):
        params.pop(key)
    return params


def assert_clean(relay: Any, fake_relay: FakeRelay) -> None:
    """Nothing pending, no action registered, no error inside the fake."""
    stats = relay.statistics()
    assert stats.actions == 0, stats
    assert stats.pending_requests == 0, stats
    assert fake_relay.internal_errors == []


# -- one table of every action method ----------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One action method: how to start it, how it ends, what its terminal event holds."""

    name: str
    start: Callable[[Call], ActionStart[Any]]
    action_class: type[Action[Any]]
    method: str  # the start command
    prefix: str  # calling.<prefix>.stop
    #: Drives the operation to its natural end (None: it only ends when stopped).
    finish: Callable[[FakeCall], Awaitable[None]] | None
    #: Checks the terminal event (None: the kind has none, like ai).
    check: Callable[[Any], None] | None

    @property
    def resolves_early(self) -> bool:
        """A detector resolves on its first result and runs on until it finishes."""
        return self.action_class is DetectAction


def pressing(digits: str) -> Callable[[FakeCall], Awaitable[None]]:
    async def finish(fake_call: FakeCall) -> None:
        await fake_call.press(digits)

    return finish


async def plays_out(fake_call: FakeCall) -> None:
    """Nothing to do: the operation ends on the fake's clock."""


def check_play(event: Any) -> None:
    assert isinstance(event, PlayEvent)
    assert event.state == "finished"


def check_digits(expected: str, terminator: str = "") -> Callable[[Any], None]:
    def check(event: Any) -> None:
        assert isinstance(event, CollectEvent)
        assert event.result_type == "digit"
        assert event.digits == expected
        assert event.terminator == terminator

    return check


def check_detect(expected: str) -> Callable[[Any], None]:
    def check(event: Any) -> None:
        assert isinstance(event, DetectEvent)
        assert event.detect_event == expected

    return check


def check_record(event: Any) -> None:
    assert isinstance(event, RecordEvent)
    assert event.state == "finished"
    assert event.url and event.url.startswith("https://")
    assert event.duration == 4.0  # the caller speaks 3 s, then 1 s of silence ends it
    assert event.size == 64000


def check_fax(direction: str) -> Callable[[Any], None]:
    def check(event: Any) -> None:
        assert isinstance(event, FaxEvent)
        assert event.fax_type == "finished"
        assert event.direction == direction
        assert event.pages == 2
        assert event.success is True

    return check


def check_pay(event: Any) -> None:
    assert isinstance(event, PayEvent)
    assert event.for_ == "payment-completed"
    assert event.result == "success"
    assert event.payment_token and event.payment_confirmation_code


def check_state_finished(event_class: type[Any]) -> Callable[[Any], None]:
    def check(event: Any) -> None:
        assert isinstance(event, event_class)
        assert event.state == "finished"

    return check


KINDS = [
    Kind(
        "play",
        lambda c: c.play([Tts(text="Hello there")]),
        PlayAction,
        "calling.play",
        "play",
        plays_out,
        check_play,
    ),
    Kind(
        "play_tts",
        lambda c: c.play_tts("Hello there", voice="Polly.Joanna"),
        PlayAction,
        "calling.play",
        "play",
        plays_out,
        check_play,
    ),
    Kind(
        "play_audio",
        lambda c: c.play_audio(AUDIO_URL),
        PlayAction,
        "calling.play",
        "play",
        plays_out,
        check_play,
    ),
    Kind(
        "play_silence",
        lambda c: c.play_silence(2),
        PlayAction,
        "calling.play",
        "play",
        plays_out,
        check_play,
    ),
    Kind(
        "play_ringtone",
        lambda c: c.play_ringtone("us", duration=2),
        PlayAction,
        "calling.play",
        "play",
        plays_out,
        check_play,
    ),
    Kind(
        "record",
        lambda c: c.record(RecordAudio(beep=True, end_silence_timeout=1)),
        RecordAction,
        "calling.record",
        "record",
        plays_out,
        check_record,
    ),
    Kind(
        "play_and_collect",
        lambda c: c.play_and_collect([Tts(text="Press a key")], Digits(max=1)),
        CollectAction,
        "calling.play_and_collect",
        "play_and_collect",
        pressing("7"),
        check_digits("7"),
    ),
    Kind(
        "prompt_tts",
        lambda c: c.prompt_tts("Your PIN, then hash", Digits(max=4, terminators="#")),
        CollectAction,
        "calling.play_and_collect",
        "play_and_collect",
        pressing("12#"),
        check_digits("12", "#"),
    ),
    Kind(
        "prompt_audio",
        lambda c: c.prompt_audio(AUDIO_URL, Digits(max=2)),
        CollectAction,
        "calling.play_and_collect",
        "play_and_collect",
        pressing("42"),
        check_digits("42"),
    ),
    Kind(
        "collect",
        lambda c: c.collect(digits=Digits(max=2)),
        StandaloneCollectAction,
        "calling.collect",
        "collect",
        pressing("12"),
        check_digits("12"),
    ),
    Kind(
        "detect",
        lambda c: c.detect(MachineDetect()),
        DetectAction,
        "calling.detect",
        "detect",
        plays_out,
        check_detect("HUMAN"),
    ),
    Kind(
        "detect_answering_machine",
        lambda c: c.detect_answering_machine(initial_timeout=4.5),
        DetectAction,
        "calling.detect",
        "detect",
        plays_out,
        check_detect("HUMAN"),
    ),
    Kind(
        "detect_fax",
        lambda c: c.detect_fax(tone="CNG"),
        DetectAction,
        "calling.detect",
        "detect",
        plays_out,
        check_detect("CNG"),
    ),
    Kind(
        "detect_digit",
        lambda c: c.detect_digit(digits="123"),
        DetectAction,
        "calling.detect",
        "detect",
        pressing("2"),
        check_detect("2"),
    ),
    Kind(
        "tap",
        lambda c: c.tap(TapAudio(direction="speak"), RTP),
        TapAction,
        "calling.tap",
        "tap",
        None,
        check_state_finished(TapEvent),
    ),
    Kind(
        "stream",
        lambda c: c.stream(STREAM_URL, name="s1"),
        StreamAction,
        "calling.stream",
        "stream",
        None,
        check_state_finished(StreamEvent),
    ),
    Kind(
        "send_fax",
        lambda c: c.send_fax(DOCUMENT),
        FaxAction,
        "calling.send_fax",
        "send_fax",
        plays_out,
        check_fax("send"),
    ),
    Kind(
        "receive_fax",
        lambda c: c.receive_fax(),
        FaxAction,
        "calling.receive_fax",
        "receive_fax",
        plays_out,
        check_fax("receive"),
    ),
    Kind(
        "pay",
        lambda c: c.pay(PAY_URL, charge_amount=9.99),
        PayAction,
        "calling.pay",
        "pay",
        plays_out,
        check_pay,
    ),
    Kind(
        "transcribe",
        lambda c: c.transcribe(),
        TranscribeAction,
        "calling.transcribe",
        "transcribe",
        None,
        check_state_finished(TranscribeEvent),
    ),
    Kind(
        "ai",
        lambda c: c.ai(agent="receptionist", prompt={"text": "Be brief."}),
        AIAction,
        "calling.ai",
        "ai",
        None,
        None,
    ),
]
KIND_IDS = [kind.name for kind in KINDS]


async def run_to_the_end(kind: Kind, fake_call: FakeCall, action: Action[Any]) -> Any:
    """Drive ``action`` to its terminal event and return what ``wait()`` gives."""
    if kind.finish is not None:
        await kind.finish(fake_call)
    else:
        await action.stop()
    return await action.wait()


def assert_terminal(kind: Kind, action: Action[Any], event: Any) -> None:
    assert action.is_done
    if kind.check is None:  # ai: no lifecycle event, settled locally by the stop
        assert event is None
        assert action.result is None
        assert not action.completed
    else:
        kind.check(event)
        assert action.result is event
        assert action.completed


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_await_form_runs_to_the_terminal_event(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, kind: Kind
) -> None:
    """``action = await call.x(...)`` returns once acked; ``wait()`` gives the terminal event."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        action = await kind.start(call)
        assert isinstance(action, kind.action_class)
        assert action.call is call
        assert not action.is_done
        assert not action.completed and action.result is None
        op = fake_call.operations[action.control_id]  # acked: the fake runs it
        assert started(fake_relay, kind.method)["control_id"] == action.control_id
        assert relay.statistics().actions == 1
        event = await run_to_the_end(kind, fake_call, action)
        assert_terminal(kind, action, event)
        # a detector resolves on its first result and reports on until it finishes
        await op.wait_done()
        if kind.finish is not None:
            assert stops(fake_relay, kind.prefix) == []  # it ended by itself
            assert op.stopped_by is None
        else:
            assert stops(fake_relay, kind.prefix) == [action.control_id]
            assert op.stopped_by == "stop"
        assert_clean(relay, fake_relay)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_async_with_form_runs_to_the_terminal_event(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, kind: Kind
) -> None:
    """``async with call.x(...) as action``: the block owns it; a finished one is not stopped."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with kind.start(call) as action:
            assert isinstance(action, kind.action_class)
            assert fake_call.operations[action.control_id].state not in ("new", "ended")
            event = await run_to_the_end(kind, fake_call, action)
        assert_terminal(kind, action, event)
        # no second stop at exit; a detector still running after its result is stopped
        stopped = kind.finish is None or kind.resolves_early
        expected_stops = [action.control_id] if stopped else []
        assert stops(fake_relay, kind.prefix) == expected_stops
        assert_clean(relay, fake_relay)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_leaving_async_with_by_cancellation_stops_the_operation(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, kind: Kind
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        with trio.move_on_after(0.1) as scope:
            async with kind.start(call) as action:
                await trio.sleep_forever()
        assert scope.cancelled_caught
        assert action.is_done
        (start,) = fake_relay.journal.all(kind.method)
        assert stops(fake_relay, kind.prefix) == [start.params["control_id"]]
        assert action.control_id == start.params["control_id"]
        op = fake_call.operations[action.control_id]
        assert op.done and op.stopped_by == "stop"
        if kind.check is not None:  # the stop's terminal event arrived within the grace
            assert action.result is not None
        assert_clean(relay, fake_relay)


class Boom(Exception):
    pass


@pytest.mark.parametrize("by_exception", [False, True], ids=["normally", "by-exception"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_leaving_async_with_stops_a_running_operation(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    kind: Kind,
    by_exception: bool,
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        try:
            async with kind.start(call) as action:
                if by_exception:
                    raise Boom
        except Boom:
            assert by_exception  # the body's exception passes through untouched
        else:
            assert not by_exception
        assert action.is_done
        assert stops(fake_relay, kind.prefix) == [action.control_id]
        assert fake_call.operations[action.control_id].stopped_by == "stop"
        assert_clean(relay, fake_relay)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_a_hang_up_settles_every_kind(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, kind: Kind
) -> None:
    """No wait ever hangs on a dead call: it returns a final event or raises CallEndedError."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["record_finalize_on_hangup"] = False
        action = await kind.start(call)
        await fake_call.hangup()
        with pytest.raises(CallEndedError):
            await action.wait()
        assert action.is_done and not action.completed and action.result is None
        assert await action.stop() == {}  # a no-op now
        assert stops(fake_relay, kind.prefix) == []
        assert_clean(relay, fake_relay)


# -- play and its controls ------------------------------------------------------------------


async def test_play_pause_resume_volume_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        t0 = trio.current_time()
        action = await call.play(Audio(url=AUDIO_URL), volume=2)  # 3 s of audio
        op = fake_call.operations[action.control_id]
        assert op.volume == 2.0
        await trio.sleep(1)
        assert action.state == "playing"
        pause_ack: list[dict[str, Any]] = []

        async def pause() -> None:
            pause_ack.append(await action.pause())

        await control_then_state(call, pause, "calling.call.play", "paused")
        assert pause_ack[0]["code"] == "200"
        assert op.paused and action.state == "paused"
        await trio.sleep(10)  # the media clock is frozen while paused
        assert not action.is_done
        await control_then_state(call, action.resume, "calling.call.play", "playing")
        assert not op.paused and action.state == "playing"
        await action.volume(-6.5)
        await trio.testing.wait_all_tasks_blocked()
        assert op.volume == -6.5
        event = await action.wait()
        assert event is not None and event.state == "finished"
        assert trio.current_time() - t0 == pytest.approx(13, abs=0.01)
        assert [e.params["state"] for e in action.events] == [
            "playing",
            "paused",
            "playing",
            "finished",
        ]
        pause, resume, volume = (
            started(fake_relay, m)
            for m in ("calling.play.pause", "calling.play.resume", "calling.play.volume")
        )
        assert pause == resume == {"control_id": action.control_id}
        assert volume == {"control_id": action.control_id, "volume": -6.5}

        # stop() ends a second one early, with its terminal event
        second = await call.play_silence(30)
        result = await second.stop()
        assert result["code"] == "200"
        assert second.is_done and second.completed
        assert second.result is not None and second.result.state == "finished"
        assert fake_call.operations[second.control_id].stopped_by == "stop"
        assert trio.current_time() - t0 < 20
        assert_clean(relay, fake_relay)


async def test_play_error_is_terminal(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.broken_urls.add(AUDIO_URL)
        action = await call.play_audio(AUDIO_URL)
        event = await action.wait()
        assert event is not None and event.state == "error"
        assert action.completed


async def test_play_conveniences_send_the_right_media(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        expected = [
            (
                call.play_tts("Hi", language="en-US", gender="female", volume=3),
                [
                    {
                        "type": "tts",
                        "params": {"text": "Hi", "language": "en-US", "gender": "female"},
                    }
                ],
                {"volume": 3},
            ),
            (
                call.play_audio(AUDIO_URL),
                [{"type": "audio", "params": {"url": AUDIO_URL}}],
                {},
            ),
            (call.play_silence(1.5), [{"type": "silence", "params": {"duration": 1.5}}], {}),
            (
                call.play_ringtone("uk", duration=2, volume=-3),
                [{"type": "ringtone", "params": {"name": "uk", "duration": 2}}],
                {"volume": -3},
            ),
            (call.play_ringtone("us"), [{"type": "ringtone", "params": {"name": "us"}}], {}),
        ]
        for start, media, extra in expected:
            action = await start
            assert started(fake_relay, "calling.play") == {
                "play": media,
                **extra,
                "control_id": action.control_id,
            }
            await action.wait()
        t0 = trio.current_time()
        await (await call.play_silence(4)).wait()
        assert trio.current_time() - t0 == pytest.approx(4, abs=0.01)


# -- wire forms: raw dicts, the flat tts form and typed builders give the same frames ----------


async def test_raw_dicts_flat_tts_and_builders_give_the_same_frames(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    def last(method: str) -> dict[str, Any]:
        params = started(fake_relay, method)
        params.pop("control_id")
        return params

    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        nested_tts = {"type": "tts", "params": {"text": "Welcome"}}

        # play: the reference's flat tts form, nested dicts, builders, a lone item
        frames = []
        for media in (
            [{"type": "tts", "text": "Welcome"}],
            [nested_tts],
            [Tts(text="Welcome")],
            Tts(text="Welcome"),
            {"type": "tts", "text": "Welcome"},
        ):
            async with call.play(media):
                pass
            frames.append(last("calling.play"))
        assert frames == [{"play": [nested_tts]}] * 5

        mixed = [
            {"type": "audio", "url": AUDIO_URL},
            {"type": "silence", "params": {"duration": 1}},
            Ringtone(name="fr", duration=1.5),
        ]
        nested_items = [
            {"type": "audio", "params": {"url": AUDIO_URL}},
            {"type": "silence", "params": {"duration": 1}},
            {"type": "ringtone", "params": {"name": "fr", "duration": 1.5}},
        ]
        async with call.play(mixed, volume=-2, loop=2):
            pass
        assert last("calling.play") == {"play": nested_items, "volume": -2, "loop": 2}
        builders = [Audio(url=AUDIO_URL), Silence(duration=1), Ringtone("fr", 1.5)]
        async with call.play(builders, volume=-2, loop=2):
            pass
        assert last("calling.play") == {"play": nested_items, "volume": -2, "loop": 2}

        # record
        audio = {"beep": True, "format": "wav", "stereo": True, "terminators": "#"}
        for form in (audio, RecordAudio(beep=True, format="wav", stereo=True, terminators="#")):
            async with call.record(form):
                pass
            assert last("calling.record") == {"record": {"audio": audio}}
        async with call.record():
            pass
        assert last("calling.record") == {"record": {"audio": {}}}

        # play_and_collect: Digits / Speech builders and the reference's dict
        collect = {"digits": {"max": 3, "digit_timeout": 2, "terminators": "#"}}
        for form in (collect, Digits(max=3, digit_timeout=2, terminators="#")):
            async with call.play_and_collect([{"type": "tts", "text": "PIN?"}], form):
                pass
            assert last("calling.play_and_collect") == {
                "play": [{"type": "tts", "params": {"text": "PIN?"}}],
                "collect": collect,
            }
        speech = {"speech": {"hints": ["sales", "support"], "language": "en-US"}}
        for form in (speech, Speech(hints=["sales", "support"], language="en-US")):
            async with call.play_and_collect(Tts(text="Say it"), form):
                pass
            assert last("calling.play_and_collect")["collect"] == speech

        # collect: flat on the wire
        for digits in ({"max": 4, "terminators": "*"}, Digits(max=4, terminators="*")):
            async with call.collect(
                digits=digits,
                speech=Speech(end_silence_timeout=1),
                initial_timeout=4,
                partial_results=True,
                send_start_of_input=True,
            ):
                pass
            assert last("calling.collect") == {
                "digits": {"max": 4, "terminators": "*"},
                "speech": {"end_silence_timeout": 1},
                "initial_timeout": 4,
                "partial_results": True,
                "send_start_of_input": True,
            }

        # detect: builders, nested dicts and their flat form
        machine = {"type": "machine", "params": {"initial_timeout": 3, "detect_message_end": True}}
        for form in (
            machine,
            {"type": "machine", "initial_timeout": 3, "detect_message_end": True},
            MachineDetect(initial_timeout=3, detect_message_end=True),
        ):
            async with call.detect(form, timeout=20):
                pass
            assert last("calling.detect") == {"detect": machine, "timeout": 20}
        async with call.detect_fax():
            pass
        assert last("calling.detect") == {"detect": {"type": "fax", "params": {}}}
        async with call.detect(FaxDetect(tone="CED")):
            pass
        assert last("calling.detect") == {"detect": {"type": "fax", "params": {"tone": "CED"}}}
        async with call.detect(DigitDetect(digits="12")):
            pass
        assert last("calling.detect") == {"detect": {"type": "digit", "params": {"digits": "12"}}}

        # tap: builders and dicts
        tap_wire = {
            "tap": {"type": "audio", "params": {"direction": "listen"}},
            "device": {"type": "ws", "params": {"uri": "wss://tap.example.com", "rate": 8000}},
        }
        for tap, device in (
            (tap_wire["tap"], tap_wire["device"]),
            (TapAudio(direction="listen"), WsDevice(uri="wss://tap.example.com", rate=8000)),
        ):
            async with call.tap(tap, device):
                pass
            assert last("calling.tap") == tap_wire
        async with call.tap({"type": "audio", "params": {}}, RTP):
            pass
        assert last("calling.tap") == {
            "tap": {"type": "audio", "params": {"direction": "both"}},
            "device": {"type": "rtp", "params": {"addr": "192.0.2.50", "port": 4000}},
        }


async def test_bad_arguments_raise_before_anything_is_sent(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        before = len(fake_relay.journal)
        with pytest.raises(ValueError):
            call.play([])
        with pytest.raises(ValueError):
            call.play([{"type": "hologram", "text": "x"}])
        with pytest.raises(ValueError):
            call.stream("https://not-a-websocket.example.com")
        with pytest.raises(ValueError):
            call.send_fax("")
        with pytest.raises(ValueError):
            call.collect()
        with pytest.raises(ValueError):
            call.pay("")
        assert len(fake_relay.journal) == before
        assert_clean(relay, fake_relay)


# -- record ---------------------------------------------------------------------------------


async def test_record_pause_skip_resume_and_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["recording_url"] = "https://rec.example.com/vm-1.mp3"
        rec = await call.record({"beep": True})
        assert rec.url == "https://rec.example.com/vm-1.mp3"  # known from the ack
        op = fake_call.operations[rec.control_id]
        await trio.sleep(2)
        await control_then_state(call, lambda: rec.pause("skip"), "calling.call.record", "paused")
        assert op.paused and op.pause_behavior == "skip"
        assert rec.state == "paused"
        paused = rec.events[-1]
        assert isinstance(paused, RecordEvent) and paused.pause_behavior == "skip"
        await trio.sleep(5)
        await control_then_state(call, rec.resume, "calling.call.record", "recording")
        assert rec.state == "recording" and not op.paused
        await trio.sleep(1)
        await rec.pause()  # no behavior: none on the wire, the server's default applies
        await trio.sleep(1)
        await rec.resume()
        await trio.sleep(1)
        assert started(fake_relay, "calling.record.pause") == {"control_id": rec.control_id}
        pauses = fake_relay.journal.all("calling.record.pause")
        assert pauses[0].params["behavior"] == "skip"
        await rec.stop()
        event = rec.result
        assert isinstance(event, RecordEvent)
        assert event.state == "finished"
        assert event.url == rec.url == "https://rec.example.com/vm-1.mp3"
        assert event.duration == 5.0  # 2 + 1 + 1 (silence pause counts) + 1; the skip does not
        assert event.size == 80000
        assert rec.completed and rec.is_done
        assert await rec.wait() is event
        assert_clean(relay, fake_relay)


async def test_record_ends_on_terminator_and_no_input(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        rec = await call.record(RecordAudio(terminators="#"))
        await trio.sleep(2.5)
        await fake_call.press("#")
        event = await rec.wait()
        assert event is not None and event.state == "finished" and event.duration == 2.5

        fake_call.script["caller_speaks_for"] = 0
        rec = await call.record(RecordAudio(initial_timeout=4))
        event = await rec.wait()
        assert event is not None and event.state == "no_input"
        assert rec.completed
        assert_clean(relay, fake_relay)


async def test_hang_up_during_record_finalises_by_default(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """With the default script, a hang-up still reports the recording: wait() returns it."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.record() as rec:
            await trio.sleep(7)
            await fake_call.hangup()
            event = await rec.wait()
        assert isinstance(event, RecordEvent)
        assert event.state == "finished"
        assert event.url == rec.url
        assert event.duration == 7.0 and event.size == 112000
        assert stops(fake_relay, "record") == []
        await call.wait_for_ended()
        assert_clean(relay, fake_relay)


async def test_hang_up_during_record_without_finalising_raises(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["record_finalize_on_hangup"] = False
        with pytest.raises(CallEndedError):
            async with call.record() as rec:
                await trio.sleep(2)
                await fake_call.hangup()
                await rec.wait()
        assert rec.is_done and rec.result is None and not rec.completed
        assert stops(fake_relay, "record") == []  # nothing to stop on a dead call
        assert_clean(relay, fake_relay)


async def test_hang_up_during_play_and_collect_raises_for_every_waiter(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        play = await call.play_audio(AUDIO_URL)
        collect = await call.collect(digits=Digits(max=4), initial_timeout=60)
        errors: list[type[BaseException]] = []

        async def waiter(action: Action[Any]) -> None:
            try:
                await action.wait()
            except CallEndedError as exc:
                errors.append(type(exc))

        async with trio.open_nursery() as nursery:
            for action in (play, collect, collect):
                nursery.start_soon(waiter, action)
            await trio.testing.wait_all_tasks_blocked()
            await fake_call.hangup()
        assert errors == [CallEndedError] * 3
        with pytest.raises(CallEndedError):
            await play.wait()
        with pytest.raises(CallEndedError):  # and nothing new starts on it
            await call.play_tts("anyone?")
        assert_clean(relay, fake_relay)


# -- collect --------------------------------------------------------------------------------


async def test_play_and_collect_prompt_events_never_resolve_it(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        action = await call.prompt_tts("Press one for sales", Digits(max=1), volume=4)
        op = fake_call.operations[action.control_id]
        assert op.volume == 4
        await call.wait_for(
            "calling.call.play",
            lambda e: e.control_id == action.control_id and e.params.get("state") == "finished",
        )
        await trio.testing.wait_all_tasks_blocked()
        assert not action.is_done  # the prompt finished; the collect goes on
        assert [type(e) for e in action.events] == [PlayEvent, PlayEvent]
        assert action.state is None  # play states are not the collect's state
        await action.volume(-3)
        await trio.testing.wait_all_tasks_blocked()
        assert op.volume == -3
        assert started(fake_relay, "calling.play_and_collect.volume") == {
            "control_id": action.control_id,
            "volume": -3,
        }
        await fake_call.press("1")
        event = await action.wait()
        assert isinstance(event, CollectEvent)
        assert event.result_type == "digit" and event.digits == "1"
        assert_clean(relay, fake_relay)


async def test_play_and_collect_no_input_no_match_speech_and_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        action = await call.play_and_collect(
            [Tts(text="Say something")], {"digits": {"max": 1}, "initial_timeout": 3}
        )
        event = await action.wait()
        assert event is not None and event.result_type == "no_input"

        action = await call.play_and_collect(Tts(text="Press a key"), Digits(max=1))
        await fake_call.say("hello")  # speech to a digits-only collect
        event = await action.wait()
        assert event is not None and event.result_type == "no_match"

        action = await call.prompt_audio(AUDIO_URL, Speech(hints=["billing"]))
        await fake_call.say("Billing please")
        event = await action.wait()
        assert event is not None and event.result_type == "speech"
        assert event.text == "Billing please" and event.confidence == 0.92

        action = await call.prompt_tts("Hold on", Digits(max=1))
        await action.stop()
        assert action.is_done
        assert action.result is not None and action.result.state == "finished"
        assert stops(fake_relay, "play_and_collect") == [action.control_id]
        assert_clean(relay, fake_relay)


async def test_start_input_timers_on_both_collects(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        collect = await call.collect(
            digits=Digits(max=1), initial_timeout=2, start_input_timers=False
        )
        prompt = await call.play_and_collect(
            [Silence(duration=1)],
            {"digits": {"max": 1}, "initial_timeout": 2, "start_input_timers": False},
        )
        await trio.sleep(30)  # the timers are held: no no_input
        assert not collect.is_done and not prompt.is_done
        t0 = trio.current_time()
        await collect.start_input_timers()
        await prompt.start_input_timers()
        for action in (collect, prompt):
            event = await action.wait()
            assert event is not None and event.result_type == "no_input"
        assert trio.current_time() - t0 == pytest.approx(2, abs=0.01)
        timers = fake_relay.journal.all("calling.collect.start_input_timers")
        assert [e.params["control_id"] for e in timers] == [collect.control_id, prompt.control_id]
        assert_clean(relay, fake_relay)


async def test_partial_results_and_start_of_input_do_not_end_a_collect(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        seen: list[tuple[str | None, bool | None, bool]] = []
        async with call.events("calling.call.collect") as events:
            action = await call.collect(
                speech=Speech(), partial_results=True, send_start_of_input=True
            )
            await fake_call.say("I need billing help please")
            async for event in events:
                assert isinstance(event, CollectEvent)
                seen.append((event.result_type, event.final, action.is_done))
                if event.final:
                    break
        assert seen == [
            ("start_of_input", None, False),
            ("speech", False, False),
            ("speech", False, False),
            ("speech", True, True),
        ]
        result = await action.wait()
        assert result is not None
        assert result.text == "I need billing help please"
        assert [e.text for e in action.events[1:3]] == ["I need", "I need billing"]
        assert_clean(relay, fake_relay)


async def test_a_continuous_collect_goes_on_until_stopped(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(300):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.collect(digits=Digits(max=1), continuous=True) as action:
            for digit in "159":
                await fake_call.press(digit)
                await trio.sleep(1)
            await trio.sleep(60)
            assert not action.is_done
            results = [e.digits for e in action.events if isinstance(e, CollectEvent)]
            assert results == ["1", "5", "9"]
            await action.stop()
        assert action.is_done
        assert action.result is not None and action.result.state == "finished"
        assert stops(fake_relay, "collect") == [action.control_id]
        assert_clean(relay, fake_relay)


async def test_collect_digit_timeout_and_type_ahead(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        action = await call.collect(digits=Digits(max=5, digit_timeout=2))
        await fake_call.press("34")
        t0 = trio.current_time()
        event = await action.wait()
        assert event is not None and event.digits == "34" and event.terminator == ""
        assert trio.current_time() - t0 == pytest.approx(2, abs=0.01)

        await fake_call.press("8")  # nobody listens: kept for the next collect
        action = await call.collect(digits={"max": 1})
        event = await action.wait()
        assert event is not None and event.digits == "8"


# -- detect ---------------------------------------------------------------------------------


async def test_detect_machine_first_result_ends_it(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["detect"] = ["MACHINE", "NOT_READY", "READY"]
        fake_call.script["beep"] = True
        async with call.events("calling.call.detect") as events:
            detector = await call.detect_answering_machine()
            first = await detector.wait()
            assert isinstance(first, DetectEvent)
            assert first.detect_type == "machine" and first.detect_event == "MACHINE"
            assert detector.is_done and detector.completed
            later = []
            async for event in events:  # the detector goes on reporting on the call
                assert isinstance(event, DetectEvent)
                later.append((event.detect_event, event.beep))
                if event.detect_event == "finished":
                    break
        assert later == [
            ("MACHINE", None),
            ("NOT_READY", None),
            ("READY", True),
            ("finished", None),
        ]
        assert_clean(relay, fake_relay)


async def test_leaving_a_detect_block_after_its_result_stops_the_detector(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["detect"] = ["MACHINE", "NOT_READY", "READY"]
        async with call.detect_answering_machine() as detector:
            event = await detector.wait()
            assert event is not None and event.detect_event == "MACHINE"
        op = fake_call.operations[detector.control_id]
        assert op.done and op.stopped_by == "stop"  # the block bounds the detector
        assert stops(fake_relay, "detect") == [detector.control_id]

        # stop() after the first result stops the detector too, once
        detector = await call.detect_digit()
        await fake_call.press("3")
        assert (await detector.wait()) is not None
        assert not fake_call.operations[detector.control_id].done
        assert (await detector.stop())["code"] == "200"
        assert fake_call.operations[detector.control_id].stopped_by == "stop"
        assert await detector.stop() == {}
        assert detector.result is not None and detector.result.detect_event == "3"

        # a detector that already finished is not stopped again
        fake_call.script["detect"] = ["HUMAN"]
        detector = await call.detect_answering_machine()
        await fake_call.operations[detector.control_id].wait_done()
        await detector.stop()  # 404 from the server: the call goes on
        assert call.active
        assert_clean(relay, fake_relay)


async def test_detect_stop_and_timeout_finish_it(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        detector = await call.detect_digit()
        await trio.sleep(3)
        assert not detector.is_done
        await detector.stop()
        assert detector.result is not None and detector.result.detect_event == "finished"
        assert stops(fake_relay, "detect") == [detector.control_id]

        t0 = trio.current_time()
        detector = await call.detect_digit(timeout=5)
        event = await detector.wait()
        assert event is not None and event.detect_event == "finished"
        assert trio.current_time() - t0 == pytest.approx(5, abs=0.01)
        assert started(fake_relay, "calling.detect")["timeout"] == 5
        assert_clean(relay, fake_relay)


# -- tap, stream, fax, pay, transcribe, ai ------------------------------------------------------


async def test_tap_reports_the_source_device_and_stops(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        async with call.tap(TapAudio(), WsDevice(uri="wss://tap.example.com")) as tap:
            assert tap.source_device is not None
            assert tap.source_device["type"] == "rtp"
            await trio.sleep(10)
            assert tap.state == "tapping" and not tap.is_done
        assert tap.result is not None and tap.result.state == "finished"
        assert tap.result.device == {"type": "ws", "params": {"uri": "wss://tap.example.com"}}
        assert_clean(relay, fake_relay)


async def test_stream_sends_its_options_and_stops(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        async with call.stream(
            STREAM_URL,
            name="agent-assist",
            codec="PCMU",
            track="both_tracks",
            custom_parameters={"crm_id": "42"},
        ) as stream:
            await trio.sleep(5)
            assert stream.state == "streaming"
        assert started(fake_relay, "calling.stream") == {
            "url": STREAM_URL,
            "name": "agent-assist",
            "codec": "PCMU",
            "track": "both_tracks",
            "custom_parameters": {"crm_id": "42"},
            "control_id": stream.control_id,
        }
        assert stream.result is not None
        assert stream.result.state == "finished" and stream.result.url == STREAM_URL
        assert stream.result.name == "agent-assist"
        assert_clean(relay, fake_relay)


async def test_fax_pages_failure_and_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_call.script["fax_pages"] = 3
        fax = await call.send_fax(DOCUMENT, identity="+15550000000", header_info="ACME")
        assert started(fake_relay, "calling.send_fax") == {
            "document": DOCUMENT,
            "identity": "+15550000000",
            "header_info": "ACME",
            "control_id": fax.control_id,
        }
        event = await fax.wait()
        assert event is not None
        assert event.fax_type == "finished" and event.pages == 3 and event.success is True
        assert event.document == DOCUMENT and event.identity == "+15550000000"
        pages = [e.page_number for e in fax.events if isinstance(e, FaxEvent)][:-1]
        assert pages == [1, 2, 3]

        fake_call.script["fax_success"] = False
        fax = await call.receive_fax()
        event = await fax.wait()
        assert event is not None and event.fax_type == "finished" and event.success is False
        assert event.document and event.document.endswith(".pdf")

        fax = await call.receive_fax()
        await trio.sleep(2.5)
        await fax.stop()
        assert fax.result is not None and fax.result.fax_type == "error"
        assert fax.result.pages == 1
        assert stops(fake_relay, "receive_fax") == [fax.control_id]
        assert_clean(relay, fake_relay)


async def test_pay_success_failure_and_stop(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        pay = await call.pay(
            PAY_URL,
            input_method="dtmf",
            charge_amount=20.5,
            security_code=False,
            max_attempts=2,
            currency="usd",
            parameters={"customer": "c-17"},
            prompts=[
                {"for": "payment-card-number", "actions": [{"type": "Say", "phrase": "Card?"}]}
            ],
        )
        assert started(fake_relay, "calling.pay") == {
            "payment_connector_url": PAY_URL,
            "input": "dtmf",
            "max_attempts": "2",
            "security_code": "false",
            "charge_amount": "20.5",
            "currency": "usd",
            "parameters": [{"name": "customer", "value": "c-17"}],
            "prompts": [
                {"for": "payment-card-number", "actions": [{"type": "Say", "phrase": "Card?"}]}
            ],
            "control_id": pay.control_id,
        }
        event = await pay.wait()
        assert event is not None
        assert event.for_ == "payment-completed" and event.result == "success"
        steps = [e.for_ for e in pay.events if isinstance(e, PayEvent)]
        assert steps == [
            "payment-card-number",
            "expiration-date",
            "postal-code",
            "payment-processing",
            "payment-completed",
        ]

        fake_call.script["pay_result"] = "card-declined"
        pay = await call.pay(PAY_URL)
        event = await pay.wait()
        assert event is not None
        assert event.for_ == "payment-failed" and event.result == "card-declined"
        assert event.payment_error == "card-declined"

        pay = await call.pay(PAY_URL)
        await pay.stop()
        assert pay.result is not None
        assert pay.result.for_ == "payment-canceled" and pay.result.result == "relay-pay-stop"
        assert_clean(relay, fake_relay)


async def test_transcribe_reports_its_recording(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        async with call.transcribe(status_url="https://hooks.example.com/t") as transcribe:
            await trio.sleep(12)
            assert transcribe.state == "transcribing"
        event = transcribe.result
        assert event is not None and event.state == "finished"
        assert event.duration == 12.0 and event.url and event.status_url
        assert started(fake_relay, "calling.transcribe")["status_url"] == (
            "https://hooks.example.com/t"
        )

        transcribe = await call.transcribe()  # a hang-up finalises it by default
        await trio.sleep(3)
        await fake_call.hangup()
        event = await transcribe.wait()
        assert event is not None and event.state == "finished" and event.duration == 3.0
        assert_clean(relay, fake_relay)


async def test_ai_runs_until_stopped_or_the_call_ends(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(600):
        fake_call, call = await answered_call(relay, fake_relay)
        ai = await call.ai(
            prompt={"text": "You are a receptionist."},
            post_prompt_url="https://hooks.example.com/ai",
            hints=["appointment"],
            SWAIG={"functions": []},
            ai_params={"temperature": 0.2},
        )
        assert started(fake_relay, "calling.ai") == {
            "prompt": {"text": "You are a receptionist."},
            "post_prompt_url": "https://hooks.example.com/ai",
            "hints": ["appointment"],
            "SWAIG": {"functions": []},
            "params": {"temperature": 0.2},
            "control_id": ai.control_id,
        }
        await trio.sleep(300)
        assert not ai.is_done
        assert (await ai.stop())["code"] == "200"
        assert ai.is_done and ai.result is None and not ai.completed
        assert await ai.wait() is None

        ai = await call.ai(agent="receptionist")
        await fake_call.hangup()
        with pytest.raises(CallEndedError):
            await ai.wait()
        assert_clean(relay, fake_relay)


# -- several actions on one call ------------------------------------------------------------------


async def test_a_long_record_and_a_short_play_resolve_independently(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        t0 = trio.current_time()
        async with call.record() as rec:
            play = await call.play_silence(2)
            assert relay.statistics().actions == 2
            event = await play.wait()
            assert event is not None and event.state == "finished"
            assert trio.current_time() - t0 == pytest.approx(2, abs=0.01)
            assert not rec.is_done and rec.state == "recording"
            assert all(isinstance(e, RecordEvent) for e in rec.events)
            assert all(isinstance(e, PlayEvent) for e in play.events)
            await trio.sleep(8)
        assert rec.result is not None and rec.result.duration == 10.0
        assert play.control_id != rec.control_id
        assert_clean(relay, fake_relay)


async def test_a_detect_and_a_play_resolve_independently(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        detector = await call.detect_digit()
        play = await call.play_tts("Press any key when you are ready")
        await play.wait()
        assert not detector.is_done
        await fake_call.press("4")
        event = await detector.wait()
        assert event is not None and event.detect_event == "4"
        assert [type(e) for e in detector.events] == [DetectEvent]

        # and the other way round: the detector ends first, the play goes on
        fake_call.script["detect"] = ["HUMAN"]
        play = await call.play_audio(AUDIO_URL)
        detector = await call.detect_answering_machine()
        await detector.wait()
        assert not play.is_done
        assert (await play.wait()) is not None
        assert_clean(relay, fake_relay)


# -- waits ---------------------------------------------------------------------------------------


async def test_a_cancelled_plain_wait_leaves_the_operation_running(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        t0 = trio.current_time()
        action = await call.play_audio(AUDIO_URL)  # 3 s
        with trio.move_on_after(1) as scope:
            await action.wait()
        assert scope.cancelled_caught
        await trio.testing.wait_all_tasks_blocked()
        op = fake_call.operations[action.control_id]
        assert not action.is_done and not op.done
        assert stops(fake_relay, "play") == []
        event = await action.wait()  # it finishes normally
        assert event is not None and event.state == "finished"
        assert trio.current_time() - t0 == pytest.approx(3, abs=0.01)
        assert op.done and op.stopped_by is None
        assert_clean(relay, fake_relay)


async def test_wait_timeout_raises_too_slow(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        action = await call.play_audio(AUDIO_URL)
        with pytest.raises(trio.TooSlowError):
            await action.wait(timeout=1)
        assert not action.is_done
        assert await action.wait(timeout=5) is not None


async def test_stop_resolves_every_waiter(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        action = await call.record()
        got: list[Any] = []

        async def waiter() -> None:
            got.append(await action.wait())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await action.stop()
        assert len(got) == 2 and got[0] is got[1] is action.result
        assert isinstance(got[0], RecordEvent) and got[0].state == "finished"
        assert await action.stop() == {}  # stopping a finished action is a no-op
        assert stops(fake_relay, "record") == [action.control_id]
        assert_clean(relay, fake_relay)


async def test_stop_without_a_terminal_event_settles_locally(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """A server that acks the stop but sends no final event cannot hang the waiters."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        action = await call.play_audio(AUDIO_URL)
        op = fake_call.operations[action.control_id]
        op.on_stop = lambda: None  # type: ignore[method-assign]  # this server says nothing
        got: list[Any] = []

        async def waiter() -> None:
            got.append(await action.wait())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            await action.stop()
        assert got == [None]
        assert action.is_done and not action.completed
        assert_clean(relay, fake_relay)


async def start_play_overtaken_by(
    relay: Any, fake_relay: FakeRelay, state: str
) -> tuple[FakeCall, PlayAction]:
    """Start a play whose ack is late, with a ``state`` event overtaking the ack."""
    fake_call, call = await answered_call(relay, fake_relay)
    fake_relay.delay_next("calling.play", 1)  # the ack is late...
    async with trio.open_nursery() as nursery:
        actions: list[PlayAction] = []

        async def start() -> None:
            actions.append(await call.play_silence(5))

        nursery.start_soon(start)
        entry = await fake_relay.journal.wait_for("calling.play")
        # ...and the server's event overtakes it
        fake_call.emit(
            "calling.call.play",
            {
                "node_id": fake_call.node_id,
                "call_id": fake_call.call_id,
                "control_id": entry.params["control_id"],
                "state": state,
            },
        )
    (action,) = actions
    return fake_call, action


async def test_an_event_that_beats_the_ack_is_not_lost(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _, action = await start_play_overtaken_by(relay, fake_relay, "playing")
        assert action.state == "playing"
        assert [e.params["state"] for e in action.events] == ["playing"]
        event = await action.wait()
        assert event is not None and event.state == "finished"
        assert_clean(relay, fake_relay)


async def test_a_terminal_event_before_the_ack_gives_a_done_action(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _, action = await start_play_overtaken_by(relay, fake_relay, "error")
        assert action.is_done and action.completed
        event = await action.wait()
        assert event is not None and event.state == "error"
        assert relay.statistics().actions == 0


# -- failed, refused and cancelled starts -------------------------------------------------------


@pytest.mark.parametrize("form", ["await", "async with"])
async def test_a_rejected_start_raises_and_leaves_nothing_registered(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, form: str
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.fail_next("calling.play", code="400", message="Invalid media")
        with pytest.raises(RelayError) as info:
            if form == "await":
                await call.play_tts("Hello")
            else:
                async with call.play_tts("Hello"):
                    pytest.fail("the body must not run")  # pragma: no cover
        assert not isinstance(info.value, CallEndedError)
        assert info.value.code == 400 and info.value.message == "Invalid media"
        assert relay.statistics().actions == 0
        assert fake_call.operations == {}
        assert stops(fake_relay, "play") == []
        assert call.active  # a refused command does not end the call
        assert await (await call.play_silence(1)).wait() is not None
        assert_clean(relay, fake_relay)


async def test_a_start_on_a_gone_call_raises_call_ended(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        fake_relay.fail_next("calling.record", code="410", message="Call has ended")
        with pytest.raises(CallEndedError) as info:
            await call.record()
        assert info.value.code == 410
        assert call.ended
        assert relay.statistics().actions == 0


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_a_start_on_an_ended_call_raises_call_ended(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock, kind: Kind
) -> None:
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        await fake_call.hangup()
        await call.wait_for_ended()
        with pytest.raises(CallEndedError):
            await kind.start(call)
        with pytest.raises(CallEndedError):
            async with kind.start(call):
                pytest.fail("the body must not run")  # pragma: no cover
        assert fake_relay.journal.all(kind.method) == []
        assert_clean(relay, fake_relay)


@pytest.mark.parametrize("form", ["await", "async with"])
@pytest.mark.parametrize("point", ["before sending", "in flight", "in the body"])
async def test_cancelling_a_start_at_every_await_point_leaves_nothing_behind(
    relay: Any,
    fake_relay: FakeRelay,
    autojump_clock: trio.testing.MockClock,
    form: str,
    point: str,
) -> None:
    """Cancel before the request left, while it is in flight, or once the start returned.

    A start that did not return leaves nothing behind: the client forgets
    the action and the operation does not outlive it on the server. Once
    it returned, ``await`` hands the running action to the caller while
    ``async with`` stops it at the block's exit. The next command works.
    """
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)
        owned: list[RecordAction] = []

        async def start(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                if point == "before sending":
                    scope.cancel()
                if form == "await":
                    owned.append(await call.record(control_id="rec-1"))
                    await trio.sleep_forever()
                else:
                    async with call.record(control_id="rec-1") as action:
                        owned.append(action)
                        await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            scope = await nursery.start(start)
            if point == "in flight":
                await fake_relay.journal.wait_for("calling.record")
                assert relay.statistics().pending_requests == 1
                scope.cancel()
            elif point == "in the body":
                await trio.testing.wait_all_tasks_blocked()
                assert len(owned) == 1
                scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert relay.statistics().pending_requests == 0
        assert len(fake_relay.journal.all("calling.record")) <= 1
        op = fake_call.operations.get("rec-1")
        if form == "await" and point == "in the body":
            # the start returned: the caller owns a running recording
            (action,) = owned
            assert relay.statistics().actions == 1
            assert op is not None and not op.done and not action.is_done
            assert stops(fake_relay, "record") == []
            await action.stop()
            assert action.result is not None
        elif point == "before sending":
            # cancelled at its first checkpoint: it never happened, nothing to stop
            assert fake_relay.journal.all("calling.record") == []
            assert op is None and stops(fake_relay, "record") == []
        else:
            assert owned == [] or owned[0].is_done
            # the stop went out (best effort, or at block exit): nothing runs on
            assert op is None or (op.done and op.stopped_by == "stop")
            assert stops(fake_relay, "record") == ["rec-1"]
        assert (point != "before sending") or owned == []
        event = await (await call.play_silence(1)).wait()
        assert event is not None and event.state == "finished"
        assert_clean(relay, fake_relay)


# -- controls racing the operation's end ------------------------------------------------------


async def test_a_control_the_server_no_longer_knows_leaves_the_call_alone(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """404 to ``calling.<kind>.<control>`` means the operation is gone, not the call.

    The fake (like a tolerant server) answers controls of a finished
    operation with 404. That must not end the call locally: pause/volume
    raise a plain RelayError, stop() is a no-op, and the call goes on.
    """
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        play = await call.play_silence(1)
        await play.wait()
        for control in (play.pause, play.resume, lambda: play.volume(3)):
            with pytest.raises(RelayError) as info:
                await control()
            assert info.value.code == 404
            assert not isinstance(info.value, CallEndedError)
        collect = await call.collect(digits=Digits(max=1), initial_timeout=1)
        await collect.wait()
        with pytest.raises(RelayError) as info:
            await collect.start_input_timers()
        assert not isinstance(info.value, CallEndedError)
        assert call.active and call.state == "answered"
        assert await (await call.play_silence(1)).wait() is not None
        assert_clean(relay, fake_relay)


async def test_a_stop_that_crosses_the_final_event_keeps_the_call(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    """The operation ended on the server while our stop was on the way (404)."""
    with trio.fail_after(60):
        fake_call, call = await answered_call(relay, fake_relay)

        # its final event is still on the wire: it arrives after the 404 and is the result
        play = await call.play_silence(30)
        op = fake_call.operations[play.control_id]
        op.finish()  # the server is done with it; the finished event is late

        async def late_final_event() -> None:
            await fake_relay.journal.wait_for("calling.play.stop")
            await trio.sleep(0.2)
            fake_call.emit(
                "calling.call.play",
                {
                    "node_id": fake_call.node_id,
                    "call_id": fake_call.call_id,
                    "control_id": play.control_id,
                    "state": "finished",
                },
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(late_final_event)
            assert await play.stop() == {}
        assert play.is_done and play.completed
        assert play.result is not None and play.result.state == "finished"
        assert call.active

        # no final event at all: settled locally, the call still works
        async with call.record() as rec:
            fake_call.operations[rec.control_id].finish()
        assert rec.is_done and rec.result is None
        assert call.active and call.state == "answered"
        play = await call.play_silence(1)
        assert (await play.wait()) is not None
        assert_clean(relay, fake_relay)


async def test_a_410_to_a_control_ends_the_call(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        play = await call.play_silence(30)
        rec = await call.record()
        fake_relay.fail_next("calling.play.pause", code="410", message="Call has ended")
        with pytest.raises(CallEndedError) as info:
            await play.pause()
        assert info.value.code == 410
        assert call.ended
        for action in (play, rec):
            with pytest.raises(CallEndedError):
                await action.wait()
        assert await rec.stop() == {}
        assert_clean(relay, fake_relay)


async def test_a_control_id_in_use_is_refused_without_losing_the_running_action(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await answered_call(relay, fake_relay)
        first = await call.play_silence(5)
        first_again = call.play([Silence(duration=1)], control_id=first.control_id)
        with pytest.raises((ValueError, RelayError)):
            await first_again
        assert relay.statistics().actions == 1
        event = await first.wait()  # the running one still gets its events
        assert event is not None and event.state == "finished"
        assert_clean(relay, fake_relay)
