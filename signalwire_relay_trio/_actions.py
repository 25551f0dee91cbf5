"""Actions: long-running call operations, awaited or owned by an ``async with`` block.

An action is state on an object, settled synchronously by the reader: its
terminal event (or the call's end) sets a ``trio.Event`` that every
``wait()`` awaits. No task or future exists per action.

``call.play(...)`` returns an :class:`ActionStart`. ``await`` it to start the
operation (it returns once the server acked); ``async with`` it to bind the
operation to the block: leaving the block by any path stops a still-running
operation with a shielded, deadline-bounded ``*.stop``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import trio

from ._errors import CallEndedError, RelayError
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
from ._state import wait_within

if TYPE_CHECKING:
    from ._call import Call

__all__ = [
    "AIAction",
    "Action",
    "ActionStart",
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

logger = logging.getLogger("signalwire_relay_trio.actions")

# How long leaving an ``async with`` block may spend stopping the operation.
STOP_GRACE = 5.0
# How long stop() waits for the terminal event before settling locally.
TERMINAL_GRACE = 2.0

E = TypeVar("E", bound=RelayEvent)
A = TypeVar("A", bound="Action[Any]")


class Action(Generic[E]):
    """A running operation on a call, matched to its events by ``control_id``.

    Members follow the reference: ``control_id``, ``is_done``, ``completed``
    (the terminal event arrived), ``result`` (that event, or None) and
    ``await wait()``. ``events`` holds every event of the operation so far.
    """

    kind: ClassVar[str] = ""
    event_type: ClassVar[str] = ""

    def __init__(self, call: Call, control_id: str, method_prefix: str | None = None) -> None:
        self.call = call
        self.control_id = control_id
        self._prefix = method_prefix or self.kind
        self.result: E | None = None
        self.state: str | None = None
        self.events: list[RelayEvent] = []
        self._done = trio.Event()
        self._error: CallEndedError | None = None

    def __repr__(self) -> str:
        status = "done" if self.is_done else "running"
        return f"<{type(self).__name__} {self.control_id} {status} state={self.state!r}>"

    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    @property
    def completed(self) -> bool:
        """True once the terminal event arrived (not when settled by a stop or hang-up)."""
        return self.result is not None

    # -- settled by the reader ------------------------------------------------

    def _deliver(self, event: RelayEvent) -> None:
        if self._done.is_set():
            return
        self.events.append(event)
        state = event.params.get("state")
        if isinstance(state, str) and event.event_type == self.event_type:
            self.state = state
        if self._is_terminal(event):
            self.result = event  # type: ignore[assignment]
            self._settle()

    def _is_terminal(self, event: RelayEvent) -> bool:
        raise NotImplementedError

    def _settle(self) -> None:
        self._done.set()
        self.call._forget_action(self.control_id, self)

    def _call_ended(self, error: CallEndedError) -> None:
        if not self._done.is_set():
            self._error = error
            self._settle()

    def _running_on_server(self) -> bool:
        """True while the server may still be running the operation."""
        return not self._done.is_set()

    # -- user side --------------------------------------------------------------

    async def wait(self, timeout: float | None = None) -> E | None:
        """Wait for the terminal event and return it.

        Returns None only when the operation was stopped and the server sent
        no final event (always the case for ``ai``). Raises
        :class:`CallEndedError` when the call ended first and
        ``trio.TooSlowError`` after ``timeout``. Cancelling a wait leaves the
        operation running.
        """
        await wait_within(timeout, self._done.wait)
        if self._error is not None and self.result is None:
            raise CallEndedError(self._error.code, self._error.message)
        return self.result

    async def _control(
        self, verb: str, extra: Mapping[str, Any] | None = None, *, prefix: str | None = None
    ) -> dict[str, Any]:
        """Send ``calling.<prefix>.<verb>`` for this operation and return the ack.

        A 404 here means the server no longer has the *operation* (it ended
        while the control was on its way), not that the call is gone: it
        raises a plain :class:`RelayError` and leaves the call alone. A 410
        ("call has ended") ends the call and raises :class:`CallEndedError`.
        """
        call = self.call
        call._raise_if_ended()
        params: dict[str, Any] = {
            "node_id": call.node_id,
            "call_id": call.call_id,
            "control_id": self.control_id,
        }
        if extra:
            params.update(extra)
        method = f"calling.{prefix or self._prefix}.{verb}"
        try:
            return await call._connection.execute(method, params)
        except CallEndedError as exc:
            if exc.code == 404:
                raise RelayError(exc.code, exc.message) from None
            call._gone(exc)
            raise

    async def stop(self) -> dict[str, Any]:
        """Stop the operation and wait (briefly) for its terminal event.

        Every waiter is then resolved: with the terminal event, or with
        None if the server sent none within a short grace. A no-op (``{}``)
        on a finished action or an ended call, and when the server no
        longer has the operation (404: it ended as the stop went out).
        """
        if not self._running_on_server():
            return {}
        try:
            result = await self._control("stop")
        except CallEndedError:
            return {}
        except RelayError as exc:
            if exc.code != 404:
                raise
            result = {}  # its final event may still be on the way: wait for it below
        with trio.move_on_after(TERMINAL_GRACE):
            await self._done.wait()
        if not self._done.is_set():
            logger.debug("%s: no terminal event after stop; settling it", self)
            self._settle()
        return result


class PlayAction(Action[PlayEvent]):
    kind = "play"
    event_type = "calling.call.play"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state in ("finished", "error")

    async def pause(self) -> dict[str, Any]:
        return await self._control("pause")

    async def resume(self) -> dict[str, Any]:
        return await self._control("resume")

    async def volume(self, volume: float) -> dict[str, Any]:
        """Change the playback volume, in dB (-40 to 40)."""
        return await self._control("volume", {"volume": volume})


class RecordAction(Action[RecordEvent]):
    kind = "record"
    event_type = "calling.call.record"

    def _is_terminal(self, event: RelayEvent) -> bool:
        return event.event_type == self.event_type and self.state in (
            "finished",
            "no_input",
            "error",
        )

    @property
    def url(self) -> str | None:
        """Where the recording is (known from the ack; final once finished)."""
        for event in reversed(self.events):
            if isinstance(event, RecordEvent) and event.url:
                return event.url
        return self._ack_url

    _ack_url: str | None = None

    async def pause(self, behavior: str | None = None) -> dict[str, Any]:
        """Pause; ``behavior`` is ``"silence"`` (keep time) or ``"skip"``."""
        return await self._control("pause", {"behavior": behavior} if behavior else None)

    async def resume(self) -> dict[str, Any]:
        return await self._control("resume")


class _CollectBase(Action[CollectEvent]):
    event_type = "calling.call.collect"

    def _is_terminal(self, event: RelayEvent) -> bool:
        # Play events of play_and_collect share the control_id but never end it.
        return isinstance(event, CollectEvent) and event.is_final_result

    async def start_input_timers(self) -> dict[str, Any]:
        """Start ``initial_timeout`` timers held with ``start_input_timers=False``."""
        return await self._control("start_input_timers", prefix="collect")


class CollectAction(_CollectBase):
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


class ActionStart(Generic[A]):
    """What ``call.play()`` and friends return: ``await`` it, or ``async with`` it.

    ``await`` starts the operation and returns the action once the server
    acked it. ``async with`` does the same and, when the block exits by any
    path, stops the operation if it still runs (shielded, within
    ``STOP_GRACE`` seconds) so that ``action.is_done`` holds afterwards.
    """

    def __init__(self, start: Callable[[], Awaitable[A]]) -> None:
        self._start = start
        self._action: A | None = None

    def __await__(self) -> Generator[Any, None, A]:
        return self._start().__await__()

    async def __aenter__(self) -> A:
        self._action = await self._start()
        return self._action

    async def __aexit__(self, *exc_info: object) -> None:
        action = self._action
        assert action is not None
        if not action._running_on_server():
            return
        with trio.move_on_after(STOP_GRACE) as scope:
            scope.shield = True
            try:
                await action.stop()
            except RelayError as exc:
                logger.warning("%s: stopping at block exit failed: %s", action, exc)
        if not action.is_done:
            action._settle()


async def start_action(
    call: Call,
    action_class: type[A],
    method: str,
    params: Mapping[str, Any],
    *,
    control_id: str | None = None,
    method_prefix: str | None = None,
) -> A:
    """Register an action, send its command, and return it once acked.

    The action is registered before the request goes out, so an event that
    beats the ack is not lost. A rejected command unregisters it; a
    cancelled one also sends a best-effort stop, since the server may have
    started the operation already. Raises ``ValueError`` if ``control_id``
    belongs to an action still running on this call (it would steal its
    events), :class:`CallEndedError` on an ended call.
    """
    call._raise_if_ended()
    control_id = control_id or str(uuid.uuid4())
    action = action_class(call, control_id, method_prefix)
    call._register_action(control_id, action)
    wire = dict(params)
    wire["control_id"] = control_id
    try:
        result = await call._execute(method, wire)
    except RelayError:
        call._forget_action(control_id, action)
        raise
    except BaseException:
        call._forget_action(control_id, action)
        call._connection._send_and_forget(
            f"calling.{action._prefix}.stop",
            {"node_id": call.node_id, "call_id": call.call_id, "control_id": control_id},
        )
        raise
    if isinstance(action, RecordAction):
        url = result.get("url")
        action._ack_url = url if isinstance(url, str) else None
    elif isinstance(action, TapAction):
        device = result.get("source_device")
        action.source_device = device if isinstance(device, dict) else None
    return action
