"""The base of every typed event: what any ``signalwire.event`` carries."""

from __future__ import annotations

from typing import Any

import attrs

from ._convert import scrubbed_repr, secret_repr

__all__ = ["RelayEvent"]


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
