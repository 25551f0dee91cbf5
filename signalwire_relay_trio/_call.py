"""``Call``: one RELAY call, its state and the reference's methods as trio awaitables.

The reader updates a call synchronously through :meth:`Call._deliver` before
any user code sees the event: state first, then the call's actions, waiters,
``events()`` subscribers and ``on`` listeners. Nothing on that path blocks.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Union

import trio

from ._call_commands import CallCommands
from ._constants import (
    CallState,
)
from ._errors import CallEndedError, EventOverflowError
from ._events import (
    CallStateEvent,
    RelayEvent,
)
from ._state import Latch, wait_within

if TYPE_CHECKING:
    from ._actions import Action
    from ._connection import RelayConnection

__all__ = ["Call", "EventStream"]

logger = logging.getLogger("signalwire_relay_trio.call")

EventHandler = Callable[[RelayEvent], Union[Awaitable[None], None]]
EventPredicate = Callable[[RelayEvent], bool]

DEFAULT_EVENT_BUFFER = 256
# How long hangup() waits for the ``ended`` state after the server acked calling.end.
HANGUP_GRACE = 5.0

# Progress order of call states, for wait_for_<state> (§7.1): a later state
# implies the earlier ones were passed or skipped.
_STATE_RANK = {
    CallState.CREATED: 0,
    CallState.RINGING: 1,
    CallState.ANSWERED: 2,
    CallState.ENDING: 3,
    CallState.ENDED: 4,
}
_STATE_BIT = {state: 1 << rank for state, rank in _STATE_RANK.items()}
_ANY_EVENT: frozenset[str] = frozenset()
_STATE_EVENT = frozenset({"calling.call.state"})
_NO_SCOPE = contextlib.nullcontext()


class _Waiter(Latch):
    """A one-shot wait for an event on this call, settled by the reader."""

    __slots__ = ("error", "event", "event_types", "predicate")

    def __init__(self, event_types: frozenset[str], predicate: EventPredicate | None) -> None:
        super().__init__()
        self.event_types = event_types
        self.predicate = predicate
        self.event: RelayEvent | None = None
        self.error: BaseException | None = None

    def offer(self, event: RelayEvent) -> bool:
        """Take ``event`` if it matches; a predicate that raises fails the wait with it."""
        if self.event_types and event.event_type not in self.event_types:
            return False
        if self.predicate is not None:
            try:
                if not self.predicate(event):
                    return False
            except Exception as exc:
                self.fail(exc)
                return True
        self.event = event
        self.set()
        return True

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.set()

    def taken(self) -> RelayEvent:
        """The event this waiter took; raises what failed it instead."""
        if self.event is not None:
            return self.event
        assert self.error is not None
        raise self.error

    async def result(self) -> RelayEvent:
        await self.wait()
        return self.taken()


class EventStream:
    """The receive side of ``call.events()``: an async iterator of events.

    Iteration ends after the call's ``ended`` event. If the subscriber falls
    more than its buffer behind, it gets :class:`EventOverflowError` once the
    buffered events are read; other subscribers and the call are unaffected.
    """

    def __init__(self, event_types: frozenset[str], max_buffer: int) -> None:
        self.event_types = event_types
        self._send, self._receive = trio.open_memory_channel[RelayEvent](max_buffer)
        self._overflowed = False

    def _push(self, event: RelayEvent) -> None:
        if self._overflowed:
            return
        if self.event_types and event.event_type not in self.event_types:
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self._overflowed = True
            self._send.close()
        except trio.ClosedResourceError:
            pass

    def _close(self) -> None:
        self._send.close()

    async def receive(self) -> RelayEvent:
        """Wait for the next event. Raises ``trio.EndOfChannel`` after the call ended."""
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._overflowed:
                raise EventOverflowError(
                    None, "event subscriber fell too far behind; events were lost"
                ) from None
            raise

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> RelayEvent:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class Call(CallCommands):
    """A RELAY call. Created by the connection; not constructed by users."""

    # Slots: a process may hold thousands of idle calls.
    __slots__ = (
        "__weakref__",
        "_actions",
        "_connection",
        "_end_error",
        "_ended_event",
        "_listeners",
        "_nursery",
        "_passed_states",
        "_queue_controls",
        "_streams",
        "_waiters",
        "call_id",
        "context",
        "device",
        "direction",
        "end_reason",
        "node_id",
        "project_id",
        "segment_id",
        "state",
        "tag",
    )

    def __init__(
        self,
        connection: RelayConnection,
        *,
        call_id: str,
        node_id: str,
        project_id: str | None = None,
        context: str | None = None,
        tag: str | None = None,
        direction: str | None = None,
        device: dict[str, Any] | None = None,
        state: CallState = CallState.CREATED,
        segment_id: str | None = None,
    ) -> None:
        self._connection = connection
        self.call_id = call_id
        self.node_id = node_id
        self.project_id = project_id
        self.context = context
        self.tag = tag
        self.direction = direction
        self.device: dict[str, Any] = device or {}
        self.state = state
        self.segment_id = segment_id
        self.end_reason: str | None = None
        # Bits of the states a state event reported. Only the ``ended`` event
        # is kept: an idle call would otherwise hold each raw event for life.
        self._passed_states = 0
        self._ended_event: CallStateEvent | None = None
        self._actions: dict[str, Action[Any]] | None = None  # control_id -> action
        # Rarely used, so created on first use: thousands of idle calls add up.
        self._listeners: dict[str, list[EventHandler]] | None = None
        self._streams: tuple[EventStream, ...] = ()
        self._waiters: list[_Waiter] = []
        self._end_error: CallEndedError | None = None
        self._nursery: trio.Nursery | None = None
        # queue name -> the control_id of our calling.queue.enter (queue_leave reuses it)
        self._queue_controls: dict[str, str] | None = None

    def __repr__(self) -> str:
        return (
            f"<Call {self.call_id} {self.direction or ''} state={self.state.value}"
            f" context={self.context!r}>"
        )

    # -- facts ------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """True once the call is over for this client (ended, gone or passed)."""
        return self._end_error is not None

    @property
    def active(self) -> bool:
        return self._end_error is None

    @property
    def nursery(self) -> trio.Nursery:
        """The call's task group: work started here ends with the call's handler."""
        if self._nursery is None:
            raise RuntimeError("this call has no task group (it is not run by serve())")
        return self._nursery

    # -- reader side ------------------------------------------------------

    def _deliver(self, event: RelayEvent) -> None:
        """Apply one event. Called by the reader; never blocks, never raises."""
        if isinstance(event, CallStateEvent):
            self._apply_state(event)
        control_id = event.control_id
        if control_id is not None and self._actions:
            action = self._actions.get(control_id)
            if action is not None:
                action._deliver(event)
        if self._waiters:
            self._waiters = [w for w in self._waiters if not w.offer(event)]
        for stream in self._streams:
            stream._push(event)
        if self._listeners is not None:
            handlers = self._listeners.get(event.event_type)
            if handlers:
                for handler in list(handlers):
                    self._run_listener(handler, event)
        if self.state is CallState.ENDED and self._end_error is None:
            self._finish(CallEndedError(None, f"call {self.call_id} has ended"))

    def _apply_state(self, event: CallStateEvent) -> None:
        state = event.call_state
        if state is not None and state is not CallState.UNKNOWN:
            if self.state is CallState.ENDED:
                return  # ended is terminal (§7.1); ignore a stale state
            self.state = state
            self._passed_states |= _STATE_BIT.get(state, 0)
            if state is CallState.ENDED:
                self._ended_event = event
        if event.node_id:
            self.node_id = event.node_id
        if event.segment_id:
            self.segment_id = event.segment_id
        if event.device and event.device != self.device:
            self.device = shared_device(event.device) or {}
        if event.tag and not self.tag:
            self.tag = event.tag
        if event.direction and not self.direction:
            self.direction = event.direction
        if event.end_reason:
            self.end_reason = event.end_reason

    def _run_listener(self, handler: EventHandler, event: RelayEvent) -> None:
        try:
            result = handler(event)
        except Exception:
            logger.exception(
                "call %s: %s listener raised for %s", self.call_id, handler, event.event_type
            )
            return
        if inspect.isawaitable(result):
            self._connection._spawn_listener(self, result, event.event_type)

    def _finish(self, error: CallEndedError) -> None:
        """The call is over for this client: settle everything it owns."""
        if self._end_error is not None:
            return
        self._end_error = error
        actions, self._actions = self._actions, None
        for action in (actions or {}).values():
            action._call_ended(error)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.fail(error)
        for stream in self._streams:
            stream._close()
        self._connection._forget_call(self)

    def _gone(self, error: CallEndedError) -> None:
        """The server said the call is gone (404/410): end it locally."""
        if self._end_error is not None:
            return
        self.state = CallState.ENDED
        self._ended_event = self._ended_event or self._state_event(CallState.ENDED)
        self._finish(error)

    def _state_event(self, state: CallState) -> CallStateEvent:
        """A state event rebuilt from what the call knows, for a state it already passed."""
        params: dict[str, Any] = {
            "call_id": self.call_id,
            "node_id": self.node_id,
            "call_state": state.value,
        }
        for key in ("direction", "tag", "segment_id", "end_reason"):
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        if self.device:
            params["device"] = self.device
        return CallStateEvent(
            event_type="calling.call.state",
            params=params,
            call_id=self.call_id,
            node_id=self.node_id,
            call_state=state,
            direction=self.direction,
            device=self.device or None,
            tag=self.tag,
            segment_id=self.segment_id,
            end_reason=self.end_reason if state is CallState.ENDED else None,
        )

    def _finish_passed(self) -> None:
        self._finish(CallEndedError(None, f"call {self.call_id} was passed"))

    def _finish_transferred(self) -> None:
        self._finish(CallEndedError(None, f"call {self.call_id} was transferred"))

    def _register_action(self, control_id: str, action: Action[Any]) -> None:
        if self._actions is None:
            self._actions = {}
        elif control_id in self._actions:
            raise ValueError(f"control_id {control_id!r} belongs to a running action on this call")
        self._actions[control_id] = action
        self._connection._router.controls[control_id] = self

    def _forget_action(self, control_id: str, action: Action[Any]) -> None:
        if self._actions and self._actions.get(control_id) is action:
            del self._actions[control_id]
        if self._connection._router.controls.get(control_id) is self:
            del self._connection._router.controls[control_id]

    def _expect(self, event_type: str | None, predicate: EventPredicate | None = None) -> _Waiter:
        """Start waiting for an event (any type if None), e.g. before sending its cause."""
        types = _ANY_EVENT if event_type is None else frozenset({str(event_type)})
        return self._add_waiter(types, predicate)

    def _add_waiter(self, types: frozenset[str], predicate: EventPredicate | None) -> _Waiter:
        self._raise_if_ended()
        waiter = _Waiter(types, predicate)
        self._waiters.append(waiter)
        return waiter

    def _drop_waiter(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def _connection_closed(self) -> None:
        self._finish(CallEndedError(None, "the connection closed"))

    # -- events -----------------------------------------------------------

    def on(self, event_type: str, handler: EventHandler) -> None:
        """Call ``handler(event)`` for each event of this type on this call.

        A sync handler runs inside the reader, so keep it short; an async one
        runs as a task in the call's task group and never blocks the reader.
        """
        if self._listeners is None:
            self._listeners = {}
        self._listeners.setdefault(str(event_type), []).append(handler)

    def off(self, event_type: str, handler: EventHandler) -> None:
        """Remove a handler added with :meth:`on` (no error if it is not there)."""
        handlers = (self._listeners or {}).get(str(event_type), [])
        if handler in handlers:
            handlers.remove(handler)

    async def wait_for(
        self,
        event_type: str | None = None,
        predicate: EventPredicate | None = None,
        timeout: float | None = None,
    ) -> RelayEvent:
        """Wait for the next event of ``event_type`` (any type if None) matching ``predicate``.

        Only events that arrive after the call count: to catch the event a
        command causes, subscribe first with :meth:`events` (the server may
        send the event together with the command's ack). Raises
        :class:`CallEndedError` if the call ends first (the ``ended`` state
        event itself can still be waited for), ``trio.TooSlowError`` after
        ``timeout`` seconds.
        """
        waiter = self._expect(event_type, predicate)
        try:
            return await wait_within(timeout, waiter.result)
        finally:
            self._drop_waiter(waiter)

    # The state waits hand back the coroutine of _wait_for_state rather than
    # awaiting it in a frame of their own: an idle call parks in one for life.

    def wait_for_ended(self, timeout: float | None = None) -> Coroutine[Any, Any, CallStateEvent]:
        """Wait until the call has ended and return its ``ended`` state event."""
        return self._wait_for_state(CallState.ENDED, timeout)

    def wait_for_ringing(self, timeout: float | None = None) -> Coroutine[Any, Any, CallStateEvent]:
        """Wait until the call rang (or went past ringing)."""
        return self._wait_for_state(CallState.RINGING, timeout)

    def wait_for_answered(
        self, timeout: float | None = None
    ) -> Coroutine[Any, Any, CallStateEvent]:
        """Wait until the call was answered."""
        return self._wait_for_state(CallState.ANSWERED, timeout)

    def wait_for_ending(self, timeout: float | None = None) -> Coroutine[Any, Any, CallStateEvent]:
        """Wait until the call started ending."""
        return self._wait_for_state(CallState.ENDING, timeout)

    async def _wait_for_state(self, target: CallState, timeout: float | None) -> CallStateEvent:
        """Return once the call reached ``target`` (at once if it already did).

        A call that ends without reaching ``target`` raises
        :class:`CallEndedError`; a call that went past it without reporting
        it (``ringing`` is often skipped) counts as having reached it. A
        state reached before the wait began is returned as an event rebuilt
        from the call's facts (only the ``ended`` event is kept as it came).
        """
        reached = self._reached(target)
        if reached is not None:
            return reached
        # No scope without a timeout, and no nested coroutines: an idle call
        # parks here for its whole life, and each frame costs memory.
        with _NO_SCOPE if timeout is None else trio.fail_after(timeout):
            while True:
                waiter = self._add_waiter(_STATE_EVENT, None)
                try:
                    await waiter.park()
                finally:
                    self._drop_waiter(waiter)
                event = waiter.taken()
                if isinstance(event, CallStateEvent) and event.call_state is target:
                    return event
                reached = self._reached(target)
                if reached is not None:
                    return reached

    def _reached(self, target: CallState) -> CallStateEvent | None:
        if target is CallState.ENDED:
            return self._ended_event
        if self._passed_states & _STATE_BIT[target]:
            return self._state_event(target)
        if self.state is CallState.ENDED or target is CallState.ANSWERED:
            return None  # a call is answered only if it said so
        if _STATE_RANK.get(self.state, -1) > _STATE_RANK[target]:
            return self._state_event(self.state)
        return None

    @asynccontextmanager
    async def events(
        self, *event_types: str, max_buffer: int = DEFAULT_EVENT_BUFFER
    ) -> AsyncIterator[EventStream]:
        """Subscribe to this call's events (all, or of the given types).

        Yields an :class:`EventStream`; iterating it ends after the call
        ended. The subscription is removed when the block exits.
        """
        stream = EventStream(frozenset(str(t) for t in event_types), max_buffer)
        if self._end_error is not None:
            stream._close()
        else:
            self._streams += (stream,)
        try:
            yield stream
        finally:
            self._streams = tuple(s for s in self._streams if s is not stream)

    # -- commands ---------------------------------------------------------

    def _raise_if_ended(self) -> None:
        if self._end_error is not None:
            raise CallEndedError(None, f"call {self.call_id} has ended")

    async def _execute(self, method: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a command for this call; 404/410 end the call and raise CallEndedError."""
        self._raise_if_ended()
        params: dict[str, Any] = {"node_id": self.node_id, "call_id": self.call_id}
        if extra:
            params.update(extra)
        try:
            return await self._connection.execute(method, params)
        except CallEndedError as exc:
            self._gone(exc)
            raise

    async def answer(self, max_duration: int | None = None) -> dict[str, Any]:
        """Answer an inbound call; returns once the call is answered.

        Raises :class:`CallEndedError` if the caller left first.
        """
        extra = {"max_duration": max_duration} if max_duration is not None else None
        result = await self._execute("calling.answer", extra)
        if self._passed_states & _STATE_BIT[CallState.ANSWERED]:
            return result  # the usual case: no deadline scope to set up
        with trio.move_on_after(self._connection._settings.request_timeout):
            await self.wait_for_answered()
            return result
        logger.warning("call %s: answer acked but no answered state arrived", self.call_id)
        return result

    async def hangup(self, reason: str = "hangup") -> dict[str, Any]:
        """End the call; returns once it has ended, as the reference does.

        After the ack it waits (at most ``HANGUP_GRACE`` seconds) for the
        ``ended`` state, so ``call.state`` is ``ended`` afterwards and a
        handler's own hang-up is not repeated by ``serve()``. A no-op
        (returning ``{}``) on a call that already ended.
        """
        if self._end_error is not None:
            return {}
        try:
            result = await self._execute("calling.end", {"reason": reason})
        except CallEndedError:
            return {}
        if self._ended_event is not None:
            return result  # the ended event came with the ack: no scope needed
        # CallEndedError: over some other way (connection closed), nothing left to wait for
        with trio.move_on_after(HANGUP_GRACE), contextlib.suppress(CallEndedError):
            await self.wait_for_ended()
        return result

    async def pass_(self) -> dict[str, Any]:
        """Decline control of an inbound call so another consumer can take it.

        Afterwards this client no longer follows the call: waits on it raise
        :class:`CallEndedError`.
        """
        result = await self._execute("calling.pass")
        self._finish_passed()
        return result


# -- call facts shared between calls -------------------------------------------


def shared_string(value: Any) -> Any:
    """One string object for a value many calls repeat (node, project, context).

    JSON decoding makes a new string per event; a process holding thousands
    of calls would otherwise keep thousands of copies of the same few values.
    """
    return sys.intern(value) if isinstance(value, str) else value


def shared_device(device: Any) -> dict[str, Any] | None:
    """A copy of a device dict with its keys and strings shared (see :func:`shared_string`).

    JSON decoding gives every event fresh key strings too; a device is kept
    for the call's whole life, so it is worth rebuilding once.
    """
    return _shared_value(device) if isinstance(device, dict) else None


def _shared_value(value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {sys.intern(key): _shared_value(item) for key, item in value.items()}
    return value


def same_string(value: Any, known: str | None) -> Any:
    """``known`` itself when ``value`` equals it, so the call holds one string, not two."""
    return known if value == known else value
