"""The kinds of action: what ends each one, which controls it has, what its ack carries.

One class per operation of the reference (``PlayAction``, ``RecordAction``...).
Each says which event is terminal (``_is_terminal``) and, where the command's
ack carries something, keeps it (``_acknowledged``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._actions import Action
from ._events import (
    CollectEvent,
    DetectEvent,
    FaxEvent,
    PayEvent,
    PlayEvent,
    RecordEvent,
    RelayEvent,
    StreamEvent,
    TapEvent,
    TranscribeEvent,
)

__all__ = [
    "AIAction",
    "CollectAction",
    "DetectAction",
    "FaxAction",
    "PayAction",
    "PlayAction",
    "RecordAction",
    "StandaloneCollectAction",
    "StreamAction",
    "TapAction",
    "TranscribeAction",
]


E = TypeVar("E", bound=RelayEvent)


class _PausableAction(Action[E]):
    """An operation that pauses and resumes (play, record, play-and-collect)."""

    async def pause(self, behavior: str | None = None) -> dict[str, Any]:
        """Pause; ``behavior`` is ``"silence"`` (keep time) or ``"skip"``."""
        return await self._control("pause", {"behavior": behavior} if behavior else None)

    async def resume(self) -> dict[str, Any]:
        return await self._control("resume")


class PlayAction(_PausableAction[PlayEvent]):
    kind = "play"
    event_type = "calling.call.play"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state in ("finished", "error")

    async def volume(self, volume: float) -> dict[str, Any]:
        """Change the playback volume, in dB (-40 to 40)."""
        return await self._control("volume", {"volume": volume})


class RecordAction(_PausableAction[RecordEvent]):
    kind = "record"
    event_type = "calling.call.record"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state in (
            "finished",
            "no_input",
            "error",
        )

    _ack_url: str | None = None

    def _acknowledged(self, result: Mapping[str, Any]) -> None:
        url = result.get("url")
        self._ack_url = url if isinstance(url, str) else None

    @property
    def url(self) -> str | None:
        """Where the recording is (known from the ack; final once finished)."""
        for event in reversed(self.events):
            if isinstance(event, RecordEvent) and event.url:
                return event.url
        return self._ack_url


class _CollectBase(Action[CollectEvent]):
    event_type = "calling.call.collect"

    def _is_terminal(self, event: RelayEvent) -> bool:
        # Play events of play_and_collect share the control_id but never end it.
        return isinstance(event, CollectEvent) and event.is_final_result

    async def start_input_timers(self) -> dict[str, Any]:
        """Start ``initial_timeout`` timers held with ``start_input_timers=False``."""
        return await self._control("start_input_timers", prefix="collect")


class CollectAction(_CollectBase, _PausableAction[CollectEvent]):
    """``play_and_collect``: a prompt, then input; the collect result ends it."""

    kind = "play_and_collect"

    async def volume(self, volume: float) -> dict[str, Any]:
        return await self._control("volume", {"volume": volume})


class StandaloneCollectAction(_CollectBase):
    """``collect`` without a prompt."""

    kind = "collect"


class DetectAction(Action[DetectEvent]):
    """Detection ends on the first result, or when the detector finishes.

    The detector itself reports on after its first result (``NOT_READY``,
    ``READY``... then ``finished``) on the call's events. So ``stop()``
    still stops it after the action resolved on a result, and leaving an
    ``async with`` block does so too: the block bounds the detector.
    """

    kind = "detect"
    event_type = "calling.call.detect"
    _stop_sent = False

    def _is_terminal(self, event: RelayEvent) -> bool:
        if not isinstance(event, DetectEvent):
            return False
        return event.is_finished or bool(event.detect_event)

    def _running_on_server(self) -> bool:
        if not self.is_done:
            return True
        resolved_early = self.result is not None and not self.result.is_finished
        return resolved_early and self._error is None and not self._stop_sent

    async def stop(self) -> dict[str, Any]:
        result = await super().stop()
        self._stop_sent = True
        return result


class FaxAction(Action[FaxEvent]):
    event_type = "calling.call.fax"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return isinstance(event, FaxEvent) and event.fax_type in ("finished", "error")


class TapAction(Action[TapEvent]):
    kind = "tap"
    event_type = "calling.call.tap"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state == "finished"

    source_device: dict[str, Any] | None = None

    def _acknowledged(self, result: Mapping[str, Any]) -> None:
        device = result.get("source_device")
        self.source_device = device if isinstance(device, dict) else None


class StreamAction(Action[StreamEvent]):
    kind = "stream"
    event_type = "calling.call.stream"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state == "finished"


class PayAction(Action[PayEvent]):
    kind = "pay"
    event_type = "calling.call.pay"

    _FINAL_STEPS = frozenset({"payment-completed", "payment-failed", "payment-canceled"})

    def _is_terminal(self, event: RelayEvent) -> bool:
        # Sources disagree on the final signal (§13.17): accept any of the three.
        if not isinstance(event, PayEvent):
            return False
        return bool(
            event.result or event.for_ in self._FINAL_STEPS or event.state in ("finished", "error")
        )


class TranscribeAction(Action[TranscribeEvent]):
    kind = "transcribe"
    event_type = "calling.call.transcribe"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state == "finished"


class AIAction(Action[RelayEvent]):
    """An AI agent session. No lifecycle event is documented: it ends when
    stopped or when the call ends (a ``calling.call.ai`` finished/error is
    honoured if a server sends one)."""

    kind = "ai"
    event_type = "calling.call.ai"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state in ("finished", "error")
