"""Actions: long-running call operations, awaited or owned by an ``async with`` block.

An action is state on an object, settled synchronously by the reader: its
terminal event (or the call's end) sets a ``trio.Event`` that every
``wait()`` awaits. No task or future exists per action.

``call.play(...)`` returns an :class:`ActionStart`. ``await`` it to start the
operation (it returns once the server acked); ``async with`` it to bind the
operation to the block: leaving the block by any path stops a still-running
operation with a shielded, deadline-bounded ``*.stop``.

An action talks to its call only through :class:`CallActions`, the call's
table of running actions, which the call creates with the few things an
action needs (the call's identity, a way to send a command for the call, and
a way to tell the call the server no longer has it). Each kind of action (in
``_action_kinds``) says what ends it and what its ack carries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar, Union

import trio

from ._errors import CallEndedError, RelayError
from ._events import RelayEvent
from ._hosts import CallHost
from ._state import wait_within

__all__ = ["Action", "ActionStart", "CallActions", "Completion"]

logger = logging.getLogger("signalwire_relay_trio.actions")

# How long leaving an ``async with`` block may spend stopping the operation.
STOP_GRACE = 5.0
# How long stop() waits for the terminal event before settling locally.
TERMINAL_GRACE = 2.0

E = TypeVar("E", bound=RelayEvent)
A = TypeVar("A", bound="Action[Any]")

Execute = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]
#: ``on_completed=``: called once with the event that ended the action.
Completion = Callable[[RelayEvent], Union[Awaitable[Any], None]]
Notify = Callable[[Completion, RelayEvent], None]


class ActionCall(Protocol):
    """What an action knows of its call: who it is and whether it is still up."""

    @property
    def call_id(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    @property
    def active(self) -> bool: ...


class Action(Generic[E]):
    """A running operation on a call, matched to its events by ``control_id``.

    Members follow the reference: ``control_id``, ``is_done``, ``completed``
    (the terminal event arrived), ``result`` (that event, or None) and
    ``await wait()``. ``events`` holds every event of the operation so far.
    """

    kind: ClassVar[str] = ""
    event_type: ClassVar[str] = ""

    def __init__(
        self,
        actions: CallActions,
        control_id: str,
        method_prefix: str | None,
        on_completed: Completion | None = None,
    ) -> None:
        self.call = actions.call
        self.control_id = control_id
        self._actions = actions
        self._prefix = method_prefix or self.kind
        self.result: E | None = None
        self.state: str | None = None
        self.events: list[RelayEvent] = []
        self._done = trio.Event()
        self._error: CallEndedError | None = None
        self._on_completed = on_completed

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

    # -- hooks of each kind -------------------------------------------------------

    def _is_terminal(self, event: RelayEvent) -> bool:
        raise NotImplementedError

    def _acknowledged(self, result: Mapping[str, Any]) -> None:
        """Keep what the command's ack carries (a recording URL, a tap's source)."""

    def _running_on_server(self) -> bool:
        """True while the server may still be running the operation."""
        return not self._done.is_set()

    # -- settled by the reader --------------------------------------------------------

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

    def _settle(self) -> None:
        self._done.set()
        self._actions.forget(self)
        callback, self._on_completed = self._on_completed, None
        if callback is not None:
            self._actions.completed(self, callback)

    def _call_ended(self, error: CallEndedError) -> None:
        if not self._done.is_set():
            self._error = error
            self._settle()

    # -- user side --------------------------------------------------------------------

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
            raise CallEndedError(self._error.code, self._error.message) from self._error
        return self.result

    async def _control(
        self, verb: str, extra: Mapping[str, Any] | None = None, *, prefix: str | None = None
    ) -> dict[str, Any]:
        """Send ``calling.<prefix>.<verb>`` for this operation and return the ack."""
        params: dict[str, Any] = {"control_id": self.control_id}
        if extra:
            params.update(extra)
        return await self._actions.control(f"calling.{prefix or self._prefix}.{verb}", params)

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

    async def _release(self) -> None:
        """Leave an ``async with`` block: stop the operation if it still runs, shielded."""
        if not self._running_on_server():
            return
        with trio.move_on_after(STOP_GRACE) as scope:
            scope.shield = True
            try:
                await self.stop()
            except RelayError as exc:
                logger.warning("%s: stopping at block exit failed: %s", self, exc)
        if not self.is_done:
            self._settle()


class ActionStart(Coroutine[Any, Any, A]):
    """What ``call.play()`` and friends return: ``await`` it, or ``async with`` it.

    ``await`` starts the operation and returns the action once the server
    acked it. ``async with`` does the same and, when the block exits by any
    path, stops the operation if it still runs (shielded, within
    ``STOP_GRACE`` seconds) so that ``action.is_done`` holds afterwards.

    It is also a coroutine, so ``nursery.start_soon(call.play, media)``
    starts the operation in that task. Nothing is sent until it is awaited,
    entered or run.
    """

    def __init__(self, start: Callable[[], Awaitable[A]]) -> None:
        self._start = start
        self._action: A | None = None
        self._steps: Generator[Any, None, A] | None = None

    def __await__(self) -> Generator[Any, None, A]:
        return self._start().__await__()

    def _stepper(self) -> Generator[Any, None, A]:
        if self._steps is None:
            self._steps = self.__await__()
        return self._steps

    def send(self, value: Any) -> Any:
        return self._stepper().send(value)

    def throw(self, *exc_info: Any) -> Any:
        return self._stepper().throw(*exc_info)

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()

    async def __aenter__(self) -> A:
        self._action = await self._start()
        return self._action

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._action is not None
        await self._action._release()


class CallActions:
    """The actions running on one call, by ``control_id``: their host.

    Made by the call on its first action (an idle call holds none). The
    call hands it ``execute``, which sends a command for the call and ends
    the call on 404/410, and ``gone``, which ends the call locally.
    """

    __slots__ = ("_ended_event", "_execute", "_gone", "_host", "_notify", "_running", "call")

    def __init__(
        self,
        call: ActionCall,
        host: CallHost,
        execute: Execute,
        gone: Callable[[CallEndedError], None],
        notify: Notify,
    ) -> None:
        self.call = call
        self._host = host
        self._execute = execute
        self._gone = gone
        self._notify = notify
        self._running: dict[str, Action[Any]] = {}
        self._ended_event: RelayEvent | None = None

    def __len__(self) -> int:
        return len(self._running)

    async def begin(
        self,
        kind: type[A],
        method: str,
        params: Mapping[str, Any],
        control_id: str | None,
        method_prefix: str | None,
        on_completed: Completion | None = None,
    ) -> A:
        """Register an action, send its command, and return it once acked.

        The action is registered before the request goes out, so an event
        that beats the ack is not lost. A rejected command unregisters it; a
        cancelled one also sends a best-effort stop, since the server may
        have started the operation already. Raises ``ValueError`` if
        ``control_id`` belongs to an action still running on this call (it
        would steal its events).
        """
        control_id = control_id or str(uuid.uuid4())
        if control_id in self._running:
            raise ValueError(f"control_id {control_id!r} belongs to a running action on this call")
        prefix = method_prefix or kind.kind
        action = kind(self, control_id, prefix, on_completed)
        self._running[control_id] = action
        self._host.register_control(control_id, self.call)
        wire = dict(params)
        wire["control_id"] = control_id
        try:
            result = await self._execute(method, wire)
        except RelayError:
            self.forget(action)
            raise
        except BaseException:
            self.forget(action)
            call = self.call
            self._host.send_nowait(
                f"calling.{prefix}.stop",
                {"node_id": call.node_id, "call_id": call.call_id, "control_id": control_id},
            )
            raise
        action._acknowledged(result)
        return action

    async def control(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a control for one of this call's operations and return the ack.

        A 404 here means the server no longer has the *operation* (it ended
        while the control was on its way), not that the call is gone: it
        raises a plain :class:`RelayError` and leaves the call alone. A 410
        ("call has ended") ends the call and raises :class:`CallEndedError`.
        """
        call = self.call
        if not call.active:
            raise CallEndedError(None, f"call {call.call_id} has ended")
        params = {"node_id": call.node_id, "call_id": call.call_id, **params}
        try:
            return await self._host.execute(method, params)
        except CallEndedError as exc:
            if exc.code == 404:
                raise RelayError(exc.code, exc.message) from None
            self._gone(exc)
            raise

    def completed(self, action: Action[Any], callback: Completion) -> None:
        """Run an action's ``on_completed`` with the event that ended it.

        That is its terminal event; or, when it ended without one, the call's
        ``ended`` state event (the call ended), else an empty ``RelayEvent``
        (``event_type == ""``) naming the call and control id.
        """
        event = action.result or self._ended_event
        if event is None:
            call_id, control_id = self.call.call_id, action.control_id
            ids = {"call_id": call_id, "control_id": control_id}
            event = RelayEvent(event_type="", params=ids, call_id=call_id, control_id=control_id)
        self._notify(callback, event)

    def forget(self, action: Action[Any]) -> None:
        control_id = action.control_id
        if self._running.get(control_id) is action:
            del self._running[control_id]
        self._host.forget_control(control_id, self.call)

    def deliver(self, control_id: str, event: RelayEvent) -> None:
        action = self._running.get(control_id)
        if action is not None:
            action._deliver(event)

    def end_all(self, error: CallEndedError, ended_event: RelayEvent | None) -> None:
        """The call ended: settle every action still running."""
        self._ended_event = ended_event
        running, self._running = self._running, {}
        for action in running.values():
            action._call_ended(error)
