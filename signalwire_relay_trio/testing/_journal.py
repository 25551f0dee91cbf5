"""The journal: every frame the fake server received from its clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

__all__ = ["Journal", "JournalEntry", "Notifier"]


class Notifier:
    """Wake every task waiting for "something changed".

    The trio.Event is only made when somebody waits, so notifying costs almost
    nothing on the hot path.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: trio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        """Block until the next :meth:`notify`."""
        if self._event is None:
            self._event = trio.Event()
        await self._event.wait()


@attrs.frozen
class JournalEntry:
    """One frame received from a client.

    ``frame`` is the decoded JSON object, or ``None`` when the text was not
    JSON or not an object (then ``raw`` holds the text). ``method`` is set for
    requests; ``result``/``error`` for responses (event acks, ping replies).
    ``protocol`` is the session the socket belonged to when the frame arrived
    (``None`` before ``signalwire.connect`` succeeded); ``time`` is
    ``trio.current_time()``.
    """

    frame: dict[str, Any] | None
    method: str | None
    id: Any
    params: dict[str, Any]
    result: Any
    error: Any
    protocol: str | None
    time: float
    raw: str | None = None

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def is_response(self) -> bool:
        return self.frame is not None and self.method is None and self.id is not None


class Journal:
    """An append-only, searchable list of :class:`JournalEntry`."""

    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._by_method: dict[str, list[JournalEntry]] = {}
        self._changed = Notifier()

    def append(self, entry: JournalEntry) -> None:
        self._entries.append(entry)
        if entry.method is not None:
            self._by_method.setdefault(entry.method, []).append(entry)
        self._changed.notify()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries))

    def __getitem__(self, index: int) -> JournalEntry:
        return self._entries[index]

    def all(self, method: str | None = None) -> list[JournalEntry]:
        """Every entry, or every request of ``method``, in arrival order."""
        if method is None:
            return list(self._entries)
        return list(self._by_method.get(method, ()))

    def methods(self) -> list[str]:
        """The method of every request, in arrival order (with repeats)."""
        return [entry.method for entry in self._entries if entry.method is not None]

    def find(self, *methods: str) -> tuple[JournalEntry, ...]:
        """The first request of each named method, in the order given.

        Raises ``AssertionError`` naming the missing method and listing the
        methods the journal does hold.
        """
        found = []
        for method in methods:
            entries = self._by_method.get(method)
            if not entries:
                seen = ", ".join(dict.fromkeys(self.methods())) or "nothing"
                raise AssertionError(f"the client never sent {method!r}; journal holds: {seen}")
            found.append(entries[0])
        return tuple(found)

    async def wait_for(
        self, method: str | None, predicate: Callable[[JournalEntry], bool] | None = None
    ) -> JournalEntry:
        """Block until a request of ``method`` (matching ``predicate``) arrived.

        ``method=None`` matches any frame, replies included. An entry already
        in the journal counts. Takes no timeout: wrap it in ``trio.fail_after``.
        """
        index = 0
        while True:
            entries = self._entries if method is None else self._by_method.get(method, ())
            while index < len(entries):
                entry = entries[index]
                index += 1
                if predicate is None or predicate(entry):
                    return entry
            await self._changed.wait()
