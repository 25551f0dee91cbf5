"""The fake RELAY server: its state, knobs and the API tests drive it with.

It listens (``_sockets``), hands each accepted WebSocket to a ``Link``,
keeps sessions in a ``SessionDirectory``, answers commands from its copy of
``COMMAND_TABLE``, and scripts the world and its faults.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio
import trio.testing

from ._client_errors import CLIENT_ERROR_LIMIT, ClientError, ClientErrors
from ._command_table import COMMAND_TABLE
from ._dispatch import CommandSpec
from ._faults import FaultInjection
from ._http import RequestHead, read_head, send_json
from ._journal import JOURNAL_LIMIT, Journal, Notifier
from ._link import Link
from ._messaging import MESSAGE_OUTCOMES, inbound_message_params
from ._operation import DEFAULT_TIMINGS
from ._session import Session, SessionDirectory
from ._sockets import is_transport_error, open_listener
from ._tls import ServerTLSStream
from ._wire import ServerWebSocket
from ._wire_base import MAX_MESSAGE_SIZE, PARTIAL_FRAMES_LIMIT, WRITE_QUEUE_LIMIT, ByteBudget
from ._world import DIAL_OUTCOMES, FakeCall, device_number

__all__ = ["FakeRelay"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

HANDSHAKE_TIMEOUT = 10.0
#: Ended calls kept in ``calls`` (the oldest ended are forgotten first).
ENDED_CALL_LIMIT = 10_000
#: Sessions kept without a socket, for a resume (the oldest are forgotten first).
DETACHED_SESSION_LIMIT = 1_000
MEMORY_URL = "ws://fake-relay.invalid/"

#: What answers a control API request: ``await control(stream, head)``.
ControlHandler = Callable[[trio.abc.Stream, RequestHead], Awaitable[None]]


class FakeRelay(FaultInjection):
    """A running fake RELAY server; made by :func:`open_fake_relay`.

    ``journal`` holds the frames both ways (the latest ``journal_limit``).
    ``calls`` maps call ids to :class:`FakeCall` (every live call, and the
    latest ``ended_call_limit`` ended ones); ``sessions`` lists the live
    (resumable) sessions. ``internal_errors`` collects exceptions the fake
    caught in its own code (a bug in the fake, never a client mistake): a
    healthy run leaves it empty. ``client_errors`` holds what clients did
    wrong (:class:`ClientError`: bad JSON, protocol violations, not reading...).
    """

    def __init__(
        self,
        *,
        project: str,
        token: str,
        jwt_token: str | None,
        contexts: Sequence[str],
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        ping_interval: float | None,
        journal_limit: int = JOURNAL_LIMIT,
        ended_call_limit: int = ENDED_CALL_LIMIT,
        write_queue_limit: int = WRITE_QUEUE_LIMIT,
        partial_frames_limit: int = PARTIAL_FRAMES_LIMIT,
    ) -> None:
        for name, value in (
            ("journal_limit", journal_limit),
            ("ended_call_limit", ended_call_limit),
            ("write_queue_limit", write_queue_limit),
            ("partial_frames_limit", partial_frames_limit),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}")
        self.project = project
        self.token = token
        self.jwt_token = jwt_token
        self.contexts = tuple(contexts)
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.ping_interval = ping_interval
        self.url = ""
        self.space_id = str(uuid.uuid4())
        self.node_uuid = str(uuid.uuid4())
        self.journal = Journal(limit=journal_limit)
        self.calls: dict[str, FakeCall] = {}
        self.dialed_calls: list[FakeCall] = []
        self.connection_count = 0
        self.internal_errors: list[BaseException] = []
        self.client_errors = ClientErrors(CLIENT_ERROR_LIMIT)
        self.ended_call_limit = ended_call_limit
        self.write_queue_limit = write_queue_limit
        self._ended_calls: deque[str] = deque()
        #: Sessions without a socket kept for a resume; older ones are forgotten.
        self.detached_session_limit = DETACHED_SESSION_LIMIT
        self._detached: OrderedDict[str, Session] = OrderedDict()
        self._partial_budget = ByteBudget(partial_frames_limit)
        self.command_handlers: dict[str, CommandSpec] = dict(COMMAND_TABLE)
        # Knobs tests may set directly.
        self.resend_unacked_on_resume = True
        self.ignore_pings = False
        self.default_dial_outcome = "answer"
        self.default_message_outcome = "delivered"
        self.default_ring_time = 1.0
        self.answering = True
        self.reject_code: int | None = None
        #: How long media, timeouts, detectors, faxes... take (see FakeTimings).
        self.timings = attrs.evolve(DEFAULT_TIMINGS)
        #: Seconds an ``audio`` item with this URL plays (else timings.audio_seconds).
        self.audio_durations: dict[str, float] = {}
        #: ``audio`` URLs whose playback fails (``calling.call.play`` ``error``).
        self.broken_urls: set[str] = set()
        #: Queue name -> the calls waiting in it, in order.
        self.queues: dict[str, list[FakeCall]] = {}
        #: Conference name -> ``{"name", "conference_id", "participants": {call_id: params}}``.
        self.conferences: dict[str, JSON] = {}
        self._directory = SessionDirectory()
        self._links: set[Link] = set()
        self._dial_outcomes: dict[str, tuple[str, float]] = {}
        self._message_outcomes: dict[str, str] = {}
        self._failures: dict[str, deque[Callable[[Any], str]]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._awaiting: dict[str, trio.Event] = {}
        self._dialed_seen = 0
        self._dialed_changed = Notifier()
        self._epoch = 0.0
        self._nursery: trio.Nursery | None = None
        #: Serves the HTTP control API requests (``/control/...``) on the same listener.
        self.control: ControlHandler | None = None

    @property
    def sessions(self) -> list[Session]:
        """The live (resumable) sessions, oldest first."""
        return self._directory.sessions

    @property
    def partial_frame_bytes(self) -> int:
        """Bytes of unfinished messages the connections hold now (``partial_frames_limit``)."""
        return self._partial_budget.used

    def __repr__(self) -> str:
        return f"<FakeRelay {self.url} sessions={len(self.sessions)} calls={len(self.calls)}>"

    # -- lifecycle ----------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        """Listen, and serve in ``nursery`` until it is cancelled (:func:`open_fake_relay`)."""
        self._nursery = nursery
        self._epoch = time.time() - trio.current_time()  # for timestamps only
        listener, host, self.port = await open_listener(self.host, self.port)
        scheme = "ws" if self.ssl_context is None else "wss"
        self.url = f"{scheme}://{host}:{self.port}"
        await nursery.start(trio.serve_listeners, self._serve_socket, [listener])

    async def _serve_socket(self, stream: trio.SocketStream) -> None:
        """Serve one accepted socket (under TLS when the fake has an ``ssl_context``)."""
        if self.ssl_context is None:
            await self._serve_stream(stream)
        else:
            await self._serve_stream(ServerTLSStream(stream, self.ssl_context))

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one transport stream (socket or memory): RELAY, or a control API request."""
        ws = ServerWebSocket(
            stream,
            max_message_size=MAX_MESSAGE_SIZE,
            write_queue_limit=self.write_queue_limit,
            partial_budget=self._partial_budget,
        )
        try:
            accepted = False
            head: RequestHead | None = None
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                head = await read_head(stream)
                if head is not None and not head.is_control:
                    accepted = await ws.accept(head.raw)
            if head is not None and head.is_control:
                await self._serve_control(stream, head)  # it bounds its own reads
            elif accepted:
                self.connection_count += 1
                link = Link(self, ws, self.connection_count)
                logger.debug("fake relay: link #%d accepted", link.number)
                self._links.add(link)
                try:
                    await link.run()
                finally:
                    self._links.discard(link)
        except Exception as exc:
            if is_transport_error(exc):
                logger.debug("fake relay: connection failed: %r", exc)
            else:
                self.record_internal_error(exc)
        finally:
            ws.release()
            await trio.aclose_forcefully(stream)

    async def _serve_control(self, stream: trio.abc.Stream, head: RequestHead) -> None:
        if self.control is None:
            await send_json(stream, head.connection, 404, {"error": "no control API here"})
        else:
            await self.control(stream, head)

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Run ``fn(*args)`` in the fake's nursery; its errors are recorded, not raised."""
        assert self._nursery is not None, "the fake relay is not running"
        self._nursery.start_soon(self._guarded, fn, args)

    async def _guarded(self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            self.record_internal_error(exc)

    def record_internal_error(self, exc: BaseException) -> None:
        logger.error("fake relay: internal error", exc_info=exc)
        self.internal_errors.append(exc)

    def record_client_error(self, kind: str, detail: str, link: int, protocol: str | None) -> None:
        """Note what a client did wrong (see :class:`ClientError`); never raises."""
        self.client_errors.record(ClientError(kind, detail, link, protocol, trio.current_time()))

    def session_detached(self, session: Session) -> None:
        """Keep the latest ``detached_session_limit`` sessions without a socket."""
        detached = self._detached
        detached[session.protocol] = session
        detached.move_to_end(session.protocol)
        while len(detached) > self.detached_session_limit:
            _, old = detached.popitem(last=False)
            if old.link is None:  # not resumed since
                self.forget_session(old)

    def call_ended(self, call: FakeCall) -> None:
        """Keep the latest ``ended_call_limit`` ended calls; forget older ones."""
        ended = self._ended_calls
        ended.append(call.call_id)
        calls = self.calls
        while len(ended) > self.ended_call_limit:
            old = calls.get(ended.popleft())
            if old is not None and old.ended:
                del calls[old.call_id]
        dialed = self.dialed_calls
        if len(dialed) > self.ended_call_limit + 64:  # batched: amortized O(1) per call
            drop = 0
            while len(dialed) - drop > self.ended_call_limit and dialed[drop].ended:
                drop += 1
            del dialed[:drop]
            self._dialed_seen = max(0, self._dialed_seen - drop)

    # -- helpers for sessions and commands ---------------------------------

    def timestamp(self) -> float:
        """Epoch seconds that advance with trio's clock."""
        return round(self._epoch + trio.current_time(), 6)

    def credentials_ok(self, auth: JSON) -> bool:
        if self.jwt_token is not None and auth.get("jwt_token") == self.jwt_token:
            return True
        return auth.get("project") == self.project and auth.get("token") == self.token

    def authorization(self, session: Session) -> JSON:
        return {
            "project": self.project,
            "expires_at": None,
            "scopes": ["calling", "messaging", "tasking"],
            "signature": session.signature,
        }

    def new_session(self) -> Session:
        session = Session(self)
        self._directory.add(session)
        return session

    def resumable_session(self, protocol: object, authorization_state: object) -> Session | None:
        return self._directory.resumable(protocol, authorization_state)

    def forget_session(self, session: Session) -> None:
        """Drop a session for good; its calls lose their controller."""
        self._directory.forget(session)
        for call in self.calls.values():
            if call.session is session:
                call.session = None

    def response_arrived(self, frame_id: object) -> None:
        if isinstance(frame_id, str):
            event = self._awaiting.pop(frame_id, None)
            if event is not None:
                event.set()

    def take_delay(self, method: str) -> float | None:
        delays = self._delays.get(method)
        return delays.popleft() if delays else None

    def take_failure(self, method: str) -> Callable[[Any], str] | None:
        failures = self._failures.get(method)
        return failures.popleft() if failures else None

    def dial_plan(self, device: JSON) -> tuple[str, float]:
        """``(outcome, ring_time)`` for one dialled device."""
        number = device_number(device)
        if number is not None and number in self._dial_outcomes:
            return self._dial_outcomes[number]
        return self.default_dial_outcome, self.default_ring_time

    def message_outcome(self, number: str) -> str:
        """How a message sent to ``number`` ends (see :meth:`set_message_outcome`)."""
        return self._message_outcomes.get(number, self.default_message_outcome)

    def add_dialed_call(self, call: FakeCall) -> None:
        self.dialed_calls.append(call)
        self._dialed_changed.notify()

    def _offer(self, call: FakeCall, session: Session) -> None:
        call.session = session
        params = {**call.call_params(), "context": call.context}
        session.emit("calling.call.receive", params, context=call.context)

    def offer_call(self, call: FakeCall) -> bool:
        """Offer a passed call to the next subscribed session that has not passed it."""
        target = self._directory.next_subscriber(call.context, call.passed_by)
        if target is None:
            return False
        self._offer(call, target)
        return True

    # -- public API: connecting ---------------------------------------------

    def connect_kwargs(self, *, memory: bool | None = None, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``open_relay(**...)`` that reach this fake.

        ``memory=None`` picks memory mode (an in-process stream, no socket)
        when the current trio clock is a ``MockClock``: autojump and real
        sockets race.
        """
        if memory is None:
            memory = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
        kwargs: dict[str, Any] = {
            "project": self.project,
            "token": self.token,
            "contexts": list(self.contexts),
        }
        if memory:
            kwargs["url"] = MEMORY_URL
            kwargs["stream_factory"] = self.open_memory_stream
        else:
            kwargs["url"] = self.url
        kwargs.update(overrides)
        return kwargs

    async def open_memory_stream(self) -> trio.abc.Stream:
        """A new in-memory connection to this fake; returns the client end.

        The server end is served like an accepted socket: the client speaks
        the WebSocket handshake over the returned stream.
        """
        client, server = trio.testing.memory_stream_pair()
        self.spawn(self._serve_stream, server)
        await trio.lowlevel.checkpoint()
        return client

    # -- public API: scripted world -----------------------------------------

    async def inbound_call(
        self,
        context: str = "office",
        from_number: str = "+15559870001",
        to_number: str = "+15551230000",
        *,
        session: Session | str | None = None,
    ) -> FakeCall:
        """Offer a new inbound call (``calling.call.receive``) to one session.

        The session is ``session`` if given, else the next subscriber of
        ``context`` (round-robin, connected sessions first). Raises
        ``LookupError`` when nobody is subscribed.
        """
        if session is not None:
            target = self._directory.resolve(session)
        else:
            found = self._directory.next_subscriber(context, ())
            if found is None:
                subscribed = sorted({c for s in self.sessions for c in s.contexts})
                shown = subscribed[:20] + (["..."] if len(subscribed) > 20 else [])
                raise LookupError(
                    f"no session is subscribed to context {context!r} "
                    f"(subscribed contexts: {shown or 'none'})"
                )
            target = found
        device = {"type": "phone", "params": {"from_number": from_number, "to_number": to_number}}
        call = FakeCall(self, direction="inbound", device=device, context=context)
        self.calls[call.call_id] = call
        self._offer(call, target)
        await trio.lowlevel.checkpoint()
        return call

    def set_dial_outcome(self, number: str, outcome: str, *, ring_time: float = 1.0) -> None:
        """Script what happens when a dial rings ``number`` (``to_number`` or SIP ``to``)."""
        if outcome not in DIAL_OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(DIAL_OUTCOMES)}, not {outcome!r}")
        if ring_time < 0:
            raise ValueError("ring_time must be >= 0")
        self._dial_outcomes[number] = (outcome, ring_time)

    def set_message_outcome(self, number: str, outcome: str) -> None:
        """Script how messages sent to ``number`` end: delivered, undelivered or failed."""
        if outcome not in MESSAGE_OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(MESSAGE_OUTCOMES)}, not {outcome!r}")
        self._message_outcomes[number] = outcome

    async def inbound_message(
        self,
        context: str = "office",
        from_number: str = "+15559870001",
        to_number: str = "+15551230000",
        body: str = "",
        *,
        media: Sequence[str] = (),
        tags: Sequence[str] = (),
        session: Session | str | None = None,
    ) -> str:
        """Deliver a new inbound message (``messaging.receive``); returns its ``message_id``.

        It goes to ``session`` if given, else to the next subscriber of
        ``context``; ``LookupError`` when nobody is subscribed.
        """
        if session is not None:
            target = self._directory.resolve(session)
        else:
            found = self._directory.next_subscriber(context, ())
            if found is None:
                raise LookupError(f"no session is subscribed to context {context!r}")
            target = found
        params = inbound_message_params(
            context=context,
            from_number=from_number,
            to_number=to_number,
            body=body,
            media=list(media),
            tags=list(tags),
        )
        target.emit("messaging.receive", params, context=context)
        await trio.lowlevel.checkpoint()
        message_id: str = params["message_id"]
        return message_id

    def reset(self) -> None:
        """End every call; clear scripts, scripted faults and the journal.

        Connected sessions stay; sessions without a socket are forgotten (a
        client that comes back starts a new one).
        """
        for session in [s for s in self.sessions if not s.connected]:
            self.forget_session(session)
        for call in list(self.calls.values()):
            call.end("hangup")
        self.calls.clear()
        self._ended_calls.clear()
        self.dialed_calls.clear()
        self._dialed_seen = 0
        self.queues.clear()
        self.conferences.clear()
        self._dial_outcomes.clear()
        self._message_outcomes.clear()
        self._failures.clear()
        self._delays.clear()
        self.ignore_pings = False
        self.answering = True
        self.reject_code = None
        self.journal.clear()
        self.client_errors.clear()

    async def wait_for_dialed_call(self) -> FakeCall:
        """The next answered dial leg not yet returned by this method (blocks)."""
        while self._dialed_seen >= len(self.dialed_calls):
            await self._dialed_changed.wait()
        call = self.dialed_calls[self._dialed_seen]
        self._dialed_seen += 1
        return call

    def unacked_events(self, session: Session | str | None = None) -> list[JSON]:
        """Events sent and not yet acknowledged (of one session, or all)."""
        sessions = [self._directory.resolve(session)] if session is not None else self.sessions
        return [frame for s in sessions for frame in s.unacked_events()]
