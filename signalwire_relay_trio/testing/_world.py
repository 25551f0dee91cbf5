"""The scripted world: the calls the fake server knows.

Calls sit below sessions, command handlers and the server; what a call needs
from those is spelled out as protocols: :class:`World` (the fake relay) and
:class:`Controller` (the session controlling a call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import trio

from ._frames import new_id, new_node_id
from ._journal import JournalEntry, Notifier
from ._operation import FakeOperation, OperationWorld

__all__ = [
    "COMMAND_LIMIT",
    "DIAL_OUTCOMES",
    "DTMF_DIGITS",
    "SCRIPT_DEFAULTS",
    "Controller",
    "FakeCall",
    "World",
    "device_number",
    "microseconds",
]

#: Commands a call keeps in ``commands`` (the latest; older ones are dropped in batches).
COMMAND_LIMIT = 10_000

#: Digits the caller can press.
DTMF_DIGITS = frozenset("0123456789*#ABCD")

#: What ``FakeCall.script`` keys mean when absent (the script starts empty).
SCRIPT_DEFAULTS: dict[str, Any] = {
    "detect": ("HUMAN",),  # machine-detect events, one every timings.detect_gap
    "beep": False,  # add "beep": true to a READY machine event
    "fax_tone": None,  # fax-detect tone: the requested tone, else "CED"
    "recording_url": None,  # record ack/event url (else one made from the control_id)
    "caller_speaks_for": 3.0,  # seconds the caller talks into a recording
    "fax_pages": 2,
    "fax_success": True,
    "pay_result": "success",  # else payment-failed with this result
    "record_finalize_on_hangup": True,  # recordings report `finished` on hang-up
    "refer_state": "success",  # final calling.call.refer state
}

JSON = dict[str, Any]

#: Dial outcome -> the ``end_reason`` of a leg that does not answer.
DIAL_OUTCOMES: dict[str, str | None] = {
    "answer": None,
    "busy": "busy",
    "no_answer": "noAnswer",
    "failure": "error",
    "decline": "decline",
}


class World(OperationWorld, Protocol):
    """What calls and command handlers need from the fake relay."""

    calls: dict[str, FakeCall]
    queues: dict[str, list[FakeCall]]
    conferences: dict[str, JSON]

    def dial_plan(self, device: JSON) -> tuple[str, float]: ...

    def add_dialed_call(self, call: FakeCall) -> None: ...

    def offer_call(self, call: FakeCall) -> bool: ...

    def message_outcome(self, number: str) -> str: ...

    def call_ended(self, call: FakeCall) -> None: ...


class Controller(Protocol):
    """The session controlling a call, as the call sees it: where its events go."""

    protocol: str

    def emit(self, event_type: str, params: JSON, *, context: str | None = None) -> str: ...


def microseconds(world: World) -> int:
    """The fake's clock as queue timestamps carry it."""
    return int(world.timestamp() * 1_000_000)


def device_number(device: JSON) -> str | None:
    """The number or address a device rings: ``to_number`` (phone) or ``to``."""
    params = device.get("params")
    if not isinstance(params, dict):
        return None
    number = params.get("to_number", params.get("to"))
    return number if isinstance(number, str) else None


