"""RELAY events: one frozen attrs class per ``event_type``, and ``parse_event``.

``parse_event`` turns the params of a ``signalwire.event`` request (the envelope
holding ``event_type`` and the inner ``params``) into a typed event. It runs for
every event the reader sees, so the structuring functions are generated once at
import and the happy path raises nothing. Typed attributes follow the wire
(RELAY-PROTOCOL.md §5, §7, §9); ``event.params`` keeps the raw inner dict, so
fields this release does not model stay reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.gen import override

from ._constants import (
    END_REASON_ABANDONED,
    END_REASON_BUSY,
    END_REASON_CANCEL,
    END_REASON_DECLINE,
    END_REASON_ERROR,
    END_REASON_HANGUP,
    END_REASON_MAX_DURATION,
    END_REASON_NO_ANSWER,
    END_REASON_NOT_FOUND,
    EVENT_CALL_COLLECT,
    EVENT_CALL_CONNECT,
    EVENT_CALL_DENOISE,
    EVENT_CALL_DETECT,
    EVENT_CALL_DIAL,
    EVENT_CALL_ECHO,
    EVENT_CALL_FAX,
    EVENT_CALL_HOLD,
    EVENT_CALL_PAY,
    EVENT_CALL_PLAY,
    EVENT_CALL_QUEUE,
    EVENT_CALL_RECEIVE,
    EVENT_CALL_RECORD,
    EVENT_CALL_REFER,
    EVENT_CALL_SEND_DIGITS,
    EVENT_CALL_STATE,
    EVENT_CALL_STREAM,
    EVENT_CALL_TAP,
    EVENT_CALL_TRANSCRIBE,
    EVENT_CALLING_ERROR,
    EVENT_CONFERENCE,
    EVENT_MESSAGING_RECEIVE,
    EVENT_MESSAGING_STATE,
    CallState,
    CollectResultType,
    ConnectState,
    DialState,
    MessageState,
    PlayState,
    RecordState,
)
from ._convert import FieldError, WireModel, scrubbed_repr, secret_repr, to_str

__all__ = [
    "EVENT_CLASSES",
    "CallReceiveEvent",
    "CallStateEvent",
    "CallingErrorEvent",
    "CollectEvent",
    "ConferenceEvent",
    "ConnectEvent",
    "DenoiseEvent",
    "DetectEvent",
    "DialEvent",
    "EchoEvent",
    "FaxEvent",
    "HoldEvent",
    "MessageReceiveEvent",
    "MessageStateEvent",
    "PayEvent",
    "PlayEvent",
    "QueueEvent",
    "RecordEvent",
    "ReferEvent",
    "RelayEvent",
    "SendDigitsEvent",
    "StreamEvent",
    "TapEvent",
    "TranscribeEvent",
    "parse_event",
]


# --- Events ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RelayEvent:
    """One ``signalwire.event``. Typed subclasses add the fields of their event type.

    ``params`` is the raw inner dict (unknown fields live only there); the
    envelope facts (``event_channel``, ``timestamp``, ``project_id``,
    ``space_id``, ``context``) come from the envelope, else from ``params``.
    """

    event_type: str
    params: dict[str, Any] = attrs.field(repr=scrubbed_repr)
    event_channel: str | None = None
    timestamp: float | None = None
    project_id: str | None = attrs.field(default=None, repr=secret_repr)
    space_id: str | None = None
    context: str | None = None
    call_id: str | None = None
    node_id: str | None = None
    control_id: str | None = None


@attrs.frozen(kw_only=True)
class _CallInfo(RelayEvent):
    """Fields of the call object, shared by ``calling.call.state`` and ``.receive``."""

    call_state: CallState | None = None
    direction: str | None = None
    device: dict[str, Any] | None = None
    tag: str | None = None
    segment_id: str | None = None
    peer: dict[str, Any] | None = None
    end_reason: str | None = None  # normalised to the END_REASON_* spellings
    end_source: str | None = None
    start_time: float | None = None
    answer_time: float | None = None
    end_time: float | None = None
    created_by: str | None = None
    parent: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class CallStateEvent(_CallInfo):
    """``calling.call.state``: the call moved along created → … → ended."""


@attrs.frozen(kw_only=True)
class CallReceiveEvent(_CallInfo):
    """``calling.call.receive``: an inbound call offered on a subscribed context."""


@attrs.frozen(kw_only=True)
class PlayEvent(RelayEvent):
    """``calling.call.play``; terminal states are finished and error."""

    state: PlayState | None = None


@attrs.frozen(kw_only=True)
class RecordEvent(RelayEvent):
    """``calling.call.record``. url/duration/size are read top-level, else in ``record``."""

    state: RecordState | None = None
    url: str | None = None
    duration: float | None = None
    size: int | None = None
    recording_id: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    pause_behavior: str | None = None
    record: dict[str, Any] | None = None


_COLLECT_ENDS = frozenset(
    {
        CollectResultType.DIGIT,
        CollectResultType.SPEECH,
        CollectResultType.NO_INPUT,
        CollectResultType.NO_MATCH,
        CollectResultType.ERROR,
        CollectResultType.FINISHED,
    }
)


@attrs.frozen(kw_only=True)
class CollectEvent(RelayEvent):
    """``calling.call.collect``: a result, a partial, or a continuous-mode update."""

    result: dict[str, Any] | None = None
    result_type: CollectResultType | None = None
    digits: str | None = None
    terminator: str | None = None
    text: str | None = None
    confidence: float | None = None
    final: bool | None = None
    state: str | None = None

    @property
    def is_final_result(self) -> bool:
        """True when this event ends the collect (the rule of §5.4, after JSRT)."""
        if self.result_type is CollectResultType.START_OF_INPUT:
            return False
        if self.final is False or self.state == "collecting":
            return False
        if self.result_type in _COLLECT_ENDS:
            return True
        return self.state in ("finished", "error")


@attrs.frozen(kw_only=True)
class ConnectEvent(RelayEvent):
    """``calling.call.connect``, routed to the controlling call; ``peer`` is the other leg."""

    connect_state: ConnectState | None = None
    peer: dict[str, Any] | None = None
    failed_reason: str | None = None
    segment_id: str | None = None
    tag: str | None = None


@attrs.frozen(kw_only=True)
class DetectEvent(RelayEvent):
    """``calling.call.detect``: reports continuously until finished or error."""

    detect: dict[str, Any] | None = None
    detect_type: str | None = None
    detect_event: str | None = None
    beep: bool | None = None
    segment_id: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.detect_event in ("finished", "error")


@attrs.frozen(kw_only=True)
class FaxEvent(RelayEvent):
    """``calling.call.fax``: ``page`` progress, then ``finished`` or ``error``."""

    fax: dict[str, Any] | None = None
    fax_type: str | None = None
    direction: str | None = None
    page_number: int | None = None
    pages: int | None = None
    success: bool | None = None
    document: str | None = None
    result: int | None = None
    result_text: str | None = None
    identity: str | None = None
    remote_identity: str | None = None
    format: str | None = None


@attrs.frozen(kw_only=True)
class TapEvent(RelayEvent):
    state: str | None = None
    tap: dict[str, Any] | None = None
    device: dict[str, Any] | None = None
    segment_id: str | None = None
    tag: str | None = None


@attrs.frozen(kw_only=True)
class StreamEvent(RelayEvent):
    state: str | None = None
    url: str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True)
class SendDigitsEvent(RelayEvent):
    state: str | None = None


@attrs.frozen(kw_only=True)
class DialEvent(RelayEvent):
    """``calling.call.dial``, routed by ``tag`` (there is no top-level ``call_id``)."""

    tag: str | None = None
    dial_state: DialState | None = None
    call: dict[str, Any] | None = None
    reason: str | None = None
    source: str | None = None
    winner_call_id: str | None = None  # call.call_id
    dial_winner: bool | None = None  # call.dial_winner, a bool or "true"/"false"


@attrs.frozen(kw_only=True)
class ReferEvent(RelayEvent):
    """``calling.call.refer``: every state but ``inProgress`` is terminal."""

    state: str | None = None
    sip_refer_to: str | None = None
    sip_refer_response_code: str | None = None
    sip_notify_response_code: str | None = None
    segment_id: str | None = None
    tag: str | None = None


@attrs.frozen(kw_only=True)
class DenoiseEvent(RelayEvent):
    denoised: bool | None = None


@attrs.frozen(kw_only=True)
class PayEvent(RelayEvent):
    """``calling.call.pay``: progress in ``for_``, outcome in ``result`` (and/or ``state``)."""

    for_: str | None = None  # "for" on the wire
    state: str | None = None
    result: str | None = None
    error_type: str | None = None
    attempt: int | None = None
    payment_method: str | None = None
    payment_card_number: str | None = None
    payment_card_type: str | None = None
    payment_card_postal_code: str | None = None
    payment_card_security_code: str | None = None
    payment_card_expiration_date: str | None = None
    security_code: str | None = None
    expiration_date: str | None = None
    payment_token: str | None = attrs.field(default=None, repr=secret_repr)
    payment_confirmation_code: str | None = None
    payment_error: str | None = None
    payment_error_code: str | None = None
    connector_error: dict[str, Any] | None = None
    status_url: str | None = None
    status_url_method: str | None = None


@attrs.frozen(kw_only=True)
class QueueEvent(RelayEvent):
    """``calling.call.queue``; the wire's ``id``/``name`` become ``queue_id``/``queue_name``."""

    status: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    position: int | None = None
    size: int | None = None
    avg_time: int | None = None
    enqueue_ts: int | None = None
    dequeue_ts: int | None = None
    leave_ts: int | None = None
    status_url: str | None = None


