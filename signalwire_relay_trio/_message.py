"""``Message``: an SMS/MMS sent with ``messaging.send`` or received on a context."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import trio

from ._constants import MessageState
from ._events import MessageReceiveEvent, MessageStateEvent, RelayEvent
from ._state import wait_within
from ._subscriptions import EventListener, Spawn, run_listener

__all__ = ["Message", "check_number", "message_from_event", "message_media"]

logger = logging.getLogger("signalwire_relay_trio.message")

_TERMINAL = frozenset({MessageState.DELIVERED, MessageState.UNDELIVERED, MessageState.FAILED})


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")


def check_number(name: str, number: object, *, short_code: bool = False) -> None:
    """Refuse a number messaging cannot use: E.164 (``+15551234567``), or a short code."""
    if not isinstance(number, str):
        raise TypeError(f"{name} must be a string, not {type(number).__name__}")
    if _E164.fullmatch(number) or (short_code and _SHORT_CODE.fullmatch(number)):
        return
    expected = "an E.164 number such as +15551234567"
    if short_code:
        expected += " or a short code"
    raise ValueError(f"{name} must be {expected}, not {number!r}")


def message_media(media: Iterable[str] | str) -> list[str]:
    """The media URLs of an MMS, checked: each a non-empty string."""
    items = [media] if isinstance(media, str) else list(media)
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(f"media must hold URL strings, not {item!r}")
    return items


def _no_task_group(run: object, name: str) -> None:
    logger.warning("%s: no task group for an async listener; it did not run", name)


class Message:
    """One message. Outbound ones progress queued → … → delivered/undelivered/failed.

    Text properties (``context``, ``direction``, ``from_number``,
    ``to_number``, ``body``, ``reason``) are always strings, ``""`` when
    there is none.
    """

    def __init__(
        self,
        *,
        message_id: str,
        context: str | None = None,
        direction: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        body: str | None = None,
        media: list[str] | None = None,
        tags: list[str] | None = None,
        segments: int | None = None,
        state: MessageState | str = MessageState.QUEUED,
        reason: str | None = None,
        spawn: Spawn = _no_task_group,
    ) -> None:
        self.message_id = message_id
        self.context = context or ""
        self.direction = direction or ""
        self.from_number = from_number or ""
        self.to_number = to_number or ""
        self.body = body or ""
        self.media: list[str] = list(media or [])
        self.tags: list[str] = list(tags or [])
        self.segments = segments
        self.state = MessageState(state)
        self.reason = reason or ""
        self.result: MessageStateEvent | None = None
        self._done = trio.Event()
        self._listeners: list[EventListener] = []
        self._spawn = spawn

    def __repr__(self) -> str:
        return f"<Message {self.message_id} {self.direction} state={self.state.value}>"

    @property
    def is_done(self) -> bool:
        """True once the message reached a terminal state (or was received)."""
        return self._done.is_set() or self.state is MessageState.RECEIVED

    def on(self, handler: EventListener) -> None:
        """Call ``handler(event)`` for each state event of this message.

        A sync handler runs inside the reader (keep it short); an async one
        runs as a task of the connection. A handler's exception is logged
        with the message id.
        """
        self._listeners.append(handler)

    def _apply(self, event: RelayEvent) -> None:
        if not isinstance(event, (MessageReceiveEvent, MessageStateEvent)):
            return
        for name in ("context", "direction", "from_number", "to_number", "body"):
            value = getattr(event, name)
            if value is not None:
                setattr(self, name, value)
        if event.segments is not None:
            self.segments = event.segments
        if event.media:
            self.media = list(event.media)
        if event.tags:
            self.tags = list(event.tags)
        if event.reason:
            self.reason = event.reason
        if event.message_state is not None:
            self.state = event.message_state

    def _deliver(self, event: RelayEvent) -> bool:
        """Apply a state event; True when the message is now final."""
        self._apply(event)
        final = isinstance(event, MessageStateEvent) and self.state in _TERMINAL
        if final:
            assert isinstance(event, MessageStateEvent)
            self.result = event
            self._done.set()
        for listener in list(self._listeners):
            run_listener(f"message {self.message_id}", listener, event, self._spawn)
        return final

    async def wait(self, timeout: float | None = None) -> MessageStateEvent:
        """Wait for the terminal ``messaging.state`` event and return it.

        Carriers do not always report delivery, so pass a ``timeout``
        (``trio.TooSlowError``) or use a cancel scope.
        """
        await wait_within(timeout, self._done.wait)
        assert self.result is not None
        return self.result


def message_from_event(event: MessageReceiveEvent | MessageStateEvent) -> Message:
    """The :class:`Message` an inbound ``messaging.receive`` event describes."""
    return Message(
        message_id=event.message_id or "",
        context=event.context,
        direction=event.direction,
        from_number=event.from_number,
        to_number=event.to_number,
        body=event.body,
        media=list(event.media or ()),
        tags=list(event.tags or ()),
        segments=event.segments,
        state=event.message_state or MessageState.QUEUED,
        reason=event.reason,
    )
