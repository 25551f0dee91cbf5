"""Operations that take the call's audio elsewhere: tap, stream, transcribe and AI.

* tap: ``tapping``, ``finished`` on stop; stream: ``streaming``, ``finished``.
* transcribe: ``transcribing``, then ``finished`` (with the recording) on
  stop or hang-up. ai: no events at all; it runs until stopped.
"""

from __future__ import annotations

import uuid
from typing import Any

from ._controls import start_operation
from ._dispatch import CommandContext, Reject
from ._operation import FakeOperation, OperationCall
from ._play_record import BYTES_PER_SECOND

__all__ = [
    "AiOperation",
    "StreamOperation",
    "TapOperation",
    "TranscribeOperation",
    "ai",
    "stream",
    "tap",
    "transcribe",
]

JSON = dict[str, Any]

#: Where the fake says tapped media comes from (documentation address range).
SOURCE_DEVICE: JSON = {
    "type": "rtp",
    "params": {"addr": "192.0.2.10", "port": 30000, "codec": "PCMU", "ptime": 20},
}


def _typed(params: JSON, key: str) -> JSON:
    """A ``{"type": str, "params": {...}}`` object (else 400)."""
    value = params.get(key)
    if not isinstance(value, dict):
        raise Reject("400", f"Missing {key}")
    if not isinstance(value.get("type"), str) or not isinstance(value.get("params"), dict):
        raise Reject("400", f"Invalid {key}: expected {{type, params}}")
    return value


class TapOperation(FakeOperation):
    kind = "tap"
    event_type = "calling.call.tap"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        self.tap = _typed(params, "tap")
        self.device = _typed(params, "device")

    def begin(self) -> None:
        self.state = "tapping"
        self.emit({"state": "tapping", "tap": self.tap, "device": self.device})

    def on_stop(self) -> None:
        self.state = "finished"
        self.emit({"state": "finished", "tap": self.tap, "device": self.device})


async def tap(ctx: CommandContext) -> JSON:
    op = TapOperation(ctx.call, ctx.params)
    return start_operation(ctx, op, "Tap started", source_device=SOURCE_DEVICE)


class StreamOperation(FakeOperation):
    kind = "stream"
    event_type = "calling.call.stream"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        url = params.get("url")
        if not isinstance(url, str) or not url:
            raise Reject("400", "Missing url")
        self.url = url

    def _fields(self, state: str) -> JSON:
        fields: JSON = {"state": state, "url": self.url}
        if self.params.get("name") is not None:
            fields["name"] = self.params["name"]
        return fields

    def begin(self) -> None:
        self.state = "streaming"
        self.emit(self._fields("streaming"))

    def on_stop(self) -> None:
        self.state = "finished"
        self.emit(self._fields("finished"))


async def stream(ctx: CommandContext) -> JSON:
    return start_operation(ctx, StreamOperation(ctx.call, ctx.params), "Stream started")


class TranscribeOperation(FakeOperation):
    kind = "transcribe"
    event_type = "calling.call.transcribe"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        self.recording_id = str(uuid.uuid4())
        self.url = f"https://fake-relay.invalid/transcriptions/{self.control_id}.mp3"
        self._start_stamp = 0.0

    def _echo(self) -> JSON:
        status_url = self.params.get("status_url")
        return {"status_url": status_url} if status_url is not None else {}

    def begin(self) -> None:
        self._start_stamp = self.fake.timestamp()
        self.state = "transcribing"
        self.emit({"state": "transcribing", **self._echo()})

    def _finished(self) -> None:
        self.finish("finished")
        duration = self.recorded_seconds()
        self.emit(
            {
                "state": "finished",
                "url": self.url,
                "recording_id": self.recording_id,
                "duration": duration,
                "size": int(duration * BYTES_PER_SECOND),
                "start_time": self._start_stamp,
                "end_time": self.fake.timestamp(),
                **self._echo(),
            }
        )

    def on_stop(self) -> None:
        self._finished()

    def on_hangup(self) -> None:
        if self.call.scripted("record_finalize_on_hangup"):
            self._finished()


async def transcribe(ctx: CommandContext) -> JSON:
    return start_operation(ctx, TranscribeOperation(ctx.call, ctx.params), "Transcribe started")


class AiOperation(FakeOperation):
    """``calling.ai``: no lifecycle event is documented, so the fake sends none."""

    kind = "ai"
    event_type = "calling.call.ai"

    def begin(self) -> None:
        self.state = "running"

    def on_stop(self) -> None:
        self.state = "finished"


async def ai(ctx: CommandContext) -> JSON:
    return start_operation(ctx, AiOperation(ctx.call, ctx.params), "AI started")
