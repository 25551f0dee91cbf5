"""Client errors: what a client did wrong, kept apart from the fake's own bugs.

A frame that is not JSON, nested too deeply, not a JSON-RPC object, a
WebSocket protocol violation, a message over the size cap, a client that
stops reading: each is one short :class:`ClientError` (no traceback, no frame
content: frames may hold credentials), kept in a bounded record. The fake's
``internal_errors`` stay for the fake's own bugs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator

import attrs

__all__ = ["CLIENT_ERROR_LIMIT", "MAX_DEPTH", "ClientError", "ClientErrors", "too_deep"]

logger = logging.getLogger(__name__)

#: Client errors kept (the oldest are dropped first; ``ClientErrors.count`` counts them all).
CLIENT_ERROR_LIMIT = 1_000
#: Deepest nesting of arrays and objects the fake accepts in a frame (RELAY needs ~10).
MAX_DEPTH = 128


@attrs.frozen
class ClientError:
    """One thing a client did wrong.

    ``kind`` is one of ``"parse"`` (not JSON), ``"nested"`` (deeper than
    :data:`MAX_DEPTH`), ``"invalid_request"`` (JSON, not a JSON-RPC request or
    response), ``"protocol"`` (a WebSocket protocol violation), ``"too_big"``
    (a message over the size cap), ``"over_budget"`` (unfinished messages of
    every connection over the fake's budget) or ``"slow_reader"`` (its write
    queue went over the limit: it does not read). ``link`` is the socket's
    number, ``protocol`` its session (if any), ``time`` ``trio.current_time()``.
    """

    kind: str
    detail: str
    link: int
    protocol: str | None
    time: float


class ClientErrors:
    """The latest client errors (at most ``limit``) and how many there were in all."""

    def __init__(self, limit: int = CLIENT_ERROR_LIMIT) -> None:
        self._errors: deque[ClientError] = deque(maxlen=max(limit, 0))
        #: Every client error recorded, the dropped ones included.
        self.count = 0

    def record(self, error: ClientError) -> None:
        self.count += 1
        self._errors.append(error)
        logger.warning(
            "fake relay: client error on link #%d: %s: %s", error.link, error.kind, error.detail
        )

    def clear(self) -> None:
        self._errors.clear()
        self.count = 0

    def __len__(self) -> int:
        return len(self._errors)

    def __iter__(self) -> Iterator[ClientError]:
        return iter(list(self._errors))

    def __eq__(self, other: object) -> bool:
        """Equal to a list of the same errors: ``fake.client_errors == []`` reads naturally."""
        if isinstance(other, (ClientErrors, list)):
            return list(self._errors) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ClientErrors({list(self._errors)!r}, count={self.count})"

    def kinds(self) -> list[str]:
        """The kind of every error kept, oldest first."""
        return [error.kind for error in self._errors]


def too_deep(text: str, value: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (decoded from ``text``) nests deeper than ``limit``.

    Cheap for ordinary frames: nesting ``limit`` deep takes ``2 * limit``
    characters, so short frames (acks, the most frequent) are not looked at;
    the depth cannot exceed the number of ``[`` and ``{`` in the text, so
    only frames with many of them are walked (without recursion, in time
    linear in their size).
    """
    if len(text) <= 2 * limit or text.count("[") + text.count("{") <= limit:
        return False
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
