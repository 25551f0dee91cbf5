"""A call's state: the facts and the events the reader applies, and the waits on them.

:class:`CallBase` is what the reader updates, synchronously, before any user
code sees an event: state first, then the call's actions, waiters,
``events()`` subscribers and ``on`` listeners. Nothing on that path blocks.
The reference's commands are built on it in ``_call_media`` and ``_call``;
the connection is seen only through the narrow :class:`~._hosts.CallHost`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar, Union

import trio

from ._actions import Action, ActionStart, CallActions, Completion
from ._call_tasks import CallTaskGroup
from ._constants import CallState
from ._errors import CallEndedError
from ._events import CallStateEvent, RelayEvent
from ._hosts import CallHost
from ._shared_values import shared_device
from ._state import wait_within
from ._subscriptions import (
    EventFeed,
    EventPredicate,
    EventStream,
    EventWaiter,
    run_listener,
)

__all__ = ["HANGUP_GRACE", "CallBase"]

logger = logging.getLogger("signalwire_relay_trio.call")

EventHandler = Callable[[RelayEvent], Union[Awaitable[None], None]]
A = TypeVar("A", bound=Action[Any])

DEFAULT_EVENT_BUFFER = 256
# How long a hang-up (by the handler or by serve() after it) waits for ``ended``.
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
STATE_BIT = {state: 1 << rank for state, rank in _STATE_RANK.items()}
_ANY_EVENT: frozenset[str] = frozenset()
_STATE_EVENT = frozenset({"calling.call.state"})
_NO_SCOPE = contextlib.nullcontext()


class CallBase:
    """A RELAY call's state and events. Made by the connection; not by users.

    The reference's string properties (``call_id``, ``node_id``,
    ``project_id``, ``context``, ``tag``, ``direction``, ``segment_id``) are
    always strings: ``""`` when the server has not said.
    """

    # Slots: a process may hold thousands of idle calls.
    __slots__ = (
        "__weakref__",
        "_actions",
        "_end_error",
        "_ended_event",
        "_feeds",
        "_handler_scope",
        "_host",
        "_listeners",
        "_passed_states",
        "_queue_controls",
        "_serve_nursery",
        "_task_group",
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
        host: CallHost,
        *,
        call_id: str,
        node_id: str,
        project_id: str = "",
        context: str = "",
        tag: str = "",
        direction: str = "",
        device: dict[str, Any] | None = None,
        state: CallState = CallState.CREATED,
        segment_id: str = "",
    ) -> None:
        self._host = host
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
        # Rarely used, so created on first use: thousands of idle calls add up.
        self._actions: CallActions | None = None
        self._listeners: dict[str, list[EventHandler]] | None = None
        self._feeds: tuple[EventFeed, ...] = ()
        self._waiters: list[EventWaiter] = []
        self._end_error: CallEndedError | None = None
        # Under serve(): the handler's scope and the nursery its task runs in; the
        # task group (call.nursery) is made from them on first use.
        self._handler_scope: trio.CancelScope | None = None
        self._serve_nursery: trio.Nursery | None = None
        self._task_group: CallTaskGroup | None = None
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
    def nursery(self) -> CallTaskGroup:
        """The call's task group: work started here ends with the call's handler.

        Only under ``serve()``, while the handler runs. A task that fails here
        cancels the handler, as a nursery of the handler's own would; the
        group is opened on first use, so a handler that starts no task pays
        for none.
        """
        group = self._task_group
        if group is None:
            if self._handler_scope is None or self._serve_nursery is None:
                raise RuntimeError("call.nursery exists only while serve() runs its handler")
            group = self._task_group = CallTaskGroup(
                self._handler_scope, self._serve_nursery, f"call {self.call_id} tasks"
            )
        return group

    def _serve_in(self, scope: trio.CancelScope, nursery: trio.Nursery) -> None:
        """``serve()`` runs this call's handler in ``scope``, as a task of ``nursery``.

        A method rather than a context manager: an idle call sits in its
        handler for its whole life, and a context manager's frame would stay
        with it.
        """
        self._handler_scope = scope
        self._serve_nursery = nursery

    def _task_group_used(self) -> CallTaskGroup | None:
        """The call's task group, if something used it (for ``serve()`` to close)."""
        return self._task_group

    def _handler_over(self) -> None:
        """The handler and its tasks have ended: ``call.nursery`` is gone."""
        self._handler_scope = self._serve_nursery = self._task_group = None

    # -- reader side ------------------------------------------------------

    def _deliver(self, event: RelayEvent) -> None:
        """Apply one event. Called by the reader; never blocks, never raises."""
        if isinstance(event, CallStateEvent):
            self._apply_state(event)
        control_id = event.control_id
        if control_id is not None and self._actions:
            self._actions.deliver(control_id, event)
        if self._waiters:
            self._waiters = [w for w in self._waiters if not w.offer(event)]
        for feed in self._feeds:
            feed.push(event)
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
            self._passed_states |= STATE_BIT.get(state, 0)
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
        run_listener(f"call {self.call_id}", handler, event, self._spawn)

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a listener in the call's task group while its handler runs, else the connection's."""
        if self._handler_scope is not None:
            try:
                self.nursery.start_soon(run, name=name)
                return
            except RuntimeError:  # the group has closed: its handler is ending
                pass
        self._host.spawn(run, name)

    def _finish(self, error: CallEndedError) -> None:
        """The call is over for this client: settle everything it owns."""
        if self._end_error is not None:
            return
        self._end_error = error
        if self._actions is not None:
            self._actions.end_all(error, self._ended_event)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.fail(_own_copy(error))
        for feed in self._feeds:
            feed.close()
        self._host.forget_call(self)

    def _gone(self, error: CallEndedError) -> None:
        """The server said the call is gone (404/410): end it locally."""
        if self._end_error is not None:
            return
        self.state = CallState.ENDED
        self._ended_event = self._ended_event or self._state_event(CallState.ENDED)
        self._finish(error)

    def _end(self, why: str) -> None:
        """This client stops following the call (passed, transferred, connection closed)."""
        self._finish(CallEndedError(None, why))

    def _state_event(self, state: CallState) -> CallStateEvent:
        """A state event rebuilt from what the call knows, for a state it already passed."""
        params: dict[str, Any] = {
            "call_id": self.call_id,
            "node_id": self.node_id,
            "call_state": state.value,
        }
        for key in ("direction", "tag", "segment_id", "end_reason"):
            value = getattr(self, key)
            if value:
                params[key] = value
        if self.device:
            params["device"] = self.device
        return CallStateEvent(
            event_type="calling.call.state",
            params=params,
            call_id=self.call_id,
            node_id=self.node_id,
            call_state=state,
            direction=self.direction or None,
            device=self.device or None,
            tag=self.tag or None,
            segment_id=self.segment_id or None,
            end_reason=self.end_reason if state is CallState.ENDED else None,
        )

    # -- waits ------------------------------------------------------------

    def _expect(
        self, event_type: str | None, predicate: EventPredicate | None = None
    ) -> EventWaiter:
        """Start waiting for an event (any type if None), e.g. before sending its cause."""
        types = _ANY_EVENT if event_type is None else frozenset({str(event_type)})
        return self._add_waiter(types, predicate)

    def _add_waiter(self, types: frozenset[str], predicate: EventPredicate | None) -> EventWaiter:
        self._raise_if_ended()
        waiter = EventWaiter(types, predicate)
        self._waiters.append(waiter)
        return waiter

    def _drop_waiter(self, waiter: EventWaiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

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
        if self._passed_states & STATE_BIT[target]:
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
        feed = EventFeed(frozenset(str(t) for t in event_types), max_buffer)
        if self._end_error is not None:
            feed.close()
        else:
            self._feeds += (feed,)
        try:
            yield feed.stream
        finally:
            self._feeds = tuple(f for f in self._feeds if f is not feed)

    # -- sending commands -------------------------------------------------------

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
            return await self._host.execute(method, params)
        except CallEndedError as exc:
            self._gone(exc)
            raise

    def _start(
        self,
        kind: type[A],
        method: str,
        params: Mapping[str, Any],
        control_id: str | None = None,
        method_prefix: str | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[A]:
        """The :class:`ActionStart` of a long-running command on this call."""
        begin = partial(self._begin, kind, method, params, control_id, method_prefix, on_completed)
        return ActionStart(begin)

    async def _begin(
        self,
        kind: type[A],
        method: str,
        params: Mapping[str, Any],
        control_id: str | None,
        method_prefix: str | None,
        on_completed: Completion | None,
    ) -> A:
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled start registers nothing
        self._raise_if_ended()
        if self._actions is None:
            self._actions = CallActions(
                self, self._host, self._execute, self._gone, self._run_listener
            )
        return await self._actions.begin(
            kind, method, params, control_id, method_prefix, on_completed
        )


def _own_copy(error: CallEndedError) -> CallEndedError:
    """A waiter's own ``CallEndedError``, chained to the one that ended the call.

    One exception object raised in many tasks would collect all their
    tracebacks.
    """
    copy = CallEndedError(error.code, error.message)
    copy.__cause__ = error
    return copy
