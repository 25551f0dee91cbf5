"""The typed ``calling.*`` events: a call's state, and each call command's progress.

Field names follow the wire (RELAY-PROTOCOL.md §5, §7); how each is read from
the nested wire objects is declared in ``_events``, which parses them.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._constants import (
    CallState,
    CollectResultType,
    ConnectState,
    DialState,
    PlayState,
    RecordState,
)
from ._convert import secret_repr
from ._event_base import RelayEvent

__all__ = [
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
    "PayEvent",
    "PlayEvent",
    "QueueEvent",
    "RecordEvent",
    "ReferEvent",
    "SendDigitsEvent",
    "StreamEvent",
    "TapEvent",
    "TranscribeEvent",
]


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
