"""The typed ``messaging.*`` events: an inbound message, and a sent one's delivery."""

from __future__ import annotations

import attrs

from ._constants import MessageState
from ._event_base import RelayEvent

__all__ = ["MessageReceiveEvent", "MessageStateEvent"]


@attrs.frozen(kw_only=True)
class _MessageInfo(RelayEvent):
    """The message object shared by ``messaging.receive`` and ``messaging.state``."""

    message_id: str | None = None
    message_state: MessageState | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    body: str | None = None
    media: list[str] = attrs.field(factory=list)
    tags: list[str] = attrs.field(factory=list)
    tag: str | None = None
    segments: int | None = None
    reason: str | None = None
    region: str | None = None


@attrs.frozen(kw_only=True)
class MessageReceiveEvent(_MessageInfo):
    """``messaging.receive``: an inbound message, complete on arrival."""


@attrs.frozen(kw_only=True)
class MessageStateEvent(_MessageInfo):
    """``messaging.state``: delivery progress of a sent message."""
