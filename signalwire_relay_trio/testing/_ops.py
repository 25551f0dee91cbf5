"""Long-running call operations: timings, the operation base class and controls.

An operation is what an action command (``calling.play``, ``calling.record``,
...) starts: it is acknowledged, then plays out on trio's clock and reports
through events carrying its ``control_id``. The playouts live in
``_media`` (play, record), ``_input`` (collect, play_and_collect) and
``_operations`` (detect, tap, stream, fax, pay, transcribe, ai, send_digits);
this module holds what they share, and the generic controls
(``calling.<kind>.stop/pause/resume/volume/start_input_timers``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._commands import CommandContext, Reject, ack, command
from ._journal import Notifier

if TYPE_CHECKING:
    from ._server import FakeRelay
    from ._world import FakeCall

__all__ = [
    "DEFAULT_TIMINGS",
    "FakeOperation",
    "FakeTimings",
    "number_param",
    "number_param_signed",
    "start_operation",
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


#: The defaults every new fake copies.
DEFAULT_TIMINGS = FakeTimings()


def number_param(params: JSON, key: str, default: float | None = None) -> float | None:
    """``params[key]`` as a float (``default`` when absent); 400 when not a number."""
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Reject("400", f"Invalid {key}")
    try:
        number = float(value)
    except ValueError:
        raise Reject("400", f"Invalid {key}") from None
    if math.isnan(number) or number < 0:
        raise Reject("400", f"Invalid {key}")
    return number


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

    def __init__(self, call: FakeCall, params: JSON) -> None:
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
    def fake(self) -> FakeRelay:
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


def start_operation(ctx: CommandContext, op: FakeOperation, message: str, **extra: Any) -> JSON:
    """Acknowledge ``op`` and start it right after the ack; 409 if its control_id runs."""
    running = ctx.call.operations.get(op.control_id)
    if running is not None and not running.done:
        raise Reject("409", "control_id already in use")
    ctx.after_reply(op.start)
    return ack(message, call_id=ctx.call.call_id, control_id=op.control_id, **extra)


# -- controls -----------------------------------------------------------------

#: ``calling.<kind>.<control>`` -> the operation kinds it may address.
_CONTROL_KINDS: dict[str, tuple[str, ...]] = {
    "play": ("play",),
    "record": ("record",),
    "play_and_collect": ("play_and_collect",),
    "collect": ("collect", "play_and_collect"),
    "detect": ("detect",),
    "tap": ("tap",),
    "stream": ("stream",),
    "send_fax": ("send_fax",),
    "receive_fax": ("receive_fax",),
    "pay": ("pay",),
    "transcribe": ("transcribe",),
    "ai": ("ai",),
}

_CONTROLS: dict[str, tuple[str, ...]] = {
    "play": ("stop", "pause", "resume", "volume"),
    "record": ("stop", "pause", "resume"),
    "play_and_collect": ("stop", "volume"),
    "collect": ("stop", "start_input_timers"),
    "detect": ("stop",),
    "tap": ("stop",),
    "stream": ("stop",),
    "send_fax": ("stop",),
    "receive_fax": ("stop",),
    "pay": ("stop",),
    "transcribe": ("stop",),
    "ai": ("stop",),
}

_MESSAGES = {
    "stop": "Stopping",
    "pause": "Paused",
    "resume": "Resumed",
    "volume": "Volume set",
    "start_input_timers": "Started input timers",
}

PAUSE_BEHAVIORS = ("silence", "skip")


async def _control(ctx: CommandContext) -> JSON:
    method = ctx.entry.method
    assert method is not None
    kind, _, control = method.removeprefix("calling.").rpartition(".")
    op = ctx.call.operations.get(ctx.params["control_id"])
    # A finished operation is gone for the server too: tolerant clients treat 404 as "done".
    if op is None or op.done or op.kind not in _CONTROL_KINDS[kind]:
        raise Reject("404", "Operation not found")
    if control == "stop":
        ctx.after_reply(op.stop)
    elif control == "pause":
        behavior = ctx.params.get("behavior")
        if kind == "record":
            behavior = behavior or "silence"
            if behavior not in PAUSE_BEHAVIORS:
                raise Reject("400", "Invalid behavior")
        ctx.after_reply(lambda: op.pause(behavior))
    elif control == "resume":
        ctx.after_reply(op.resume)
    elif control == "volume":
        volume = number_param_signed(ctx.params, "volume")
        ctx.after_reply(lambda: op.set_volume(volume))
    else:
        ctx.after_reply(op.start_input_timers)
    return ack(_MESSAGES[control], call_id=ctx.call.call_id, control_id=op.control_id)


def number_param_signed(params: JSON, key: str) -> float:
    """A required number that may be negative (dB); 400 when missing or not a number."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject("400", f"Missing or invalid {key}")
    return float(value)


for _kind, _names in _CONTROLS.items():
    command(*(f"calling.{_kind}.{name}" for name in _names), needs_control_id=True)(_control)
del _kind, _names
