"""``parse_event``: the params of a ``signalwire.event`` turned into a typed event.

``parse_event`` takes the envelope (``event_type`` and the inner ``params``) and
builds the class ``EVENT_CLASSES`` names for its type. It runs for every event
the reader sees, so the structuring functions are generated once at import and
the happy path raises nothing. The classes live in ``_event_base``,
``_call_events`` and ``_messaging_events`` and are re-exported here; each one's
typed attributes follow the wire (RELAY-PROTOCOL.md §5, §7, §9), and
``event.params`` keeps the raw inner dict, so fields this release does not
model stay reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cattrs.gen import override

from ._call_events import (
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
    PayEvent,
    PlayEvent,
    QueueEvent,
    RecordEvent,
    ReferEvent,
    SendDigitsEvent,
    StreamEvent,
    TapEvent,
    TranscribeEvent,
)
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
)
from ._convert import FieldError, WireModel, to_str
from ._event_base import RelayEvent, install_payload_parser
from ._messaging_events import MessageReceiveEvent, MessageStateEvent

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


install_payload_parser(parse_event)