class FakeCall:
    """A call as the fake server sees it.

    The events of a call go to the session that controls it (``session``);
    with no controlling session (passed by everyone, or its session was
    forgotten) state changes happen silently. ``script`` is free space for
    per-call scripted values (detect results, recording URLs...): see
    :data:`SCRIPT_DEFAULTS` for the keys and their defaults.

    ``operations`` maps each ``control_id`` to its :class:`FakeOperation`;
    ``pending_input`` holds caller input nobody listened to (type-ahead for
    the next collect); ``peer`` is the other leg of a ``calling.connect``.
    """

    def __init__(
        self,
        fake: World,
        *,
        direction: str,
        device: JSON,
        node_id: str | None = None,
        context: str | None = None,
        tag: str | None = None,
        session: Controller | None = None,
    ) -> None:
        self._fake = fake
        self.call_id = new_id()
        self.node_id = node_id or new_node_id()
        self.segment_id = self.call_id
        self.direction = direction
        self.device = device
        self.context = context
        self.tag = tag
        self.session = session
        self.state = "created"
        self.states: list[str] = ["created"]
        self.end_reason: str | None = None
        self.commands: list[JournalEntry] = []
        self.passed_by: list[str] = []
        self.script: dict[str, Any] = {}
        self.operations: dict[str, FakeOperation] = {}
        self.pending_input: list[tuple[str, str]] = []
        self.peer: FakeCall | None = None
        self.held = False
        self.denoised = False
        self.transferred_to: str | None = None
        self.queue_entry: JSON | None = None
        self.end_hooks: list[Callable[[], None]] = []
        # Separate notifiers, so a waiter wakes only for what it waits for
        # (the bench waits for "ended" on hundreds of calls at once).
        self._changed = Notifier()  # operations and states: wait_for_operation
        self._state_waiters: dict[str, Notifier] = {}  # state -> wait_for_state(state)
        self._commands_changed = Notifier()

    def __repr__(self) -> str:
        return f"<FakeCall {self.call_id} {self.direction} {self.state}>"

    @property
    def fake(self) -> World:
        return self._fake

    @property
    def from_number(self) -> str | None:
        params = self.device.get("params", {})
        value = params.get("from_number", params.get("from"))
        return value if isinstance(value, str) else None

    @property
    def to_number(self) -> str | None:
        return device_number(self.device)

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    # -- wire -------------------------------------------------------------

    def call_params(self) -> JSON:
        """The call object as events carry it."""
        params: JSON = {
            "call_state": self.state,
            "direction": self.direction,
            "device": self.device,
            "call_id": self.call_id,
            "node_id": self.node_id,
            "segment_id": self.segment_id,
        }
        if self.tag is not None:
            params["tag"] = self.tag
        if self.end_reason is not None and self.state in ("ending", "ended"):
            params["end_reason"] = self.end_reason
        if self.peer is not None:
            params["peer"] = {"call_id": self.peer.call_id, "node_id": self.peer.node_id}
        return params

    def ids(self) -> JSON:
        """The ids most events about this call start with."""
        return {"node_id": self.node_id, "call_id": self.call_id}

    def emit(self, event_type: str, params: JSON, *, context: str | None = None) -> None:
        """Send an event about this call to its controlling session, if any."""
        if self.session is not None:
            self.session.emit(event_type, params, context=context)

    def set_state(self, state: str, *, end_reason: str | None = None) -> None:
        """Move to ``state`` and send ``calling.call.state``."""
        self.state = state
        self.states.append(state)
        if end_reason is not None:
            self.end_reason = end_reason
        self.emit("calling.call.state", self.call_params())
        waiters = self._state_waiters
        if state == "ended":
            self._fake.call_ended(self)
        if waiters:
            if state == "ended":  # every waiter: the ones still waiting will raise
                for notifier in waiters.values():
                    notifier.notify()
                waiters.clear()
            else:
                waiter = waiters.pop(state, None)
                if waiter is not None:
                    waiter.notify()
        self._changed.notify()

    def end(self, reason: str, *, via_ending: bool = True) -> None:
        """``ending`` (unless ``via_ending`` is false) then ``ended``; no-op once ended.

        Running operations stop in between: recordings and transcriptions send
        their ``finished`` there (between ``ending`` and ``ended``).
        """
        if self.state == "ended":
            return
        if via_ending and self.state != "ending":
            self.set_state("ending", end_reason=reason)
        for op in list(self.operations.values()):
            op.hang_up()
        self.set_state("ended", end_reason=reason)
        hooks, self.end_hooks = self.end_hooks, []
        for hook in hooks:
            hook()

    def notify(self) -> None:
        """Wake whoever waits on this call (operations changed...)."""
        self._changed.notify()

    def scripted(self, key: str) -> Any:
        """``script[key]``, else its default from :data:`SCRIPT_DEFAULTS`."""
        return self.script.get(key, SCRIPT_DEFAULTS[key])

    def record_command(self, entry: JournalEntry) -> None:
        commands = self.commands
        commands.append(entry)
        if len(commands) > COMMAND_LIMIT + COMMAND_LIMIT // 8:  # batched: amortized O(1)
            del commands[: len(commands) - COMMAND_LIMIT]
        self._commands_changed.notify()

    def leave_queue(self) -> JSON | None:
        """Take the call out of its queue; returns its queue entry (None when in none)."""
        entry = self.queue_entry
        if entry is None:
            return None
        self.queue_entry = None
        members = self._fake.queues.get(entry["name"], [])
        if self in members:
            members.remove(self)
        return entry

    def emit_queue_event(self, entry: JSON, status: str) -> None:
        self.emit("calling.call.queue", {"status": status, **entry, **self.ids()})

    # -- test API ---------------------------------------------------------

    async def hangup(self, reason: str = "hangup") -> None:
        """The far end hangs up: ``ending`` then ``ended``; no-op if already ended."""
        self.end(reason)
        await trio.lowlevel.checkpoint()

    async def press(self, digits: str) -> None:
        """The caller presses ``digits`` (DTMF), one after the other.

        Each digit goes to every operation listening for it: a collect or
        play_and_collect, a recording whose ``terminators`` hold it, a digit
        detector. A digit nobody takes is kept in ``pending_input``
        (type-ahead) for the next collect.
        """
        bad = sorted(set(digits) - DTMF_DIGITS)
        if bad:
            raise ValueError(f"not DTMF digits: {bad}")
        for digit in digits:
            taken = False
            for op in list(self.operations.values()):
                if not op.done and op.take_digit(digit):
                    taken = True
            if not taken:
                self.pending_input.append(("digit", digit))
        await trio.lowlevel.checkpoint()

    async def say(self, text: str) -> None:
        """The caller says ``text``: it goes to running collects (else type-ahead).

        Recognition results follow on the collect's own pace (a few
        ``timings.event_gap`` later); this returns at once.
        """
        heard = False
        for op in list(self.operations.values()):
            if not op.done and op.hear(text):
                heard = True
        if not heard:
            self.pending_input.append(("speech", text))
        await trio.lowlevel.checkpoint()

    async def dequeue(self) -> None:
        """An agent takes the call out of its queue: ``calling.call.queue`` ``dequeue``."""
        entry = self.leave_queue()
        if entry is None:
            raise AssertionError(f"call {self.call_id} is not in a queue")
        dequeued = {**entry, "position": 0, "size": 0, "dequeue_ts": microseconds(self._fake)}
        self.emit_queue_event(dequeued, "dequeue")
        await trio.lowlevel.checkpoint()

    async def wait_for_operation(
        self, kind: str | None = None, *, include_done: bool = False
    ) -> FakeOperation:
        """Block until an operation of ``kind`` (any kind if None) is running; return it.

        The oldest match wins; with ``include_done`` finished ones count too.
        """
        while True:
            for op in self.operations.values():
                if kind in (None, op.kind) and (include_done or not op.done):
                    return op
            if self.state == "ended" and not include_done:
                raise AssertionError(f"call {self.call_id} ended with no running {kind} operation")
            await self._changed.wait()

    async def wait_for_state(self, state: str) -> None:
        """Block until the call has reached ``state`` (at once if it already did).

        Raises ``AssertionError`` if the call ends without reaching it.
        """
        while state not in self.states:
            if self.state == "ended":
                raise AssertionError(
                    f"call {self.call_id} ended ({self.end_reason}) before reaching {state!r}; "
                    f"states: {self.states}"
                )
            notifier = self._state_waiters.get(state)
            if notifier is None:
                notifier = self._state_waiters[state] = Notifier()
            await notifier.wait()

    async def wait_for_command(self, method: str) -> JournalEntry:
        """Block until the client sent ``method`` for this call; returns the first one."""
        while True:
            for entry in self.commands:
                if entry.method == method:
                    return entry
            await self._commands_changed.wait()
