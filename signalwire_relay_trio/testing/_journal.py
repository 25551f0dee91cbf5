"""The journal: every frame between the fake server and its clients, both ways."""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

__all__ = ["JOURNAL_CHAR_LIMIT", "JOURNAL_LIMIT", "Journal", "JournalEntry", "Notifier"]


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
    """One frame, received from a client or sent to it.

    ``direction`` is ``"received"`` (the client sent it) or ``"sent"`` (the
    fake did). ``frame`` is the decoded JSON object, or ``None`` when the text
    was not JSON or not an object (then ``raw`` holds the text). ``method`` is
    set for requests; ``result``/``error`` for responses, and ``reply_to``
    names the method of the request a response answers (on the same socket;
    set in what :meth:`Journal.query` returns). ``protocol`` is the session
    the socket belonged to (``None`` before ``signalwire.connect``
    succeeded); ``time`` is ``trio.current_time()``.
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
    direction: str = "received"
    reply_to: str | None = None
    #: The call id of the request a response answers.
    request_call_id: str | None = None

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def is_response(self) -> bool:
        return self.frame is not None and self.method is None and self.id is not None

    @property
    def event_type(self) -> str | None:
        """The ``event_type`` of a ``signalwire.event`` (else ``None``)."""
        if self.method != "signalwire.event":
            return None
        value = self.params.get("event_type")
        return value if isinstance(value, str) else None

    @property
    def call_id(self) -> str | None:
        """The call a frame is about: a command's or an event's ``call_id``.

        Found in ``params`` (commands), in an event's inner params (or its
        ``call`` object, for dial events), else the one of the request a
        response answers.
        """
        found = _call_id_in(self.params)
        if found is None and self.method == "signalwire.event":
            inner = self.params.get("params")
            if isinstance(inner, dict):
                found = _call_id_in(inner)
                call = inner.get("call")
                if found is None and isinstance(call, dict):
                    found = _call_id_in(call)
        return found if found is not None else self.request_call_id

    def matches(
        self,
        direction: str | None = None,
        method: str | None = None,
        event_type: str | None = None,
        call_id: str | None = None,
    ) -> bool:
        """True when every criterion given holds (``method`` also matches ``reply_to``)."""
        return (
            (direction is None or self.direction == direction)
            and (method is None or method in (self.method, self.reply_to))
            and (event_type is None or self.event_type == event_type)
            and (call_id is None or self.call_id == call_id)
        )


def _call_id_in(params: dict[str, Any]) -> str | None:
    value = params.get("call_id")
    return value if isinstance(value, str) else None


def _decode(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """A sent frame: ``(frame, None)``, or ``(None, text)`` when it is not a JSON object."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None, text
    return (frame, None) if isinstance(frame, dict) else (None, text)


#: Entries the journal keeps by default (both directions; the oldest are dropped first).
JOURNAL_LIMIT = 100_000
#: Characters of frame text the journal keeps (both directions; the oldest dropped first).
JOURNAL_CHAR_LIMIT = 64 * 1024 * 1024

#: One record in arrival order: the socket's number, a received entry or the
#: text of a sent frame with its session protocol and time, and its size in characters.
_Record = tuple[int, JournalEntry | tuple[str, str | None, float], int]