@attrs.frozen(kw_only=True)
class EchoEvent(RelayEvent):
    state: str | None = None


@attrs.frozen(kw_only=True)
class TranscribeEvent(RelayEvent):
    state: str | None = None
    url: str | None = None
    recording_id: str | None = None
    duration: float | None = None
    size: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    status_url: str | None = None


@attrs.frozen(kw_only=True)
class HoldEvent(RelayEvent):
    state: str | None = None


@attrs.frozen(kw_only=True)
class ConferenceEvent(RelayEvent):
    """``calling.conference``; ``call_id`` is the participant the status is about."""

    conference_id: str | None = None
    name: str | None = None
    status: str | None = None
    size: int | None = None
    segment_id: str | None = None
    region: str | None = None
    tag: str | None = None
    muted: bool | None = None
    hold: bool | None = None
    start_on_join: bool | None = None
    end_on_leave: bool | None = None
    coaching: bool | None = None
    recording_url: str | None = None
    recording_file_size: int | None = None
    recording_duration: float | None = None
    reason_ended: str | None = None
    call_id_ending_conf: str | None = None


@attrs.frozen(kw_only=True)
class CallingErrorEvent(RelayEvent):
    """``calling.error``: an asynchronous problem report; ``code`` is an int."""

    code: int | None = None
    message: str | None = None


