"""parse_event and the typed event classes, against the sample frames and bad input.

Sync tests: the event layer is pure Python and never touches trio.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import signalwire_relay_trio
from signalwire_relay_trio import _constants, _events
from signalwire_relay_trio._constants import (
    CALL_STATE_ANSWERED,
    CALL_STATES,
    MESSAGE_TERMINAL_STATES,
    CallState,
    CollectResultType,
    ConnectState,
    DialState,
    MessageState,
    PlayState,
    RecordState,
)
from signalwire_relay_trio._events import (
    EVENT_CLASSES,
    CallingErrorEvent,
    CallReceiveEvent,
    CallStateEvent,
    CollectEvent,
    ConferenceEvent,
    ConnectEvent,
    DenoiseEvent,
    DetectEvent,
    DialEvent,
    EchoEvent,
    FaxEvent,
    HoldEvent,
    MessageReceiveEvent,
    MessageStateEvent,
    PayEvent,
    PlayEvent,
    QueueEvent,
    RecordEvent,
    ReferEvent,
    RelayEvent,
    SendDigitsEvent,
    StreamEvent,
    TapEvent,
    TranscribeEvent,
    parse_event,
)

FRAMES = Path(__file__).parent / "fixtures" / "frames"


def _event_payloads() -> list[tuple[str, int, dict[str, Any]]]:
    """Every signalwire.event params object in every fixture file, in wire order."""
    found = []
    for path in sorted(FRAMES.glob("*.json")):
        for index, step in enumerate(json.loads(path.read_text())):
            frame = step.get("frame") or {}
            if frame.get("method") == "signalwire.event":
                found.append((path.name, index, frame["params"]))
    return found


ALL_EVENTS = _event_payloads()


def events_in(name: str) -> list[RelayEvent]:
    return [parse_event(payload) for file, _, payload in ALL_EVENTS if file == name]


def envelope(event_type: str, **params: Any) -> dict[str, Any]:
    return {"event_type": event_type, "timestamp": 1767225600.5, "params": params}


# --- every fixture frame -------------------------------------------------------------


def test_fixtures_hold_events() -> None:
    assert len(ALL_EVENTS) > 60
    assert {payload["event_type"] for _, _, payload in ALL_EVENTS} >= set(EVENT_CLASSES) - {
        "calling.call.echo"
    }


@pytest.mark.parametrize(
    ("name", "index", "payload"), ALL_EVENTS, ids=[f"{n}:{i}" for n, i, _ in ALL_EVENTS]
)
def test_every_fixture_event_parses(name: str, index: int, payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    assert type(event) is EVENT_CLASSES.get(payload["event_type"], RelayEvent)
    assert event.event_type == payload["event_type"]
    assert event.params is payload["params"]
    assert event.timestamp == payload.get("timestamp")
    assert event.event_channel == payload.get("event_channel")
    assert event.project_id == payload.get("project_id")
    assert event.space_id == payload.get("space_id")
    assert event.call_id == payload["params"].get("call_id")
    assert event.node_id == payload["params"].get("node_id")
    assert event.control_id == payload["params"].get("control_id")


def test_call_state_sequence() -> None:
    states = [e for e in events_in("inbound-call-sequence.json") if isinstance(e, CallStateEvent)]
    assert [e.call_state for e in states] == ["answered", "ending", "ended"]
    assert states[0].call_state is CallState.ANSWERED
    assert states[0].direction == "inbound"
    assert states[0].device == {
        "type": "phone",
        "params": {"from_number": "+15559870001", "to_number": "+15551230000"},
    }
    assert states[0].segment_id == states[0].call_id
    assert states[-1].end_reason == "hangup"
    busy = events_in("hangup.json")[-1]
    assert isinstance(busy, CallStateEvent)
    assert (busy.call_state, busy.end_reason) == (CallState.ENDED, "busy")


def test_call_receive() -> None:
    event = events_in("inbound-call-sequence.json")[0]
    assert isinstance(event, CallReceiveEvent)
    assert not isinstance(event, CallStateEvent)
    assert event.call_state is CallState.CREATED
    assert event.context == "office"
    assert event.call_id == "62016b18-2d19-47be-a618-d6eddd916241"


def test_connect_leg_carries_tag_and_peer() -> None:
    events = events_in("connect-bridge-sequence.json")
    leg = next(e for e in events if isinstance(e, CallStateEvent))
    assert leg.tag == "1c1b1fcc-d89a-4d05-b890-3d725e88ca04"
    assert leg.peer is not None
    assert leg.peer["call_id"] == "62016b18-2d19-47be-a618-d6eddd916241"
    connects = [e for e in events if isinstance(e, ConnectEvent)]
    assert [e.connect_state for e in connects] == [
        ConnectState.CONNECTING,
        ConnectState.CONNECTED,
        ConnectState.DISCONNECTED,
    ]
    assert connects[1].peer is not None and connects[1].peer["tag"] == leg.tag


def test_connect_failed() -> None:
    failed = events_in("connect-failed.json")[-1]
    assert isinstance(failed, ConnectEvent)
    assert failed.connect_state is ConnectState.FAILED
    assert failed.failed_reason == "no_answer"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("hangup", "hangup"),
        ("cancel", "cancel"),
        ("cancelled", "cancel"),
        ("busy", "busy"),
        ("noAnswer", "noAnswer"),
        ("no_answer", "noAnswer"),
        ("NO_ANSWER", "noAnswer"),
        ("decline", "decline"),
        ("declined", "decline"),
        ("error", "error"),
        ("abandoned", "abandoned"),
        ("max_duration", "max_duration"),
        ("maxDuration", "max_duration"),
        ("not_found", "not_found"),
        ("notFound", "not_found"),
        ("somethingNew", "somethingNew"),
    ],
)
def test_end_reason_normalised(wire: str, expected: str) -> None:
    event = parse_event(envelope("calling.call.state", call_state="ended", end_reason=wire))
    assert isinstance(event, CallStateEvent)
    assert event.end_reason == expected
    assert event.params["end_reason"] == wire


def test_end_reason_constants_match_normalisation() -> None:
    assert _constants.END_REASON_NO_ANSWER == "noAnswer"
    assert _constants.END_REASON_MAX_DURATION == "max_duration"
    assert _constants.END_REASON_NOT_FOUND == "not_found"
    assert _constants.END_REASON_DECLINE == "decline"


def test_play_states() -> None:
    events = events_in("play-lifecycle.json")
    assert all(isinstance(e, PlayEvent) for e in events)
    assert [e.state for e in events if isinstance(e, PlayEvent)] == [
        PlayState.PLAYING,
        PlayState.PAUSED,
        PlayState.PLAYING,
        PlayState.FINISHED,
    ]


def test_record_top_level_fields() -> None:
    events = events_in("record-lifecycle.json")
    assert [e.state for e in events if isinstance(e, RecordEvent)] == [
        "recording",
        "paused",
        "recording",
        "finished",
    ]
    paused, finished = events[1], events[-1]
    assert isinstance(paused, RecordEvent) and isinstance(finished, RecordEvent)
    assert paused.pause_behavior == "silence"
    assert finished.state is RecordState.FINISHED
    assert finished.url is not None and finished.url.endswith("/download")
    assert finished.duration == 21.4
    assert finished.size == 342400
    assert finished.recording_id == "4b530575-4ee4-4ba8-bd7c-816b7c1805b6"
    assert finished.record == {"audio": {"format": "mp3", "direction": "both", "stereo": False}}


def test_record_fields_inside_record_object() -> None:
    record = {"url": "https://x.example/r.mp3", "duration": "3.5", "size": "1024"}
    event = parse_event(envelope("calling.call.record", state="finished", record=record))
    assert isinstance(event, RecordEvent)
    assert (event.url, event.duration, event.size) == ("https://x.example/r.mp3", 3.5, 1024)


def test_record_top_level_wins_over_record_object() -> None:
    event = parse_event(
        envelope("calling.call.record", state="no_input", url="top", record={"url": "inner"})
    )
    assert isinstance(event, RecordEvent)
    assert event.url == "top"
    assert event.state is RecordState.NO_INPUT


def test_collect_speech_terminal_rule() -> None:
    start, partial, final = events_in("collect-speech.json")
    assert isinstance(start, CollectEvent)
    assert start.result_type is CollectResultType.START_OF_INPUT
    assert not start.is_final_result
    assert isinstance(partial, CollectEvent)
    assert partial.final is False
    assert partial.text == "i'd like to check"
    assert not partial.is_final_result
    assert isinstance(final, CollectEvent)
    assert (final.result_type, final.final) == ("speech", True)
    assert final.text == "i'd like to check my balance"
    assert final.confidence == 0.93
    assert final.is_final_result


def test_collect_digits_and_no_input() -> None:
    digits = events_in("play-and-collect-digits.json")[-1]
    assert isinstance(digits, CollectEvent)
    assert digits.result_type is CollectResultType.DIGIT
    assert (digits.digits, digits.terminator) == ("4821", "#")
    assert digits.is_final_result
    no_input = events_in("collect-no-input.json")[-1]
    assert isinstance(no_input, CollectEvent)
    assert no_input.result_type is CollectResultType.NO_INPUT
    assert no_input.digits is None
    assert no_input.is_final_result


@pytest.mark.parametrize(
    ("params", "terminal"),
    [
        ({"state": "collecting", "result": {"type": "digit", "params": {"digits": "1"}}}, False),
        ({"state": "collecting"}, False),
        ({"state": "finished"}, True),
        ({"state": "error"}, True),
        ({"result": {"type": "no_match"}}, True),
        ({"result": {"type": "error"}}, True),
        ({"result": {"type": "speech", "params": {"text": "hi"}}, "final": "false"}, False),
        ({"result": {"type": "start_of_input"}, "state": "finished"}, False),
        ({"result": {"type": "something_new"}}, False),
        ({}, False),
    ],
)
def test_collect_continuous_and_partial_rule(params: dict[str, Any], terminal: bool) -> None:
    event = parse_event(envelope("calling.call.collect", **params))
    assert isinstance(event, CollectEvent)
    assert event.is_final_result is terminal


def test_detect_machine() -> None:
    events = events_in("detect-machine.json")
    assert all(isinstance(e, DetectEvent) for e in events)
    detects = [e for e in events if isinstance(e, DetectEvent)]
    assert [e.detect_event for e in detects] == ["MACHINE", "NOT_READY", "READY", "finished"]
    assert {e.detect_type for e in detects} == {"machine"}
    assert detects[2].beep is True
    assert detects[0].beep is None
    assert [e.is_finished for e in detects] == [False, False, False, True]
    fax_tone = events_in("detect-fax.json")[0]
    assert isinstance(fax_tone, DetectEvent)
    assert (fax_tone.detect_type, fax_tone.detect_event) == ("fax", "CED")


def test_dial_winner() -> None:
    events = events_in("dial-sequence.json")
    dials = [e for e in events if isinstance(e, DialEvent)]
    assert [e.dial_state for e in dials] == [DialState.DIALING, DialState.ANSWERED]
    answered = dials[-1]
    assert answered.call_id is None
    assert answered.tag == "0506c1c3-81b1-44e6-868c-420bd7c41243"
    assert answered.winner_call_id == "35c2dd1f-9601-42d5-ba1a-950f8dd96971"
    assert answered.dial_winner is True
    assert answered.call is not None and answered.call["call_state"] == "answered"
    assert dials[0].winner_call_id is None


@pytest.mark.parametrize(("wire", "expected"), [("true", True), ("false", False), (False, False)])
def test_dial_winner_as_string(wire: object, expected: bool) -> None:
    event = parse_event(
        envelope(
            "calling.call.dial",
            tag="t",
            dial_state="answered",
            call={"call_id": "c1", "dial_winner": wire},
        )
    )
    assert isinstance(event, DialEvent)
    assert event.dial_winner is expected


def test_dial_failed() -> None:
    failed = events_in("dial-failed.json")[-1]
    assert isinstance(failed, DialEvent)
    assert failed.dial_state is DialState.FAILED
    assert (failed.reason, failed.source) == ("busy", "outbound")
    assert failed.call is None and failed.winner_call_id is None


def test_fax_pages_and_result() -> None:
    first, second, finished = events_in("fax-send.json")
    assert isinstance(first, FaxEvent) and isinstance(second, FaxEvent)
    assert (first.fax_type, first.page_number, second.page_number) == ("page", 1, 2)
    assert first.direction == "send"
    assert isinstance(finished, FaxEvent)
    assert finished.fax_type == "finished"
    assert (finished.pages, finished.success, finished.result) == (2, True, 0)
    assert finished.document == "https://files.example.com/invoices/INV-2026-0042.pdf"
    assert (finished.result_text, finished.format) == ("OK", "pdf")


def test_fax_numbers_as_strings() -> None:
    fax = {"type": "finished", "params": {"pages": "3", "success": "true", "result": "0"}}
    event = parse_event(envelope("calling.call.fax", fax=fax))
    assert isinstance(event, FaxEvent)
    assert (event.pages, event.success, event.result) == (3, True, 0)


def test_pay_progress_and_result() -> None:
    events = events_in("pay.json")
    pays = [e for e in events if isinstance(e, PayEvent)]
    assert len(pays) == len(events)
    assert [e.for_ for e in pays[:-1]] == [
        "payment-card-number",
        "expiration-date",
        "security-code",
        "postal-code",
        "payment-processing",
    ]
    final = pays[-1]
    assert (final.state, final.result) == ("finished", "success")
    assert final.payment_token == "one-time"
    assert final.payment_confirmation_code == "ch_3PexampleCharge01"
    assert final.payment_card_type == "visa"
    assert "one-time" not in repr(final)


def test_queue_fields_renamed() -> None:
    enqueue, leave = events_in("queue.json")
    assert isinstance(enqueue, QueueEvent) and isinstance(leave, QueueEvent)
    assert enqueue.status == "enqueue"
    assert enqueue.queue_id == "bc5d10e2-2b6f-48ff-8740-789f78357235"
    assert enqueue.queue_name == "support"
    assert (enqueue.position, enqueue.size, enqueue.avg_time) == (1, 1, 0)
    assert enqueue.enqueue_ts == 1767225800203260
    assert leave.status == "leave"
    assert leave.leave_ts == 1767225831943789


def test_calling_error_code_is_int() -> None:
    (error,) = events_in("calling-error.json")
    assert isinstance(error, CallingErrorEvent)
    assert error.code == 500
    assert error.message == "Media server unavailable"


def test_conference() -> None:
    join, leave = events_in("conference.json")
    assert isinstance(join, ConferenceEvent) and isinstance(leave, ConferenceEvent)
    assert join.conference_id == "3e077923-df4c-487a-af33-30e985fbcb5c"
    assert (join.name, join.status, join.size) == ("team-standup", "participant-join", 3)
    assert (join.muted, join.start_on_join) == (False, True)
    assert (leave.status, leave.size) == ("participant-leave", 2)


def test_small_call_events() -> None:
    on, off = events_in("denoise.json")
    assert isinstance(on, DenoiseEvent) and isinstance(off, DenoiseEvent)
    assert (on.denoised, off.denoised) == (True, False)
    hold, unhold = events_in("hold.json")
    assert isinstance(hold, HoldEvent) and isinstance(unhold, HoldEvent)
    assert (hold.state, unhold.state) == ("hold", "unhold")
    (digits,) = events_in("send-digits.json")
    assert isinstance(digits, SendDigitsEvent) and digits.state == "finished"
    in_progress, success = events_in("refer.json")
    assert isinstance(in_progress, ReferEvent) and isinstance(success, ReferEvent)
    assert (in_progress.state, success.state) == ("inProgress", "success")
    assert success.sip_refer_to == "sip:queue-42@pbx.example.com"
    assert (success.sip_refer_response_code, success.sip_notify_response_code) == ("202", "200")
    echo = parse_event(envelope("calling.call.echo", call_id="c", state="echoing"))
    assert isinstance(echo, EchoEvent) and echo.state == "echoing"


def test_media_fork_events() -> None:
    tapping, tap_done = events_in("tap.json")
    assert isinstance(tapping, TapEvent) and isinstance(tap_done, TapEvent)
    assert (tapping.state, tap_done.state) == ("tapping", "finished")
    assert tapping.device is not None and tapping.device["type"] == "rtp"
    streaming, stream_done = events_in("stream.json")
    assert isinstance(streaming, StreamEvent) and isinstance(stream_done, StreamEvent)
    assert (streaming.state, streaming.url, streaming.name) == (
        "streaming",
        "wss://media.example.com/stream",
        "agent-assist",
    )
    assert stream_done.state == "finished"
    started, done = events_in("transcribe.json")
    assert isinstance(started, TranscribeEvent) and isinstance(done, TranscribeEvent)
    assert started.state == "transcribing"
    assert (done.state, done.duration, done.size) == ("finished", 42.7, 683200)
    assert done.recording_id == "2bbdeab6-47cc-412e-813c-129b95d8910a"


def test_messaging_events() -> None:
    states = events_in("messaging-send.json")
    assert all(isinstance(e, MessageStateEvent) for e in states)
    assert [e.message_state for e in states if isinstance(e, MessageStateEvent)] == [
        "queued",
        "initiated",
        "sent",
        "delivered",
    ]
    last = states[-1]
    assert isinstance(last, MessageStateEvent)
    assert last.message_state in MESSAGE_TERMINAL_STATES
    assert last.context == "office"
    assert last.message_id == "a54a73fa-8114-497f-b974-f4e4b04926ce"
    assert last.media == [] and "relay-client" in last.tags
    assert last.segments == 1
    failed = events_in("messaging-failed.json")[-1]
    assert isinstance(failed, MessageStateEvent)
    assert failed.message_state is MessageState.UNDELIVERED
    assert failed.reason == "carrier_rejected"
    sms, mms = events_in("messaging-receive.json")
    assert isinstance(sms, MessageReceiveEvent) and isinstance(mms, MessageReceiveEvent)
    assert (sms.direction, sms.message_state) == ("inbound", MessageState.RECEIVED)
    assert (sms.from_number, sms.to_number) == ("+15559870001", "+15551230000")
    assert sms.body == "Can I move it to 11?"
    assert mms.media == ["https://media.example.com/mms/IMG_0042.jpg"]


def test_authorization_state_is_plain_and_hidden() -> None:
    (event,) = events_in("authorization-state.json")
    assert type(event) is RelayEvent
    assert event.event_type == _constants.EVENT_AUTHORIZATION_STATE
    secret = event.params["authorization_state"]
    assert secret not in repr(event)
    assert secret not in str(event)


# --- unknown, lenient and malformed input --------------------------------------------


def test_unknown_event_type_is_plain_and_keeps_params() -> None:
    params = {"call_id": "c1", "control_id": "k1", "state": "thinking", "extra": [1, 2]}
    event = parse_event({"event_type": "calling.call.ai", "params": params, "space_id": "s"})
    assert type(event) is RelayEvent
    assert event.params == params
    assert event.params.get("state") == "thinking"
    assert (event.call_id, event.control_id, event.space_id) == ("c1", "k1", "s")


def test_unknown_fields_kept_in_params() -> None:
    event = parse_event(envelope("calling.call.play", state="playing", volume_db=3, future={}))
    assert isinstance(event, PlayEvent)
    assert event.params["volume_db"] == 3
    assert event.params["future"] == {}
    assert not hasattr(event, "volume_db")


def test_unknown_state_value_is_unknown_member() -> None:
    event = parse_event(envelope("calling.call.state", call_state="parked"))
    assert isinstance(event, CallStateEvent)
    assert event.call_state is CallState.UNKNOWN
    assert event.params["call_state"] == "parked"


def test_envelope_facts_win_over_inner_ones() -> None:
    payload = {
        "event_type": "calling.call.receive",
        "context": "outer",
        "node_id": "envelope-node",
        "params": {"context": "inner", "timestamp": 5, "call_id": "c"},
    }
    event = parse_event(payload)
    assert (event.context, event.timestamp, event.node_id) == ("outer", 5.0, "envelope-node")
    inner_only = parse_event({"event_type": "messaging.state", "params": {"context": "office"}})
    assert inner_only.context == "office"


def test_numbers_and_booleans_as_strings() -> None:
    payload = envelope("calling.call.record", state="finished", duration="1.5", size="2")
    payload["timestamp"] = "1767225600.25"
    event = parse_event(payload)
    assert isinstance(event, RecordEvent)
    assert (event.duration, event.size, event.timestamp) == (1.5, 2, 1767225600.25)
    queue = parse_event(envelope("calling.call.queue", position="4", size=" 7 ", avg_time=12.0))
    assert isinstance(queue, QueueEvent)
    assert (queue.position, queue.size, queue.avg_time) == (4, 7, 12)
    denoise = parse_event(envelope("calling.call.denoise", denoised="TRUE"))
    assert isinstance(denoise, DenoiseEvent) and denoise.denoised is True
    collect = parse_event(envelope("calling.call.collect", final="false"))
    assert isinstance(collect, CollectEvent) and collect.final is False
    error = parse_event(envelope("calling.error", code=404, message="gone"))
    assert isinstance(error, CallingErrorEvent) and error.code == 404
    message = parse_event(envelope("messaging.state", segments="2", media=None, tags=None))
    assert isinstance(message, MessageStateEvent)
    assert (message.segments, message.media, message.tags) == (2, [], [])


def test_missing_params_is_empty() -> None:
    event = parse_event({"event_type": "calling.call.play"})
    assert isinstance(event, PlayEvent)
    assert event.params == {} and event.state is None


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"event_type": "calling.call.play", "params": [1, 2]}, "'params'"),
        ({"event_type": "calling.call.play", "params": "x"}, "'params'"),
        ({"params": {}}, "event_type"),
        ({"event_type": 7, "params": {}}, "event_type"),
        (envelope("calling.call.state", call_id={"a": 1}), "'call_id'"),
        (envelope("calling.call.state", call_id=["c"]), "'call_id'"),
        (envelope("calling.call.queue", id=[1]), "'id'"),
        (envelope("calling.call.pay", **{"for": {}}), "'for'"),
        (envelope("calling.call.record", size="big"), "'size'"),
        (envelope("calling.call.denoise", denoised="maybe"), "'denoised'"),
        (envelope("calling.call.collect", result=[1]), "'result'"),
        (envelope("calling.call.collect", result={"type": "digit", "params": 5}), "result.params"),
        (envelope("calling.call.collect", result={"params": {"digits": {}}}), "digits"),
        (envelope("calling.call.detect", detect={"params": {"beep": "loud"}}), "beep"),
        (envelope("calling.call.dial", call="c1"), "'call'"),
        (envelope("messaging.state", media=[{}]), "'media'"),
        (envelope("calling.call.state", call_state=[]), "'call_state'"),
    ],
)
def test_malformed_events_raise_value_error(payload: Any, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_event(payload)
    assert type(info.value) is ValueError
    assert fragment in str(info.value)
    if isinstance(payload.get("event_type"), str):
        assert payload["event_type"] in str(info.value)


@pytest.mark.parametrize("payload", [None, [], "calling.call.play", 3])
def test_non_mapping_payload_raises_value_error(payload: Any) -> None:
    with pytest.raises(ValueError):
        parse_event(payload)


# --- repr, immutability, classes, enums, constants -----------------------------------


def test_repr_hides_credentials() -> None:
    params = {
        "call_id": "c",
        "authorization_state": "blob-AAA",
        "token": "tok-BBB",
        "nested": {"jwt_token": "jwt-CCC", "password": "pw-DDD", "project": "proj-EEE"},
        "list": [{"token": "tok-FFF"}],
    }
    event = parse_event({"event_type": "calling.call.play", "params": params})
    text = repr(event)
    for secret in ("blob-AAA", "tok-BBB", "jwt-CCC", "pw-DDD", "proj-EEE", "tok-FFF"):
        assert secret not in text
    assert "call_id" in text and "<redacted>" in text
    assert event.params["token"] == "tok-BBB"  # only the rendering is scrubbed


def test_events_are_frozen() -> None:
    event = parse_event(envelope("calling.call.play", state="playing"))
    assert isinstance(event, PlayEvent)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.state = PlayState.FINISHED  # type: ignore[misc]


def test_event_classes_all_subclass_relay_event() -> None:
    expected = {
        CallStateEvent,
        CallReceiveEvent,
        PlayEvent,
        RecordEvent,
        CollectEvent,
        ConnectEvent,
        DetectEvent,
        FaxEvent,
        TapEvent,
        StreamEvent,
        SendDigitsEvent,
        DialEvent,
        ReferEvent,
        DenoiseEvent,
        PayEvent,
        QueueEvent,
        EchoEvent,
        TranscribeEvent,
        HoldEvent,
        ConferenceEvent,
        CallingErrorEvent,
        MessageReceiveEvent,
        MessageStateEvent,
    }
    assert set(EVENT_CLASSES.values()) == expected
    for event_type, cls in EVENT_CLASSES.items():
        assert issubclass(cls, RelayEvent)
        assert attrs.has(cls)
        assert type(parse_event({"event_type": event_type, "params": {}})) is cls


def test_enums_fall_back_to_unknown() -> None:
    assert CallState("weird") is CallState.UNKNOWN
    assert CallState("ANSWERED") is CallState.ANSWERED
    answered: CallState = CallState.ANSWERED
    assert answered == "answered"
    assert f"{CallState.ENDED}" == "ended"
    assert str(PlayState.FINISHED) == "finished"
    for enum_cls in (PlayState, RecordState, ConnectState, DialState, MessageState):
        assert enum_cls("no-such-state") is enum_cls.UNKNOWN


def test_reference_constants() -> None:
    assert CALL_STATE_ANSWERED is CallState.ANSWERED
    assert CALL_STATES == ("created", "ringing", "answered", "ending", "ended")
    assert MESSAGE_TERMINAL_STATES == ("delivered", "undelivered", "failed")
    expected = {
        "EVENT_CALL_STATE": "calling.call.state",
        "EVENT_CALL_RECEIVE": "calling.call.receive",
        "EVENT_CALL_SEND_DIGITS": "calling.call.send_digits",
        "EVENT_CALL_HOLD": "calling.call.hold",
        "EVENT_CONFERENCE": "calling.conference",
        "EVENT_CALLING_ERROR": "calling.error",
        "EVENT_MESSAGING_STATE": "messaging.state",
        "EVENT_AUTHORIZATION_STATE": "signalwire.authorization.state",
        "CONNECT_STATE_DISCONNECTED": "disconnected",
        "PLAY_STATE_PAUSED": "paused",
        "RECORD_STATE_NO_INPUT": "no_input",
        "MESSAGE_STATE_RECEIVED": "received",
        "DETECT_TYPE_MACHINE": "machine",
        "ROOM_STATE_LEAVING": "leaving",
        "COLLECT_RESULT_NO_MATCH": "no_match",
        "DIAL_STATE_FAILED": "failed",
        "END_REASON_CANCEL": "cancel",
    }
    for name, value in expected.items():
        assert getattr(_constants, name) == value, name
        assert getattr(signalwire_relay_trio, name) == value, name
    for module in (_constants, _events):
        for name in module.__all__:
            assert hasattr(module, name), name
            assert hasattr(signalwire_relay_trio, name), name


# --- property: parse_event only ever returns an event or raises ValueError -----------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_field_names = sorted(
    {field.name for cls in EVENT_CLASSES.values() for field in attrs.fields(cls)}
    | {"id", "name", "for", "result", "detect", "fax", "call", "record", "params", "type"}
)
_inner = st.dictionaries(st.sampled_from(_field_names) | st.text(max_size=6), _json, max_size=6)
_payloads = (
    st.fixed_dictionaries(
        {"event_type": st.sampled_from(sorted(EVENT_CLASSES)) | st.text(max_size=10)},
        optional={
            "params": _inner | _json,
            "timestamp": _json,
            "context": _json,
            "event_channel": _json,
            "node_id": _json,
        },
    )
    | st.dictionaries(st.text(max_size=10), _json, max_size=4)
    | _json
)


@settings(max_examples=400, deadline=None)
@given(_payloads)
def test_parse_event_returns_event_or_raises_value_error(payload: Any) -> None:
    try:
        event = parse_event(payload)
    except ValueError as exc:
        assert type(exc) is ValueError
        return
    assert isinstance(event, RelayEvent)
    repr(event)


# -- the generated fast path agrees with cattrs' detailed function --------------------

_WIRE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.sampled_from(["", "1", "2.5", "true", "ended", "finished", "hangup", "x"]),
    st.text(max_size=5),
    st.lists(st.sampled_from(["a", "b"]), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
)


@pytest.mark.parametrize("event_type", sorted(_events._MODELS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_fast_structure_agrees_with_the_detailed_one(event_type: str, data: Any) -> None:
    model = _events._MODELS[event_type]
    names = [model.wire_names.get(f.name, f.name) for f in attrs.fields(model.cls)]
    merged = data.draw(st.dictionaries(st.sampled_from(names), _WIRE_VALUES))
    merged["event_type"] = event_type
    merged["params"] = {}
    try:
        expected: Any = model.structure(dict(merged), model.cls)
    except Exception:
        expected = "refused"
    try:
        got: Any = model.fast(dict(merged))
    except Exception:
        got = "refused"
    assert got == expected
