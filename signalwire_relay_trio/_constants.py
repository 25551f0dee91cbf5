"""The reference's states and constants: wire enums and the names it exports.

The event classes and ``parse_event`` are reached through ``_events``; these
are the plain names (states, event types, end reasons) that user code compares
against.
"""

from __future__ import annotations

from ._convert import WireEnum

__all__ = [
    "CALL_STATES",
    "CALL_STATE_ANSWERED",
    "CALL_STATE_CREATED",
    "CALL_STATE_ENDED",
    "CALL_STATE_ENDING",
    "CALL_STATE_RINGING",
    "COLLECT_RESULT_DIGIT",
    "COLLECT_RESULT_ERROR",
    "COLLECT_RESULT_FINISHED",
    "COLLECT_RESULT_NO_INPUT",
    "COLLECT_RESULT_NO_MATCH",
    "COLLECT_RESULT_SPEECH",
    "COLLECT_RESULT_START_OF_INPUT",
    "CONNECT_STATE_CONNECTED",
    "CONNECT_STATE_CONNECTING",
    "CONNECT_STATE_DISCONNECTED",
    "CONNECT_STATE_FAILED",
    "DETECT_TYPE_DIGIT",
    "DETECT_TYPE_FAX",
    "DETECT_TYPE_MACHINE",
    "DIAL_STATE_ANSWERED",
    "DIAL_STATE_DIALING",
    "DIAL_STATE_FAILED",
    "END_REASON_ABANDONED",
    "END_REASON_BUSY",
    "END_REASON_CANCEL",
    "END_REASON_DECLINE",
    "END_REASON_ERROR",
    "END_REASON_HANGUP",
    "END_REASON_MAX_DURATION",
    "END_REASON_NOT_FOUND",
    "END_REASON_NO_ANSWER",
    "EVENT_AUTHORIZATION_STATE",
    "EVENT_CALLING_ERROR",
    "EVENT_CALL_COLLECT",
    "EVENT_CALL_CONNECT",
    "EVENT_CALL_DENOISE",
    "EVENT_CALL_DETECT",
    "EVENT_CALL_DIAL",
    "EVENT_CALL_ECHO",
    "EVENT_CALL_FAX",
    "EVENT_CALL_HOLD",
    "EVENT_CALL_PAY",
    "EVENT_CALL_PLAY",
    "EVENT_CALL_QUEUE",
    "EVENT_CALL_RECEIVE",
    "EVENT_CALL_RECORD",
    "EVENT_CALL_REFER",
    "EVENT_CALL_SEND_DIGITS",
    "EVENT_CALL_STATE",
    "EVENT_CALL_STREAM",
    "EVENT_CALL_TAP",
    "EVENT_CALL_TRANSCRIBE",
    "EVENT_CONFERENCE",
    "EVENT_MESSAGING_RECEIVE",
    "EVENT_MESSAGING_STATE",
    "MESSAGE_STATE_DELIVERED",
    "MESSAGE_STATE_FAILED",
    "MESSAGE_STATE_INITIATED",
    "MESSAGE_STATE_QUEUED",
    "MESSAGE_STATE_RECEIVED",
    "MESSAGE_STATE_SENT",
    "MESSAGE_STATE_UNDELIVERED",
    "MESSAGE_TERMINAL_STATES",
    "PLAY_STATE_ERROR",
    "PLAY_STATE_FINISHED",
    "PLAY_STATE_PAUSED",
    "PLAY_STATE_PLAYING",
    "RECORD_STATE_ERROR",
    "RECORD_STATE_FINISHED",
    "RECORD_STATE_NO_INPUT",
    "RECORD_STATE_PAUSED",
    "RECORD_STATE_RECORDING",
    "ROOM_STATE_JOIN",
    "ROOM_STATE_JOINING",
    "ROOM_STATE_LEAVE",
    "ROOM_STATE_LEAVING",
    "CallState",
    "CollectResultType",
    "ConnectState",
    "DialState",
    "MessageState",
    "PlayState",
    "RecordState",
]


# --- States ---------------------------------------------------------------------------


class CallState(WireEnum):
    """``call_state`` of a call, in wire order; anything else is ``UNKNOWN``."""

    CREATED = "created"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDING = "ending"
    ENDED = "ended"
    UNKNOWN = "unknown"


