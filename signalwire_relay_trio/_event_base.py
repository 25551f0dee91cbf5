"""The base of every typed event: what any ``signalwire.event`` carries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from ._convert import scrubbed_repr, secret_repr

__all__ = ["RelayEvent", "install_payload_parser"]

E = TypeVar("E", bound="RelayEvent")

# ``parse_event``, installed by ``_events`` (which knows every event class and
# imports this module, so this one cannot import it back).
_payload_parser: Callable[[Mapping[str, Any]], RelayEvent] | None = None


def install_payload_parser(parser: Callable[[Mapping[str, Any]], RelayEvent]) -> None:
    """Make :meth:`RelayEvent.from_payload` use ``parser``."""
    global _payload_parser
    _payload_parser = parser


@attrs.frozen(kw_only=True)
class RelayEvent:
    """One ``signalwire.event``. Typed subclasses add the fields of their event type.

    ``params`` is the raw inner dict (unknown fields live only there); the
    envelope facts (``event_channel``, ``timestamp``, ``project_id``,
    ``space_id``, ``context``) come from the envelope, else from ``params``.
    """

    event_type: str
    params: dict[str, Any] = attrs.field(repr=scrubbed_repr)
    event_channel: str | None = None
    timestamp: float | None = None
    project_id: str | None = attrs.field(default=None, repr=secret_repr)
    space_id: str | None = None
    context: str | None = None
    call_id: str | None = None
    node_id: str | None = None
    control_id: str | None = None

    @classmethod
    def from_payload(cls: type[E], payload: Mapping[str, Any]) -> E:
        """The typed event for a ``signalwire.event`` params object, as ``parse_event`` builds it.

        ``CallStateEvent.from_payload(...)`` also checks the payload is of
        that type. Raises ``ValueError`` for a malformed payload or a payload
        of another type.
        """
        if _payload_parser is None:
            raise RuntimeError("no event parser installed (import signalwire_relay_trio)")
        event = _payload_parser(payload)
        if not isinstance(event, cls):
            raise ValueError(f"a {event.event_type!r} event is not a {cls.__name__}")
        return event
