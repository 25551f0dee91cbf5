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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio
import trio.testing

from ._command_table import COMMAND_TABLE
from ._dispatch import CommandSpec
from ._frames import dumps, error_text, request_frame, result_text
from ._journal import Journal, Notifier
from ._link import CLOSE_TIMEOUT, Link
from ._operation import DEFAULT_TIMINGS
from ._session import Session, SessionDirectory, SessionLink
from ._sockets import is_transport_error, open_listener
from ._tls import ServerTLSStream
from ._wire import MAX_MESSAGE_SIZE, ServerWebSocket
from ._world import DIAL_OUTCOMES, FakeCall, device_number

__all__ = ["FakeRelay"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

HANDSHAKE_TIMEOUT = 10.0
DISCONNECT_ACK_TIMEOUT = 5.0
MEMORY_URL = "ws://fake-relay.invalid/"


class FakeRelay:
    """A running fake RELAY server; made by :func:`open_fake_relay`.

    ``journal`` holds every frame clients sent. ``calls`` maps call ids to
    :class:`FakeCall`; ``sessions`` lists the live (resumable) sessions.
    ``internal_errors`` collects exceptions the fake caught in its own code
    (a bug in the fake, never a client mistake): a healthy run leaves it empty.
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
    ) -> None:
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
        self.journal = Journal()
        self.calls: dict[str, FakeCall] = {}
        self.dialed_calls: list[FakeCall] = []
        self.connection_count = 0
        self.internal_errors: list[BaseException] = []
        self.command_handlers: dict[str, CommandSpec] = dict(COMMAND_TABLE)
        # Knobs tests may set directly.
        self.resend_unacked_on_resume = True
        self.ignore_pings = False
        self.default_dial_outcome = "answer"
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
        self._failures: dict[str, deque[Callable[[Any], str]]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._awaiting: dict[str, trio.Event] = {}
        self._dialed_seen = 0
        self._dialed_changed = Notifier()
        self._epoch = 0.0
        self._nursery: trio.Nursery | None = None

    @property
    def sessions(self) -> list[Session]:
        """The live (resumable) sessions, oldest first."""
        return self._directory.sessions

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
        """Serve one transport stream (socket or memory) as a RELAY WebSocket."""
        ws = ServerWebSocket(stream, max_message_size=MAX_MESSAGE_SIZE)
        try:
            accepted = False
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                accepted = await ws.accept()
            if accepted:
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
            await trio.aclose_forcefully(stream)

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
                raise LookupError(
                    f"no session is subscribed to context {context!r} "
                    f"(subscribed contexts: {subscribed or 'none'})"
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

    # -- public API: faults -------------------------------------------------

    async def drop(self, session: Session | str | None = None) -> None:
        """Cut the socket(s) abruptly (no close handshake); sessions persist."""
        links: list[SessionLink]
        if session is None:
            links = list(self._links)
        else:
            link = self._directory.resolve(session).link
            links = [link] if link is not None else []
        for link in links:
            if link.session is not None and link.session.link is link:
                link.session.link = None
            await link.abort()
        with trio.move_on_after(CLOSE_TIMEOUT):
            for link in links:
                await link.done.wait()

    def fail_next(
        self,
        method: str,
        *,
        code: str = "500",
        message: str = "Injected failure",
        jsonrpc_error: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests of ``method`` with a failure instead."""
        if jsonrpc_error is not None:
            error_code = jsonrpc_error
            render: Callable[[Any], str] = lambda frame_id: error_text(  # noqa: E731
                frame_id, error_code, message
            )
        else:
            result = {"code": str(code), "message": message}
            render = lambda frame_id: result_text(frame_id, result)  # noqa: E731
        self._failures.setdefault(method, deque()).extend([render] * times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Handle the next ``times`` requests of ``method`` only after ``seconds``."""
        self._delays.setdefault(method, deque()).extend([seconds] * times)

    async def send_malformed(self, text: str, session: Session | str | None = None) -> None:
        """Send ``text`` as a raw WebSocket text frame (e.g. ``"{not json"``)."""
        for target in self._directory.connected(session):
            assert target.link is not None
            target.link.send(text)
        await trio.lowlevel.checkpoint()

    async def send_raw(self, frame: JSON, session: Session | str | None = None) -> None:
        """Send any JSON frame as is."""
        await self.send_malformed(dumps(frame), session)

    async def send_authorization_state(self, session: Session | str | None = None) -> None:
        """Issue a fresh ``signalwire.authorization.state`` event."""
        for target in self._directory.connected(session):
            target.new_authorization_state()
        await trio.lowlevel.checkpoint()

    async def send_disconnect(
        self, *, restart: bool = False, session: Session | str | None = None
    ) -> None:
        """Send ``signalwire.disconnect``, wait (bounded) for the ack, close the socket.

        With ``restart`` the session is forgotten: a later resume gets a fresh one.
        """
        targets = self._directory.connected(session)
        async with trio.open_nursery() as nursery:
            for target in targets:
                nursery.start_soon(self._disconnect, target, restart)

    async def _disconnect(self, session: Session, restart: bool) -> None:
        link = session.link
        assert link is not None
        frame = request_frame("signalwire.disconnect", {"restart": True} if restart else {})
        answered = self._awaiting[frame["id"]] = trio.Event()
        link.send(dumps(frame))
        try:
            with trio.move_on_after(DISCONNECT_ACK_TIMEOUT):
                await answered.wait()
        finally:
            self._awaiting.pop(frame["id"], None)
        if restart:
            self.forget_session(session)
        await link.close()

    def stop_answering(self) -> None:
        """Half-open simulation: keep reading, send nothing (frames are lost)."""
        self.answering = False

    def resume_answering(self) -> None:
        self.answering = True

    def reject_connects(self, code: int = -32002) -> None:
        """Reject every ``signalwire.connect`` from now on with JSON-RPC error ``code``."""
        self.reject_code = code

    def accept_connects(self) -> None:
        self.reject_code = None
