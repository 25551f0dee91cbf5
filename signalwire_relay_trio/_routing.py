"""Sans-I/O event routing: which registered object an event belongs to.

The registries map the protocol's routing keys (§3.2 of the protocol notes)
to whatever objects the trio layer keeps: calls by ``call_id``, pending dials
(and connects) by ``tag``, running actions by ``control_id``, sent messages by
``message_id``. The router only decides; the caller acts.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

__all__ = ["EventRouter", "Route", "RouteKind"]

CallT = TypeVar("CallT")
DialT = TypeVar("DialT")
MessageT = TypeVar("MessageT")


class RouteKind(enum.Enum):
    NEW_CALL = "new_call"  # calling.call.receive for a call we do not know yet
    CALL = "call"  # an event for a registered call
    DIAL_LEG = "dial_leg"  # first state event of a leg of a pending dial/connect
    DIAL = "dial"  # calling.call.dial for a pending dial
    NEW_MESSAGE = "new_message"  # messaging.receive
    MESSAGE = "message"  # messaging.state for a message we sent
    SESSION = "session"  # session-level: authorization state, call-less errors
    UNROUTABLE = "unroutable"  # a known kind of event whose target we do not have
    UNKNOWN = "unknown"  # an event type this release does not know


class Route(Generic[CallT, DialT, MessageT]):
    """The decision for one event. ``key`` is the routing key that matched."""

    __slots__ = ("call", "dial", "key", "kind", "message")

    def __init__(
        self,
        kind: RouteKind,
        key: str | None = None,
        *,
        call: CallT | None = None,
        dial: DialT | None = None,
        message: MessageT | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.call = call
        self.dial = dial
        self.message = message

    def __repr__(self) -> str:
        return f"Route({self.kind.name}, key={self.key!r})"


def _key(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value else None


class EventRouter(Generic[CallT, DialT, MessageT]):
    """Registries of live targets, and the routing rules over them."""

    def __init__(self) -> None:
        self.calls: dict[str, CallT] = {}
        self.dials: dict[str, DialT] = {}
        self.controls: dict[str, CallT] = {}
        self.messages: dict[str, MessageT] = {}

    def route(self, event_type: str, params: dict[str, Any]) -> Route[CallT, DialT, MessageT]:
        if event_type.startswith("calling."):
            return self._route_calling(event_type, params)
        if event_type == "messaging.state":
            message_id = _key(params, "message_id")
            message = self.messages.get(message_id) if message_id else None
            if message is None:
                return Route(RouteKind.UNROUTABLE, message_id)
            return Route(RouteKind.MESSAGE, message_id, message=message)
        if event_type == "messaging.receive":
            return Route(RouteKind.NEW_MESSAGE, _key(params, "message_id"))
        if event_type == "signalwire.authorization.state":
            return Route(RouteKind.SESSION)
        return Route(RouteKind.UNKNOWN)

    def _route_calling(
        self, event_type: str, params: dict[str, Any]
    ) -> Route[CallT, DialT, MessageT]:
        call_id = _key(params, "call_id")
        call = self.calls.get(call_id) if call_id else None
        if call is not None:
            return Route(RouteKind.CALL, call_id, call=call)
        if event_type == "calling.call.receive":
            return Route(RouteKind.NEW_CALL, call_id) if call_id else Route(RouteKind.UNROUTABLE)
        if event_type == "calling.call.dial":
            tag = _key(params, "tag")
            dial = self.dials.get(tag) if tag else None
            if dial is None:
                return Route(RouteKind.UNROUTABLE, tag)
            return Route(RouteKind.DIAL, tag, dial=dial)
        if event_type == "calling.call.state" and call_id:
            tag = _key(params, "tag")
            dial = self.dials.get(tag) if tag else None
            if dial is not None:
                return Route(RouteKind.DIAL_LEG, call_id, dial=dial)
            return Route(RouteKind.UNROUTABLE, call_id)
        # Some producers omit call_id on action events (stream): fall back to control_id.
        control_id = _key(params, "control_id")
        if control_id is not None:
            owner = self.controls.get(control_id)
            if owner is not None:
                return Route(RouteKind.CALL, control_id, call=owner)
        if event_type == "calling.error" and call_id is None:
            return Route(RouteKind.SESSION)
        return Route(RouteKind.UNROUTABLE, call_id or control_id)