class PlayState(WireEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    FINISHED = "finished"
    ERROR = "error"
    UNKNOWN = "unknown"


class RecordState(WireEnum):
    RECORDING = "recording"
    PAUSED = "paused"
    FINISHED = "finished"
    NO_INPUT = "no_input"
    ERROR = "error"
    UNKNOWN = "unknown"


class ConnectState(WireEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    UNKNOWN = "unknown"


class DialState(WireEnum):
    DIALING = "dialing"
    ANSWERED = "answered"
    FAILED = "failed"
    UNKNOWN = "unknown"


class MessageState(WireEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"
    UNKNOWN = "unknown"


class CollectResultType(WireEnum):
    """``result.type`` of a collect event (§5.4)."""

    DIGIT = "digit"
    SPEECH = "speech"
    NO_INPUT = "no_input"
    NO_MATCH = "no_match"
    ERROR = "error"
    START_OF_INPUT = "start_of_input"
    FINISHED = "finished"
    UNKNOWN = "unknown"


# --- The reference's constants ----------------------------------------------------------

CALL_STATE_CREATED = CallState.CREATED
CALL_STATE_RINGING = CallState.RINGING
CALL_STATE_ANSWERED = CallState.ANSWERED
CALL_STATE_ENDING = CallState.ENDING
CALL_STATE_ENDED = CallState.ENDED
CALL_STATES = (
    CALL_STATE_CREATED,
    CALL_STATE_RINGING,
    CALL_STATE_ANSWERED,
    CALL_STATE_ENDING,
    CALL_STATE_ENDED,
)

END_REASON_HANGUP = "hangup"
END_REASON_CANCEL = "cancel"
END_REASON_BUSY = "busy"
END_REASON_NO_ANSWER = "noAnswer"
END_REASON_DECLINE = "decline"
END_REASON_ERROR = "error"
END_REASON_ABANDONED = "abandoned"
END_REASON_MAX_DURATION = "max_duration"
END_REASON_NOT_FOUND = "not_found"

CONNECT_STATE_CONNECTING = ConnectState.CONNECTING
CONNECT_STATE_CONNECTED = ConnectState.CONNECTED
CONNECT_STATE_DISCONNECTED = ConnectState.DISCONNECTED
CONNECT_STATE_FAILED = ConnectState.FAILED

DIAL_STATE_DIALING = DialState.DIALING
DIAL_STATE_ANSWERED = DialState.ANSWERED
DIAL_STATE_FAILED = DialState.FAILED

EVENT_AUTHORIZATION_STATE = "signalwire.authorization.state"
EVENT_CALL_STATE = "calling.call.state"
EVENT_CALL_RECEIVE = "calling.call.receive"
EVENT_CALL_CONNECT = "calling.call.connect"
EVENT_CALL_PLAY = "calling.call.play"
EVENT_CALL_COLLECT = "calling.call.collect"
EVENT_CALL_RECORD = "calling.call.record"
EVENT_CALL_DETECT = "calling.call.detect"
EVENT_CALL_FAX = "calling.call.fax"
EVENT_CALL_TAP = "calling.call.tap"
EVENT_CALL_SEND_DIGITS = "calling.call.send_digits"
EVENT_CALL_DIAL = "calling.call.dial"
EVENT_CALL_REFER = "calling.call.refer"
EVENT_CALL_DENOISE = "calling.call.denoise"
EVENT_CALL_PAY = "calling.call.pay"
EVENT_CALL_QUEUE = "calling.call.queue"
EVENT_CALL_STREAM = "calling.call.stream"
EVENT_CALL_ECHO = "calling.call.echo"
EVENT_CALL_TRANSCRIBE = "calling.call.transcribe"
EVENT_CALL_HOLD = "calling.call.hold"
EVENT_CONFERENCE = "calling.conference"
EVENT_CALLING_ERROR = "calling.error"
EVENT_MESSAGING_RECEIVE = "messaging.receive"
EVENT_MESSAGING_STATE = "messaging.state"

MESSAGE_STATE_QUEUED = MessageState.QUEUED
MESSAGE_STATE_INITIATED = MessageState.INITIATED
MESSAGE_STATE_SENT = MessageState.SENT
MESSAGE_STATE_DELIVERED = MessageState.DELIVERED
MESSAGE_STATE_UNDELIVERED = MessageState.UNDELIVERED
MESSAGE_STATE_FAILED = MessageState.FAILED
MESSAGE_STATE_RECEIVED = MessageState.RECEIVED
MESSAGE_TERMINAL_STATES = (
    MESSAGE_STATE_DELIVERED,
    MESSAGE_STATE_UNDELIVERED,
    MESSAGE_STATE_FAILED,
)

PLAY_STATE_PLAYING = PlayState.PLAYING
PLAY_STATE_PAUSED = PlayState.PAUSED
PLAY_STATE_FINISHED = PlayState.FINISHED
PLAY_STATE_ERROR = PlayState.ERROR

RECORD_STATE_RECORDING = RecordState.RECORDING
RECORD_STATE_PAUSED = RecordState.PAUSED
RECORD_STATE_FINISHED = RecordState.FINISHED
RECORD_STATE_NO_INPUT = RecordState.NO_INPUT
RECORD_STATE_ERROR = RecordState.ERROR

COLLECT_RESULT_DIGIT = CollectResultType.DIGIT
COLLECT_RESULT_SPEECH = CollectResultType.SPEECH
COLLECT_RESULT_NO_INPUT = CollectResultType.NO_INPUT
COLLECT_RESULT_NO_MATCH = CollectResultType.NO_MATCH
COLLECT_RESULT_ERROR = CollectResultType.ERROR
COLLECT_RESULT_START_OF_INPUT = CollectResultType.START_OF_INPUT
COLLECT_RESULT_FINISHED = CollectResultType.FINISHED

DETECT_TYPE_MACHINE = "machine"
DETECT_TYPE_FAX = "fax"
DETECT_TYPE_DIGIT = "digit"

ROOM_STATE_JOINING = "joining"
ROOM_STATE_JOIN = "join"
ROOM_STATE_LEAVING = "leaving"
ROOM_STATE_LEAVE = "leave"
