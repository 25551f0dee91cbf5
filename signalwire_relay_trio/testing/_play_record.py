"""Playback and recording: ``calling.play`` and ``calling.record`` play out.

Play: ``playing`` at once, ``finished`` when the media ran out (on trio's
clock, frozen while paused), ``paused``/``playing`` on pause/resume,
``finished`` on stop, ``error`` when an item's URL is in
``fake.broken_urls``.

Record: ``recording`` at once; it ends on ``.stop``, on a terminator
digit, after ``caller_speaks_for + end_silence_timeout`` (``finished``) or,
when the caller is silent, after ``initial_timeout`` (``no_input``).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from ._controls import start_operation
from ._dispatch import CommandContext, Reject, number_param
from ._operation import FakeOperation, FakeTimings, OperationCall, OperationWorld

__all__ = [
    "BYTES_PER_SECOND",
    "PlayOperation",
    "RecordOperation",
    "check_media",
    "media_seconds",
    "play",
    "record",
]

JSON = dict[str, Any]

MEDIA_TYPES = ("audio", "tts", "silence", "ringtone")
#: Bytes per recorded second reported as ``size``.
BYTES_PER_SECOND = 16000


def _nested(item: object) -> JSON:
    """A media item in the wire's nested form; a flat one (``{"type": "tts", "text": ...}``,
    as the official SDK sends what its users write) is nested, as the real service does."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise Reject("400", "Invalid media item: expected {type, params}")
    if "params" not in item:
        return {"type": item["type"], "params": {k: v for k, v in item.items() if k != "type"}}
    if not isinstance(item["params"], dict):
        raise Reject("400", "Invalid media item: expected {type, params}")
    return item


def check_media(items: object, key: str = "play") -> list[JSON]:
    """Media items of a known type, nested ``{"type", "params": {...}}`` or flat (else 400).

    Returns them nested.
    """
    if items is None:
        raise Reject("400", f"Missing {key}")
    if not isinstance(items, list) or not items:
        raise Reject("400", f"Invalid {key}: expected a non-empty array of media items")
    items = [_nested(item) for item in items]
    for item in items:
        kind, params = item["type"], item["params"]
        if kind not in MEDIA_TYPES:
            raise Reject("400", f"Unknown media type {kind!r}")
        if kind == "audio" and not isinstance(params.get("url"), str):
            raise Reject("400", "audio needs params.url")
        if kind == "tts" and not isinstance(params.get("text"), str):
            raise Reject("400", "tts needs params.text")
        if kind == "silence" and number_param(params, "duration") is None:
            raise Reject("400", "silence needs params.duration")
        if kind == "ringtone":
            number_param(params, "duration")
    return items


def media_seconds(fake: OperationWorld, item: JSON) -> float:
    """How long one (checked) media item plays."""
    timings: FakeTimings = fake.timings
    kind, params = item["type"], item["params"]
    if kind == "tts":
        return max(timings.tts_min, len(params["text"]) * timings.tts_seconds_per_char)
    if kind == "silence":
        return float(params["duration"])
    if kind == "ringtone":
        duration = params.get("duration")
        return timings.ringtone_seconds if duration is None else float(duration)
    return fake.audio_durations.get(params["url"], timings.audio_seconds)


class PlayOperation(FakeOperation):
    """``calling.play``: ``playing`` -> (``paused`` <-> ``playing``)* -> ``finished``."""

    kind = "play"
    event_type = "calling.call.play"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        self.items = check_media(params.get("play"))
        loop = params.get("loop", 1)
        if isinstance(loop, bool) or not isinstance(loop, int) or loop < 0:
            raise Reject("400", "Invalid loop")
        self.loop = loop

    def begin(self) -> None:
        self.state = "playing"
        self.emit({"state": "playing"})

    async def run(self) -> None:
        rounds = self.loop or math.inf
        done = 0
        while done < rounds:
            for item in self.items:
                url = item["params"].get("url")
                if item["type"] == "audio" and url in self.fake.broken_urls:
                    self.state = "error"
                    self.emit({"state": "error"})
                    self.finish()
                    return
                await self.run_for(media_seconds(self.fake, item))
            done += 1
        self.state = "finished"
        self.emit({"state": "finished"})
        self.finish()

    def on_resume(self) -> None:
        self.state = "playing"
        self.emit({"state": "playing"})


async def play(ctx: CommandContext) -> JSON:
    return start_operation(ctx, PlayOperation(ctx.call, ctx.params), "Playing")


class RecordOperation(FakeOperation):
    """``calling.record``: ``recording`` -> (``paused`` <-> ``recording``)* -> ``finished``."""

    kind = "record"
    event_type = "calling.call.record"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        record = params.get("record")
        if not isinstance(record, dict):
            raise Reject("400", "Missing record")
        audio = record.get("audio", {})
        if not isinstance(audio, dict):
            raise Reject("400", "Invalid record.audio")
        self.audio = audio
        self.initial_timeout = number_param(audio, "initial_timeout")
        self.end_silence_timeout = number_param(audio, "end_silence_timeout")
        terminators = audio.get("terminators", "")
        if not isinstance(terminators, str):
            raise Reject("400", "Invalid terminators")
        self.terminators = terminators
        fmt = audio.get("format", "mp3")
        self.echo = {
            "audio": {
                "format": fmt,
                "direction": audio.get("direction", "speak"),
                "stereo": bool(audio.get("stereo", False)),
            }
        }
        scripted = call.scripted("recording_url")
        self.url: str = scripted or f"https://fake-relay.invalid/recordings/{self.control_id}.{fmt}"
        self.recording_id = str(uuid.uuid4())
        self._start_stamp = 0.0

    def _fields(self, state: str, **extra: Any) -> JSON:
        return {"state": state, "url": self.url, **extra, "record": self.echo}

    def begin(self) -> None:
        self._start_stamp = self.fake.timestamp()
        self.state = "recording"
        self.emit(self._fields("recording"))

    def complete(self, state: str) -> None:
        """The terminal event (``finished``/``no_input``) with url, duration and size."""
        self.finish(state)  # freezes the recorded time first
        duration = self.recorded_seconds()
        self.emit(
            self._fields(
                state,
                duration=duration,
                size=int(duration * BYTES_PER_SECOND),
                recording_id=self.recording_id,
                start_time=self._start_stamp,
                end_time=self.fake.timestamp(),
            )
        )

    async def run(self) -> None:
        speaks = float(self.call.scripted("caller_speaks_for"))
        if self.initial_timeout is not None and speaks <= 0:
            await self.run_for(self.initial_timeout)
            self.complete("no_input")
        elif self.end_silence_timeout is not None:
            await self.run_for(speaks + self.end_silence_timeout)
            self.complete("finished")
        else:
            await super().run()

    def stop(self) -> None:
        if not self.done:
            self.stopped_by = "stop"
            self.complete("finished")

    def hang_up(self) -> None:
        if self.done:
            return
        self.stopped_by = "hangup"
        if self.call.scripted("record_finalize_on_hangup"):
            self.complete("finished")
        else:
            self.finish("ended")

    def take_digit(self, digit: str) -> bool:
        if digit not in self.terminators:
            return False
        self.complete("finished")
        return True

    def on_pause(self) -> None:
        self.state = "paused"
        self.emit(self._fields("paused", pause_behavior=self.pause_behavior))

    def on_resume(self) -> None:
        self.state = "recording"
        self.emit(self._fields("recording"))


async def record(ctx: CommandContext) -> JSON:
    op = RecordOperation(ctx.call, ctx.params)
    return start_operation(ctx, op, "Recording", url=op.url)