class Journal:
    """The latest frames both ways: what clients sent (searchable as before), what the fake sent.

    ``all()``, ``methods()``, ``find()``, ``wait_for()``, iteration and
    ``len()`` cover what clients sent. :meth:`query` (and
    :meth:`wait_for_entry`) search both directions by direction, method,
    event type and call id. Sent frames are kept as text and decoded only
    when queried, so journaling them costs the fake almost nothing.

    It keeps the latest ``limit`` entries (both directions together) and at
    most ``char_limit`` characters of frame text; older entries are dropped
    first, so a fake that runs for hours holds a bounded journal.
    """

    def __init__(self, limit: int = JOURNAL_LIMIT, char_limit: int = JOURNAL_CHAR_LIMIT) -> None:
        self.limit = limit
        self.char_limit = char_limit
        #: Entries dropped so far (both directions) to stay within the limits.
        self.dropped = 0
        self._entries: deque[JournalEntry] = deque()
        self._received = 0  # entries ever received: the absolute index after _entries[-1]
        self._by_method: dict[str, deque[JournalEntry]] = {}
        self._changed = Notifier()
        self._records: deque[_Record] = deque()
        self._chars = 0
        self._decoded: deque[JournalEntry] = deque()  # the first len() records, decoded
        self._requests: OrderedDict[tuple[int, Any], tuple[str, str | None]] = OrderedDict()

    def append(self, entry: JournalEntry, link: int = 0, size: int = 0) -> None:
        """Journal a frame received on socket number ``link`` (``size``: its characters)."""
        self._entries.append(entry)
        self._received += 1
        if entry.method is not None:
            by_method = self._by_method.get(entry.method)
            if by_method is None:
                by_method = self._by_method[entry.method] = deque()
            by_method.append(entry)
        self._records.append((link, entry, size))
        self._chars += size
        if len(self._records) > self.limit or self._chars > self.char_limit:
            self._trim()
        self._changed.notify()

    def record_sent(self, text: str, protocol: str | None, time: float, link: int = 0) -> None:
        """Journal a frame the fake sent on socket number ``link`` (decoded when queried)."""
        size = len(text)
        self._records.append((link, (text, protocol, time), size))
        self._chars += size
        if len(self._records) > self.limit or self._chars > self.char_limit:
            self._trim()
        self._changed.notify()

    def _trim(self) -> None:
        """Drop the oldest records until both limits hold."""
        records, decoded = self._records, self._decoded
        while records and (len(records) > self.limit or self._chars > self.char_limit):
            _, record, size = records.popleft()
            self._chars -= size
            self.dropped += 1
            if decoded:
                decoded.popleft()
            if isinstance(record, JournalEntry):
                self._entries.popleft()  # the oldest record received is the oldest entry
                if record.method is not None:
                    by_method = self._by_method[record.method]
                    by_method.popleft()
                    if not by_method:
                        del self._by_method[record.method]

    def clear(self) -> None:
        """Forget every entry (both directions)."""
        self._entries.clear()
        self._by_method.clear()
        self._records.clear()
        self._chars = 0
        self._decoded.clear()
        self._requests.clear()
        self._changed.notify()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries))

    def __getitem__(self, index: int) -> JournalEntry:
        return self._entries[index]

    def all(self, method: str | None = None) -> list[JournalEntry]:
        """Every frame received (kept), or every request of ``method``, in arrival order."""
        if method is None:
            return list(self._entries)
        return list(self._by_method.get(method, ()))

    def methods(self) -> list[str]:
        """The method of every request received, in arrival order (with repeats)."""
        return [entry.method for entry in self._entries if entry.method is not None]

    def find(self, *methods: str) -> tuple[JournalEntry, ...]:
        """The first request received of each named method, in the order given.

        Raises ``AssertionError`` naming the missing method and listing the
        methods the journal does hold.
        """
        found = []
        for method in methods:
            entries = self._by_method.get(method)
            if not entries:
                seen = ", ".join(self._by_method) or "nothing"
                raise AssertionError(f"the client never sent {method!r}; journal holds: {seen}")
            found.append(entries[0])
        return tuple(found)

    async def wait_for(
        self, method: str | None, predicate: Callable[[JournalEntry], bool] | None = None
    ) -> JournalEntry:
        """Block until a request of ``method`` (matching ``predicate``) was received.

        ``method=None`` matches any frame received, replies included. An entry
        already in the journal counts. Takes no timeout: wrap it in
        ``trio.fail_after``.
        """
        for entry in self.all(method):
            if predicate is None or predicate(entry):
                return entry
        seen = self._received
        while True:
            await self._changed.wait()
            entries = self._entries
            new = min(self._received - seen, len(entries))
            seen = self._received
            for index in range(len(entries) - new, len(entries)):
                entry = entries[index]
                if (method is None or entry.method == method) and (
                    predicate is None or predicate(entry)
                ):
                    return entry

    # -- both directions -------------------------------------------------------

    def query(
        self,
        *,
        direction: str | None = None,
        method: str | None = None,
        event_type: str | None = None,
        call_id: str | None = None,
    ) -> list[JournalEntry]:
        """Entries of both directions matching every criterion given, in order.

        ``direction`` is ``"received"`` or ``"sent"``; ``method`` matches a
        request's method or the one a response answers (``reply_to``);
        ``event_type`` matches ``signalwire.event`` frames; ``call_id`` the
        call a frame is about (:attr:`JournalEntry.call_id`).
        """
        if direction not in (None, "received", "sent"):
            raise ValueError(f"direction must be 'received' or 'sent', not {direction!r}")
        return [
            entry
            for entry in self._decode_all()
            if entry.matches(direction, method, event_type, call_id)
        ]

    def sent(
        self,
        method: str | None = None,
        *,
        event_type: str | None = None,
        call_id: str | None = None,
    ) -> list[JournalEntry]:
        """What the fake sent (events, replies, pings...), matching the criteria given."""
        return self.query(direction="sent", method=method, event_type=event_type, call_id=call_id)

    async def wait_for_entry(
        self,
        *,
        direction: str | None = None,
        method: str | None = None,
        event_type: str | None = None,
        call_id: str | None = None,
        predicate: Callable[[JournalEntry], bool] | None = None,
    ) -> JournalEntry:
        """Block until an entry (either way) matches; an entry already there counts."""
        index = 0  # absolute: entries dropped so far count
        while True:
            entries = self._decode_all()
            position = max(index - self.dropped, 0)
            for entry in itertools.islice(entries, position, None):
                position += 1
                if entry.matches(direction, method, event_type, call_id) and (
                    predicate is None or predicate(entry)
                ):
                    return entry
            index = self.dropped + position
            await self._changed.wait()

    def _decode_all(self) -> deque[JournalEntry]:
        """Decode the records not decoded yet; every entry kept, both ways, in order."""
        decoded = self._decoded
        records = self._records
        for link, record, _ in itertools.islice(records, len(decoded), None):
            if isinstance(record, JournalEntry):
                entry = self._resolve(link, record)
            else:
                text, protocol, time = record
                frame, raw = _decode(text)
                if frame is None:
                    entry = JournalEntry(
                        None, None, None, {}, None, None, protocol, time, raw, "sent"
                    )
                else:
                    method = frame.get("method")
                    params = frame.get("params")
                    entry = self._resolve(
                        link,
                        JournalEntry(
                            frame,
                            method if isinstance(method, str) else None,
                            frame.get("id"),
                            params if isinstance(params, dict) else {},
                            frame.get("result"),
                            frame.get("error"),
                            protocol,
                            time,
                            None,
                            "sent",
                        ),
                    )
            decoded.append(entry)
        return decoded

    def _resolve(self, link: int, entry: JournalEntry) -> JournalEntry:
        """Remember a request by its id; tell a response which request it answers."""
        frame_id = entry.id
        if frame_id is None or isinstance(frame_id, (dict, list)):
            return entry
        requests = self._requests
        if entry.method is not None:
            requests[(link, frame_id)] = (entry.method, entry.call_id)
            if len(requests) > self.limit:  # never answered: forget the oldest
                requests.popitem(last=False)
            return entry
        if entry.frame is None:
            return entry
        request = requests.pop((link, frame_id), None)
        if request is None:
            return entry
        method, call_id = request
        return attrs.evolve(entry, reply_to=method, request_call_id=call_id)
