"""Small shared pieces of the trio layer: connection states and request waiters."""

from __future__ import annotations

import enum

import trio

from ._protocol import Reply

__all__ = ["ConnectionState", "PendingRequest"]


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class PendingRequest:
    """One request's waiter: the reader stores the reply and sets the event."""

    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: Reply | None = None
        self.error: BaseException | None = None