@attrs.frozen(kw_only=True)
class _MessageInfo(RelayEvent):
    """The message object shared by ``messaging.receive`` and ``messaging.state``."""

    message_id: str | None = None
    message_state: MessageState | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    body: str | None = None
    media: list[str] = attrs.field(factory=list)
    tags: list[str] = attrs.field(factory=list)
    tag: str | None = None
    segments: int | None = None
    reason: str | None = None
    region: str | None = None


@attrs.frozen(kw_only=True)
class MessageReceiveEvent(_MessageInfo):
    """``messaging.receive``: an inbound message, complete on arrival."""


@attrs.frozen(kw_only=True)
class MessageStateEvent(_MessageInfo):
    """``messaging.state``: delivery progress of a sent message."""


# --- Structuring -----------------------------------------------------------------------

# Every spelling seen on the wire, squashed (lower case, no "_"/"-"), to the reference's.
_END_REASONS = {
    "hangup": END_REASON_HANGUP,
    "cancel": END_REASON_CANCEL,
    "canceled": END_REASON_CANCEL,
    "cancelled": END_REASON_CANCEL,
    "busy": END_REASON_BUSY,
    "noanswer": END_REASON_NO_ANSWER,
    "decline": END_REASON_DECLINE,
    "declined": END_REASON_DECLINE,
    "error": END_REASON_ERROR,
    "abandoned": END_REASON_ABANDONED,
    "maxduration": END_REASON_MAX_DURATION,
    "notfound": END_REASON_NOT_FOUND,
}


def _end_reason(value: object, _type: object = None) -> str | None:
    """Normalise ``end_reason``; a spelling we do not know passes through unchanged."""
    if value is None:
        return None
    text = to_str(value)
    known = _END_REASONS.get(text)
    if known is not None:
        return known
    return _END_REASONS.get(text.replace("_", "").replace("-", "").lower(), text)


_END_REASON_HOOK = override(struct_hook=_end_reason)
_PARAMS_HOOK = override(struct_hook=lambda value, _type: value)  # the raw dict, uncopied


def _model(cls: type[RelayEvent], **options: Any) -> WireModel[RelayEvent]:
    return WireModel.create(cls, params=_PARAMS_HOOK, **options)


