"""Long-running call operations: their pace and the base every kind builds on.

An operation is what an action command (``calling.play``, ``calling.record``,
...) starts: it is acknowledged, then plays out on trio's clock and reports
through events carrying its ``control_id``. Each kind lives with its command
(``_play_record``, ``_collect``, ``_detect_and_digits``, ``_media_forks``,
``_fax_and_pay``); this module holds what they share. It sits below
:class:`FakeCall`, so what it needs from a call and from the fake is spelled
out as protocols (:class:`OperationCall`, :class:`OperationWorld`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs
import trio

from ._journal import Notifier

__all__ = [
    "DEFAULT_TIMINGS",
    "FakeOperation",
    "FakeTimings",
    "OperationCall",
    "OperationWorld",
]

JSON = dict[str, Any]


@attrs.define
class FakeTimings:
    """How long things take in the fake world (seconds on trio's clock).

    Every fake has its own copy in ``fake.timings``; change a field to change
    the pace of later operations.
    """

    #: TTS speaks this many seconds per character of text...
    tts_seconds_per_char: float = 0.06
    #: ...but never less than this.
    tts_min: float = 0.5
    #: An ``audio`` item, unless ``fake.audio_durations[url]`` says otherwise.
    audio_seconds: float = 3.0
    #: A ``ringtone`` item without ``duration``.
    ringtone_seconds: float = 3.0
    #: Spacing of events that follow one another (partial speech results...).
    event_gap: float = 0.05
    #: Inter-digit timeout of a collect without ``digits.digit_timeout``.
    digit_timeout: float = 3.0
    #: No-input timeout of a collect without ``initial_timeout``.
    initial_timeout: float = 5.0
    #: Spacing of the classifications of a detector.
    detect_gap: float = 1.0
    #: Default ``timeout`` of ``calling.detect`` (SWML's default).
    detect_timeout: float = 30.0
    #: One fax page, sent or received.
    fax_page_seconds: float = 2.0
    #: One digit of ``calling.send_digits``.
    send_digit_seconds: float = 0.1
    #: One step of ``calling.pay`` (card number, expiry, ...).
    pay_step_seconds: float = 1.0
    #: Between the ``messaging.send`` reply and each ``messaging.state`` that follows.
    message_state_gap: float = 0.05


#: The defaults every new fake copies.
DEFAULT_TIMINGS = FakeTimings()


class OperationWorld(Protocol):
    """What an operation needs from the fake relay."""

    timings: FakeTimings
    audio_durations: dict[str, float]
    broken_urls: set[str]

    def timestamp(self) -> float: ...

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None: ...


class OperationCall(Protocol):
    """What an operation needs from its call (a :class:`FakeCall`)."""

    call_id: str
    node_id: str
    segment_id: str
    direction: str
    pending_input: list[tuple[str, str]]
    operations: dict[str, FakeOperation]

    @property
    def fake(self) -> OperationWorld: ...

    @property
    def from_number(self) -> str | None: ...

    @property
    def to_number(self) -> str | None: ...

    def emit(self, event_type: str, params: JSON, *, context: str | None = None) -> None: ...

    def notify(self) -> None: ...

    def scripted(self, key: str) -> Any: ...


class FakeOperation:
    """One running (or finished) operation on a :class:`FakeCall`.

    Tests read ``fake_call.operations[control_id]``: ``kind`` (``"play"``,
    ``"record"``, ``"collect"``, ...), ``params`` (the command's params),
    ``state`` (the last state reported, e.g. ``"playing"``), ``paused``,
    ``volume`` (dB, ``None`` until set), ``pause_behavior`` (``"silence"`` /
    ``"skip"`` while a recording is paused), ``stopped_by`` (``"stop"``,
    ``"hangup"``, ``"transfer"`` or ``None`` when it ended by itself),
    ``done``, and ``events`` (the inner params of every event it sent).
    """

    kind = "operation"
    #: The event type this operation reports with.
    event_type = ""

    def __init__(self, call: OperationCall, params: JSON) -> None:
        self.call = call
        self.params = params
        control_id = params.get("control_id")
        assert isinstance(control_id, str), "the dispatcher checks control_id"
        self.control_id = control_id
        self.state = "new"
        self.paused = False
        volume = params.get("volume")
        self.volume: float | None = (
            float(volume)
            if isinstance(volume, (int, float)) and not isinstance(volume, bool)
            else None
        )
        self.pause_behavior: str | None = None
        self.stopped_by: str | None = None
        self.done = False
        self.events: list[JSON] = []
        self.started_at = 0.0
        self.ended_at: float | None = None
        self._skipped = 0.0
        self._paused_since = 0.0
        self._scope = trio.CancelScope()
        self._changed = Notifier()

    def __repr__(self) -> str:
        status = "done" if self.done else "running"
        return f"<FakeOperation {self.kind} {self.control_id} {self.state} {status}>"

    @property
    def fake(self) -> OperationWorld:
        return self.call.fake

    @property
    def timings(self) -> FakeTimings:
        return self.call.fake.timings

    # -- events -----------------------------------------------------------

    def emit(self, fields: JSON, event_type: str | None = None) -> JSON:
        """Send one event about this operation (ids first, then ``fields``)."""
        params: JSON = {
            "node_id": self.call.node_id,
            "call_id": self.call.call_id,
            "control_id": self.control_id,
            **fields,
        }
        self.events.append(params)
        self.call.emit(event_type or self.event_type, params)
        self.notify()
        return params

    def notify(self) -> None:
        """Wake the playout (and anyone waiting on the call) after a change."""
        self._changed.notify()
        self.call.notify()

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        """Register, send the first event(s) and start the playout (after the ack)."""
        self.started_at = trio.current_time()
        self.call.operations[self.control_id] = self
        self.begin()
        if not self.done:
            self.fake.spawn(self._run_in_scope)
        self.notify()

    async def _run_in_scope(self) -> None:
        with self._scope:
            await self.run()

    def begin(self) -> None:
        """Synchronous start: the first event, right after the ack."""

    async def run(self) -> None:
        """The playout; the default runs until stopped or hung up."""
        await trio.sleep_forever()

    def finish(self, state: str | None = None) -> None:
        """Mark the operation over (no event) and stop its playout."""
        if state is not None:
            self.state = state
        if self.done:
            return
        if self.paused:
            self._account_pause()
        self.done = True
        self.ended_at = trio.current_time()
        self._scope.cancel()
        self.notify()

    def stop(self) -> None:
        """``.stop`` control (after its ack): the terminal event, then done."""
        if not self.done:
            self.stopped_by = "stop"
            self.on_stop()
            self.finish()

    def on_stop(self) -> None:
        """Send what a stopped operation reports (default: ``state: finished``)."""
        self.state = "finished"
        self.emit({"state": "finished"})

    def hang_up(self) -> None:
        """The call is ending: stop, reporting only what :meth:`on_hangup` sends."""
        if not self.done:
            self.stopped_by = "hangup"
            self.state = "ended"
            self.on_hangup()
            self.finish()

    def on_hangup(self) -> None:
        """Most operations send nothing: the client completes them from ``ended``."""

    def abandon(self, reason: str) -> None:
        """The call left this session (transfer): stop silently."""
        if not self.done:
            self.stopped_by = reason
            self.finish("ended")

    # -- pause / resume / volume / timers ----------------------------------

    def pause(self, behavior: str | None = None) -> None:
        if self.done or self.paused:
            return
        self.paused = True
        self.pause_behavior = behavior
        self._paused_since = trio.current_time()
        self.on_pause()
        self.notify()

    def resume(self) -> None:
        if self.done or not self.paused:
            return
        self._account_pause()
        self.on_resume()
        self.notify()

    def _account_pause(self) -> None:
        if self.pause_behavior == "skip":
            self._skipped += trio.current_time() - self._paused_since
        self.paused = False
        self.pause_behavior = None

    def on_pause(self) -> None:
        self.state = "paused"
        self.emit({"state": "paused"})

    def on_resume(self) -> None:
        """Back to the running state (subclasses say which)."""

    def set_volume(self, volume: float) -> None:
        self.volume = volume
        self.notify()

    def start_input_timers(self) -> None:
        """``calling.collect.start_input_timers``; only collects care."""

    # -- caller input -----------------------------------------------------

    def take_digit(self, digit: str) -> bool:
        """Offer a DTMF digit from the caller; True if this operation consumed it."""
        return False

    def hear(self, text: str) -> bool:
        """Offer speech from the caller; True if this operation listened."""
        return False

    # -- time -------------------------------------------------------------

    def recorded_seconds(self) -> float:
        """Seconds since the start, without spans paused with behavior ``skip``."""
        end = self.ended_at if self.ended_at is not None else trio.current_time()
        skipped = self._skipped
        if self.paused and self.pause_behavior == "skip":
            skipped += end - self._paused_since
        return round(max(0.0, end - self.started_at - skipped), 3)

    async def run_for(self, seconds: float, stop_when: Callable[[], bool] | None = None) -> bool:
        """Sleep ``seconds`` of unpaused time (the clock freezes while paused).

        Returns False as soon as ``stop_when()`` holds (checked on every change).
        """
        remaining = seconds
        while True:
            if stop_when is not None and stop_when():
                return False
            if remaining <= 0:
                return True
            if self.paused:
                await self._changed.wait()
                continue
            start = trio.current_time()
            with trio.move_on_after(remaining) as scope:
                await self._changed.wait()
            if scope.cancelled_caught:
                return True
            remaining -= trio.current_time() - start

    async def wait_done(self) -> None:
        """Block until the operation is over."""
        while not self.done:
            await self._changed.wait()
