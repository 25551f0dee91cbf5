"""Small shared pieces of the trio layer: connection states and request waiters."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from ._protocol import Reply

__all__ = ["ConnectionState", "PendingRequest", "wait_within"]

T = TypeVar("T")


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


async def wait_within(timeout: float | None, wait: Callable[[], Awaitable[T]]) -> T:
    """``await wait()``, raising ``trio.TooSlowError`` after ``timeout`` seconds.

    With no timeout there is no cancel scope at all: an idle call parks in
    these waits, and a scope costs memory and time on every one of them.
    """
    if timeout is None:
        return await wait()
    with trio.fail_after(timeout):
        return await wait()