_MODELS: dict[str, WireModel[RelayEvent]] = {
    EVENT_CALL_STATE: _model(CallStateEvent, end_reason=_END_REASON_HOOK),
    EVENT_CALL_RECEIVE: _model(CallReceiveEvent, end_reason=_END_REASON_HOOK),
    EVENT_CALL_PLAY: _model(PlayEvent),
    EVENT_CALL_RECORD: _model(
        RecordEvent,
        fallback={"url": "record.url", "duration": "record.duration", "size": "record.size"},
    ),
    EVENT_CALL_COLLECT: _model(
        CollectEvent,
        nested={
            "result_type": "result.type",
            "digits": "result.params.digits",
            "terminator": "result.params.terminator",
            "text": "result.params.text",
            "confidence": "result.params.confidence",
        },
    ),
    EVENT_CALL_CONNECT: _model(ConnectEvent),
    EVENT_CALL_DETECT: _model(
        DetectEvent,
        nested={
            "detect_type": "detect.type",
            "detect_event": "detect.params.event",
            "beep": "detect.params.beep",
        },
    ),
    EVENT_CALL_FAX: _model(
        FaxEvent,
        nested={
            "fax_type": "fax.type",
            "direction": "fax.params.direction",
            "pages": "fax.params.pages",
            "success": "fax.params.success",
            "document": "fax.params.document",
            "result": "fax.params.result",
            "result_text": "fax.params.result_text",
            "identity": "fax.params.identity",
            "remote_identity": "fax.params.remote_identity",
            "format": "fax.params.format",
            "page_number": "fax.params.number",
        },
    ),
    EVENT_CALL_TAP: _model(TapEvent),
    EVENT_CALL_STREAM: _model(StreamEvent),
    EVENT_CALL_SEND_DIGITS: _model(SendDigitsEvent),
    EVENT_CALL_DIAL: _model(
        DialEvent, nested={"winner_call_id": "call.call_id", "dial_winner": "call.dial_winner"}
    ),
    EVENT_CALL_REFER: _model(ReferEvent),
    EVENT_CALL_DENOISE: _model(DenoiseEvent),
    EVENT_CALL_PAY: _model(PayEvent, for_="for"),
    EVENT_CALL_QUEUE: _model(QueueEvent, queue_id="id", queue_name="name"),
    EVENT_CALL_ECHO: _model(EchoEvent),
    EVENT_CALL_TRANSCRIBE: _model(TranscribeEvent),
    EVENT_CALL_HOLD: _model(HoldEvent),
    EVENT_CONFERENCE: _model(ConferenceEvent),
    EVENT_CALLING_ERROR: _model(CallingErrorEvent),
    EVENT_MESSAGING_RECEIVE: _model(MessageReceiveEvent),
    EVENT_MESSAGING_STATE: _model(MessageStateEvent),
}
_PLAIN = _model(RelayEvent)

#: The typed class for each known ``event_type``; anything else is a plain RelayEvent.
EVENT_CLASSES: dict[str, type[RelayEvent]] = {name: m.cls for name, m in _MODELS.items()}

# Envelope facts win over same-named inner fields; the inner ones are the fallback.
_ENVELOPE_KEYS = ("event_channel", "timestamp", "project_id", "space_id", "context")


def parse_event(payload: Mapping[str, Any]) -> RelayEvent:
    """Turn ``signalwire.event`` params into a typed event.

    Unknown event types give a plain ``RelayEvent``. Raises ``ValueError`` naming
    the event type and field when the payload is malformed (no string
    ``event_type``, ``params`` not an object, a field that cannot be coerced);
    the reader logs that and skips the event.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise ValueError(f"malformed event: expected an object, got {type(payload).__name__}")
    event_type = payload.get("event_type")
    if type(event_type) is not str:
        raise ValueError("malformed event: 'event_type' is missing or not a string")
    inner = payload.get("params")
    if type(inner) is not dict:
        if inner is None:
            inner = {}
        elif isinstance(inner, Mapping):
            inner = dict(inner)
        else:
            kind = type(inner).__name__
            raise ValueError(f"malformed {event_type!r} event: 'params' is {kind}, not an object")
    model = _MODELS.get(event_type, _PLAIN)
    merged = dict(inner)
    merged["event_type"] = event_type
    merged["params"] = inner
    for key in _ENVELOPE_KEYS:
        value = payload.get(key)
        if value is not None:
            merged[key] = value
    if "node_id" not in inner and "node_id" in payload:
        merged["node_id"] = payload["node_id"]
    try:
        return model.build(merged)
    except FieldError as exc:
        raise ValueError(f"malformed {event_type!r} event: {exc}") from exc.__cause__
