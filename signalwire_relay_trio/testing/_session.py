"""Sessions: what survives a socket (subscriptions, calls, undelivered events).

:class:`SessionDirectory` keeps the live ones for the server.

A session sits below the link that carries it and the server that keeps it;
what it needs from those is spelled out as protocols (:class:`SessionLink`,
:class:`SessionHost`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import trio

from ._frames import dumps, request_frame

__all__ = ["AUTH_STATE_EVENT", "Session", "SessionDirectory", "SessionHost", "SessionLink"]

JSON = dict[str, Any]

AUTH_STATE_EVENT = "signalwire.authorization.state"


class SessionHost(Protocol):
    """What a session needs from the fake relay."""

    project: str
    space_id: str
    node_uuid: str
    resend_unacked_on_resume: bool

    def timestamp(self) -> float: ...


class SessionLink(Protocol):
    """The WebSocket a session is attached to, as the session and the server use it."""

    session: Session | None
    done: trio.Event

    @property
    def closing(self) -> bool: ...

    def send(self, text: str) -> None: ...

    async def close(self) -> None: ...

    async def abort(self) -> None: ...


class _OutEvent:
    """One ``signalwire.event`` request, encoded once."""

    __slots__ = ("event_type", "frame", "id", "text")

    def __init__(self, event_type: str, frame: JSON) -> None:
        self.id: str = frame["id"]
        self.event_type = event_type
        self.frame = frame
        self.text = dumps(frame)


class Session:
    """A RELAY session, identified by its ``protocol`` string.

    It outlives its socket: subscriptions, calls and undelivered events stay
    until a client resumes it (``protocol`` + latest ``authorization_state``)
    or the fake forgets it (``signalwire.disconnect`` with ``restart``).
    Events emitted while no socket is attached are queued and flushed on
    resume; events sent but not acked are re-sent on resume.
    """

    def __init__(self, fake: SessionHost) -> None:
        self._fake = fake
        self.signature = secrets.token_hex(16)
        self.protocol = f"signalwire_{self.signature}_{uuid.uuid4()}"
        self.identity = f"{uuid.uuid4()}@{fake.node_uuid}"
        self._contexts: dict[str, None] = {}  # an ordered set: linear (un)subscribe
        self.restored_count = 0
        self.link: SessionLink | None = None
        self._authorization_state = ""  # a credential: never log it
        self._queue: list[_OutEvent] = []
        self._unacked: dict[str, _OutEvent] = {}

    def __repr__(self) -> str:
        state = "connected" if self.connected else "detached"
        contexts = self.contexts if len(self._contexts) <= 8 else f"({len(self._contexts)})"
        return f"<Session {self.protocol} {state} contexts={contexts}>"

    @property
    def connected(self) -> bool:
        return self.link is not None

    @property
    def contexts(self) -> list[str]:
        """The subscribed contexts, in the order they were first subscribed (a copy)."""
        return list(self._contexts)

    def subscribed(self, context: object) -> bool:
        """True when this session receives calls and messages on ``context``."""
        return context in self._contexts if isinstance(context, str) else False

    def subscribe(self, contexts: list[str]) -> None:
        """Add ``contexts`` (linear in their number: a client may send 200k at once)."""
        self._contexts.update(dict.fromkeys(contexts))

    def unsubscribe(self, contexts: list[str]) -> None:
        """Remove ``contexts``; unknown ones are ignored."""
        subscribed = self._contexts
        for context in contexts:
            subscribed.pop(context, None)

    def resumable_with(self, authorization_state: object) -> bool:
        return bool(self._authorization_state) and authorization_state == self._authorization_state

    # -- events -----------------------------------------------------------

    def emit(self, event_type: str, params: JSON, *, context: str | None = None) -> str:
        """Send (or queue, while detached) one event; returns its id."""
        fake = self._fake
        envelope: JSON = {
            "event_type": event_type,
            "event_channel": self.protocol,
            "timestamp": fake.timestamp(),
            "project_id": fake.project,
            "space_id": fake.space_id,
        }
        if context is not None:
            envelope["context"] = context
        envelope["params"] = params
        event = _OutEvent(event_type, request_frame("signalwire.event", envelope))
        self._deliver(event)
        return event.id

    def _deliver(self, event: _OutEvent) -> None:
        if self.link is None or self.link.closing:  # kept for the next socket
            self._queue.append(event)
        else:
            self._unacked[event.id] = event
            self.link.send(event.text)

    def acknowledge(self, frame_id: object) -> bool:
        return isinstance(frame_id, str) and self._unacked.pop(frame_id, None) is not None

    def unacked_events(self) -> list[JSON]:
        return [event.frame for event in self._unacked.values()]

    def queued_events(self) -> list[JSON]:
        return [event.frame for event in self._queue]

    def new_authorization_state(self) -> None:
        """Issue a fresh ``authorization_state`` (the old one stops resuming)."""
        self._authorization_state = secrets.token_urlsafe(48)
        envelope = {
            "event_type": AUTH_STATE_EVENT,
            "timestamp": self._fake.timestamp(),
            "params": {"authorization_state": self._authorization_state},
        }
        self._deliver(_OutEvent(AUTH_STATE_EVENT, request_frame("signalwire.event", envelope)))

    def attach(self, link: SessionLink, *, restored: bool) -> None:
        """Bind ``link`` to this session; on a resume, replay what the client missed."""
        unacked = list(self._unacked.values())
        self.link = link
        self.new_authorization_state()
        if not restored:
            return
        resend = self._fake.resend_unacked_on_resume
        for event in unacked:
            if event.event_type == AUTH_STATE_EVENT:  # stale: replaying it would break resume
                del self._unacked[event.id]
            elif resend:
                link.send(event.text)
        queued, self._queue = self._queue, []
        for event in queued:
            self._deliver(event)


class SessionDirectory:
    """The live sessions: found by ``protocol``, offered calls in turn per context."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self._by_protocol: dict[str, Session] = {}
        self._round_robin: dict[str, int] = {}

    def add(self, session: Session) -> None:
        self.sessions.append(session)
        self._by_protocol[session.protocol] = session

    def forget(self, session: Session) -> None:
        if self._by_protocol.pop(session.protocol, None) is not None:
            self.sessions.remove(session)

    def resumable(self, protocol: object, authorization_state: object) -> Session | None:
        """The session a ``signalwire.connect`` with these values resumes, if any."""
        session = self._by_protocol.get(protocol) if isinstance(protocol, str) else None
        if session is not None and session.resumable_with(authorization_state):
            return session
        return None

    def resolve(self, session: Session | str) -> Session:
        """A session, or the one with this ``protocol`` (``LookupError`` if none)."""
        if isinstance(session, Session):
            return session
        try:
            return self._by_protocol[session]
        except KeyError:
            raise LookupError(f"no session with protocol {session!r}") from None

    def connected(self, session: Session | str | None) -> list[Session]:
        """The target sessions of a fault: the one given, or every connected one."""
        if session is not None:
            target = self.resolve(session)
            if target.link is None:
                raise LookupError(f"{target!r} has no socket")
            return [target]
        targets = [s for s in self.sessions if s.link is not None]
        if not targets:
            raise LookupError("no connected session")
        return targets

    def next_subscriber(self, context: str | None, exclude: Sequence[str]) -> Session | None:
        """Whose turn it is to get a call on ``context`` (connected sessions first)."""
        candidates = [
            s for s in self.sessions if s.subscribed(context) and s.protocol not in exclude
        ]
        pool = [s for s in candidates if s.link is not None] or candidates
        if not pool:
            return None
        turn = self._round_robin.get(context or "", 0)
        self._round_robin[context or ""] = turn + 1
        return pool[turn % len(pool)]
