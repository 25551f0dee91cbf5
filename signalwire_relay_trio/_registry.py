"""What a connection follows: calls, their control ids, pending dials, sent messages.

:class:`CallRegistry` owns those maps (through the sans-I/O
:class:`~._routing.EventRouter`, which decides where an event goes) and keeps
them consistent: a call is forgotten once, a control id is dropped only by
the call it points to. It is also the :class:`~._hosts.CallHost` every call
and action talks to, so none of them sees the connection itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import trio

from ._call import Call
from ._constants import CallState
from ._events import MessageStateEvent, RelayEvent
from ._link import Link
from ._message import Message
from ._routing import EventRouter, Route
from ._shared_values import same_string, shared_device, shared_string

__all__ = ["CallRegistry", "DialTarget"]

logger = logging.getLogger("signalwire_relay_trio")

EARLY_MESSAGE_EVENTS = 256
# How many ended call ids are remembered, so a late re-sent receive starts nothing.
ENDED_CALLS_REMEMBERED = 1024


def _text(value: Any) -> str:
    """A string fact of the wire, or ``""`` when it is missing or not a string."""
    return value if isinstance(value, str) else ""


class DialTarget(Protocol):
    """A dial in flight, as the reader sees it: it takes its legs' events."""

    def deliver(self, event: RelayEvent) -> None: ...


class CallRegistry:
    """The live calls, control ids, dials and messages of one connection."""

    def __init__(self, link: Link, nursery: trio.Nursery) -> None:
        self._link = link
        self._nursery = nursery
        # The link's own methods, not wrappers: a call's every command goes through them.
        self.execute = link.execute
        self.send_nowait = link.send_nowait
        self._router: EventRouter[Call, DialTarget, Message] = EventRouter()
        # messaging.state events that beat messaging.send's reply, by message id
        self._early_message_events: dict[str, list[MessageStateEvent]] = {}
        self._calls_gone: trio.Event | None = None
        self._ended_ids: dict[str, None] = {}  # insertion-ordered; oldest dropped first
        self.calls_total = 0
        self.calls_by_direction: dict[str, int] = {}
        self.calls_ended: dict[str, int] = {}

    # -- the CallHost interface ---------------------------------------------------

    @property
    def request_timeout(self) -> float:
        return self._link.request_timeout

    def forget_call(self, call: Any) -> None:
        calls = self._router.calls
        call_id, ended = call.call_id, call.state is CallState.ENDED
        outcome = (call.end_reason or "ended") if ended else "released"
        if calls.get(call_id) is call:
            del calls[call_id]
            self.calls_ended[outcome] = self.calls_ended.get(outcome, 0) + 1
            if ended:
                self._remember_ended(call_id)
            if not calls and self._calls_gone is not None:
                self._calls_gone.set()

    def register_control(self, control_id: str, call: Any) -> None:
        self._router.controls[control_id] = call

    def forget_control(self, control_id: str, call: Any) -> None:
        controls = self._router.controls
        if controls.get(control_id) is call:
            del controls[control_id]

    def spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        self._nursery.start_soon(run, name=name)

    # -- calls ------------------------------------------------------------------------

    def _remember_ended(self, call_id: str) -> None:
        ended = self._ended_ids
        ended[call_id] = None
        if len(ended) > ENDED_CALLS_REMEMBERED:
            del ended[next(iter(ended))]

    def has_ended(self, call_id: str | None) -> bool:
        """True for a call this client saw end (among the last ``ENDED_CALLS_REMEMBERED``)."""
        return call_id in self._ended_ids

    @property
    def calls(self) -> list[Call]:
        return list(self._router.calls.values())

    @property
    def call_count(self) -> int:
        return len(self._router.calls)

    def find_call(self, call_id: str) -> Call | None:
        return self._router.calls.get(call_id)

    def make_call(self, event: RelayEvent) -> Call:
        """A new call from its first event (``receive`` or a dial leg's state), registered."""
        params = event.params
        state = CallState(params.get("call_state") or "created")
        call = Call(
            self,
            call_id=event.call_id or "",
            node_id=shared_string(event.node_id) or "",
            project_id=shared_string(event.project_id) or "",
            context=shared_string(event.context) or "",
            tag=_text(params.get("tag")),
            direction=shared_string(_text(params.get("direction"))),
            device=shared_device(params.get("device")),
            state=state if state is not CallState.UNKNOWN else CallState.CREATED,
            segment_id=same_string(_text(params.get("segment_id")), event.call_id),
        )
        self._add(call)
        return call

    def make_dial_winner(self, call_id: str, tag: str, info: Mapping[str, Any]) -> Call:
        """A dial's winner known only from the ``calling.call.dial`` event's ``call`` object."""
        state = CallState(info.get("call_state") or "answered")
        device = info.get("device")
        call = Call(
            self,
            call_id=call_id,
            node_id=_text(info.get("node_id")),
            tag=tag,
            direction=_text(info.get("direction")) or "outbound",
            device=device if isinstance(device, dict) else None,
            state=CallState.ANSWERED if state is CallState.UNKNOWN else state,
            segment_id=_text(info.get("segment_id")),
        )
        self._add(call)
        return call

    def _add(self, call: Call) -> None:
        self._router.calls[call.call_id] = call
        self.calls_total += 1
        direction = call.direction or "unknown"
        self.calls_by_direction[direction] = self.calls_by_direction.get(direction, 0) + 1

    def end_calls(self, why: str) -> None:
        """The connection closed: every call it followed is over for this client."""
        for call in list(self._router.calls.values()):
            call._end(why)

    async def wait_calls_gone(self) -> None:
        """Return once no call is followed any more."""
        while self._router.calls:
            self._calls_gone = trio.Event()
            await self._calls_gone.wait()

    # -- dials ------------------------------------------------------------------------

    def add_dial(self, tag: str, dial: DialTarget) -> None:
        if tag in self._router.dials:
            raise ValueError(f"a dial with tag {tag!r} is already in progress")
        self._router.dials[tag] = dial

    def remove_dial(self, tag: str) -> None:
        self._router.dials.pop(tag, None)

    # -- messages ---------------------------------------------------------------------

    def track_message(self, message: Message) -> None:
        """Follow a sent message's states, starting with any that came before its id was known."""
        self._router.messages[message.message_id] = message
        for event in self._early_message_events.pop(message.message_id, []):
            self.message_state(message, event)

    def message_state(self, message: Message, event: RelayEvent) -> None:
        """Apply a ``messaging.state`` event; a message in a final state is no longer followed."""
        if message._deliver(event):
            self._router.messages.pop(message.message_id, None)

    def keep_early_message_event(self, event: RelayEvent) -> None:
        """Keep a state event that beat ``messaging.send``'s reply, for a short while."""
        if not isinstance(event, MessageStateEvent) or not event.message_id:
            return
        early = self._early_message_events
        if event.message_id not in early and len(early) >= EARLY_MESSAGE_EVENTS:
            early.pop(next(iter(early)))
        early.setdefault(event.message_id, []).append(event)

    # -- the reader -------------------------------------------------------------------

    def route(self, event_type: str, params: dict[str, Any]) -> Route[Call, DialTarget, Message]:
        return self._router.route(event_type, params)

    def statistics(self) -> dict[str, int]:
        return {
            "calls": len(self._router.calls),
            "dials": len(self._router.dials),
            "actions": len(self._router.controls),
        }
