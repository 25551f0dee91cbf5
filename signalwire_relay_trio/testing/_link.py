"""Links: one accepted WebSocket each, reading frames and answering them in order.

A link hands calling and messaging commands to ``_dispatch`` with the
server's command table, and answers the ``signalwire.*`` methods itself. It
sits below the server; what it needs from the fake relay is spelled out as
the :class:`LinkHost` protocol.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

import trio

from .._json import decode
from ._client_errors import MAX_DEPTH, too_deep
from ._dispatch import CommandSpec, dispatch_command
from ._frames import (
    AUTH_FAILED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    JsonRpcError,
    dumps,
    error_text,
    request_frame,
    result_text,
)
from ._journal import Journal, JournalEntry
from ._session import Session
from ._wire import ServerWebSocket, WireClosed
from ._world import World

__all__ = ["CLOSE_TIMEOUT", "Link", "LinkHost"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

#: How long a graceful WebSocket close may take before the socket is cut.
CLOSE_TIMEOUT = 5.0


class LinkHost(World, Protocol):
    """What a link needs from the fake relay: its knobs, journal, sessions and faults."""

    journal: Journal
    command_handlers: dict[str, CommandSpec]
    jwt_token: str | None
    ping_interval: float | None
    answering: bool
    ignore_pings: bool
    reject_code: int | None

    def record_internal_error(self, exc: BaseException) -> None: ...

    def session_detached(self, session: Session) -> None: ...

    def record_client_error(
        self, kind: str, detail: str, link: int, protocol: str | None
    ) -> None: ...

    def credentials_ok(self, auth: JSON) -> bool: ...

    def authorization(self, session: Session) -> JSON: ...

    def new_session(self) -> Session: ...

    def resumable_session(
        self, protocol: object, authorization_state: object
    ) -> Session | None: ...

    def take_delay(self, method: str) -> float | None: ...

    def take_failure(self, method: str) -> Callable[[Any], str] | None: ...

    def response_arrived(self, frame_id: object) -> None: ...


def _string_list(params: JSON, key: str) -> list[str]:
    value = params.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise JsonRpcError(INVALID_PARAMS, f"{key} must be a list of strings")
    return value


def _receive(link: Link, session: Session, entry: JournalEntry) -> None:
    session.subscribe(_string_list(entry.params, "contexts"))
    message = "Receiving all inbound related to the requested relay contexts and available scopes"
    link.send(result_text(entry.id, {"code": "200", "message": message}))


def _unreceive(link: Link, session: Session, entry: JournalEntry) -> None:
    session.unsubscribe(_string_list(entry.params, "contexts"))
    message = "No longer receiving inbound related to the requested relay contexts"
    link.send(result_text(entry.id, {"code": "200", "message": message}))


def _ping(link: Link, session: Session, entry: JournalEntry) -> None:
    fake = link.fake
    if not fake.ignore_pings:
        timestamp = entry.params.get("timestamp", fake.timestamp())
        link.send(result_text(entry.id, {"timestamp": timestamp}))


def _reauthenticate(link: Link, session: Session, entry: JournalEntry) -> None:
    fake = link.fake
    auth = entry.params.get("authentication")
    jwt_token = auth.get("jwt_token") if isinstance(auth, dict) else None
    if fake.jwt_token is None or jwt_token != fake.jwt_token:
        raise JsonRpcError(AUTH_FAILED, "Authentication failed")
    link.send(result_text(entry.id, {"authorization": fake.authorization(session)}))


_SESSION_METHODS: dict[str, Callable[[Link, Session, JournalEntry], None]] = {
    "signalwire.receive": _receive,
    "signalwire.unreceive": _unreceive,
    "signalwire.ping": _ping,
    "signalwire.reauthenticate": _reauthenticate,
}


class Link:
    """One accepted WebSocket: reads and answers frames, writes in order.

    The reader handles every message of one read before it reads again; what
    the fake sends is framed at once and queued, and one writer task sends
    each batch in one write, so nothing that sends ever blocks (and frames
    keep their order).
    """

    def __init__(self, fake: LinkHost, ws: ServerWebSocket, number: int) -> None:
        self.fake = fake
        self.number = number
        self.session: Session | None = None
        self.done = trio.Event()
        self._ws = ws
        ws.on_overflow = self._overflowed
        self._closing = False
        self._nursery: trio.Nursery | None = None
        self._arrived = 0.0  # trio time of the read being handled

    def __repr__(self) -> str:
        return f"<Link #{self.number} session={self.session and self.session.protocol}>"

    @property
    def closing(self) -> bool:
        return self._closing

    def send(self, text: str) -> None:
        """Queue one frame; dropped when closing or while the fake stopped answering."""
        if self._closing or not self.fake.answering:
            return
        self._ws.send(text)
        protocol = self.session.protocol if self.session is not None else None
        self.fake.journal.record_sent(text, protocol, trio.current_time(), self.number)

    def client_error(self, kind: str, detail: str) -> None:
        """Record what this link's client did wrong (a short note: no frame content)."""
        protocol = self.session.protocol if self.session is not None else None
        self.fake.record_client_error(kind, detail, self.number, protocol)

    def _overflowed(self) -> None:
        """The client stopped reading and its write queue overflowed: cut the link."""
        self.client_error("slow_reader", "write queue over its limit: the client does not read")
        self._closing = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def boundary(self) -> None:
        """Frames sent from now on go in a later write (see ``ServerWebSocket.boundary``)."""
        self._ws.boundary()

    def close_soon(self) -> None:
        """Close the WebSocket once the frames already queued are written.

        The close handshake gets ``CLOSE_TIMEOUT`` seconds; then the socket is cut.
        """
        if not self._closing:
            self._closing = True
            self._ws.close()
            self._bound_by(CLOSE_TIMEOUT)

    def _bound_by(self, seconds: float) -> None:
        nursery = self._nursery
        if nursery is not None:
            scope = nursery.cancel_scope
            scope.deadline = min(scope.deadline, trio.current_time() + seconds)

    async def close(self) -> None:
        """Close gracefully; cut the socket if that takes too long."""
        self.close_soon()
        with trio.move_on_after(CLOSE_TIMEOUT):
            await self.done.wait()
        if not self.done.is_set():
            await self.abort()

    async def abort(self) -> None:
        """Cut the connection: no close handshake, the transport just goes away."""
        self._closing = True
        await self._ws.abort()

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._ws.overflowed:  # before it ran
                    nursery.cancel_scope.cancel()
                if self._closing:
                    self._bound_by(CLOSE_TIMEOUT)
                nursery.start_soon(self._writer)
                if self.fake.ping_interval:
                    nursery.start_soon(self._pinger, self.fake.ping_interval)
                await self._reader()
                # Let the writer send what is still queued (a close reply...), bounded.
                self._closing = True
                self._ws.finish()
                self._bound_by(CLOSE_TIMEOUT)
                await self._ws.flushed()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self._closing = True
            if self.session is not None and self.session.link is self:
                self.session.link = None
                self.fake.session_detached(self.session)
            self.done.set()

    async def _writer(self) -> None:
        assert self._nursery is not None
        nursery = self._nursery
        try:
            await self._ws.run_writer()
        except WireClosed:
            pass
        finally:
            nursery.cancel_scope.cancel()

    async def _pinger(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            if self.session is not None:
                frame = request_frame("signalwire.ping", {"timestamp": self.fake.timestamp()})
                self.send(dumps(frame))

    async def _reader(self) -> None:
        ws = self._ws
        handle = self._handle_message
        while True:
            try:
                messages = await ws.receive_batch()
            except WireClosed as exc:
                logger.debug("fake relay: link #%d closed: %s", self.number, exc.reason)
                if exc.client_fault is not None and exc.client_fault != "slow_reader":
                    self.client_error(exc.client_fault, exc.reason)
                return
            if not messages:
                continue
            if logger.isEnabledFor(logging.DEBUG):
                self._log_batch(messages)
            self._arrived = trio.current_time()  # one read: one arrival time
            for text in messages:
                try:
                    await handle(text)
                except Exception as exc:
                    self.fake.record_internal_error(exc)

    # -- incoming frames --------------------------------------------------

    def _log_batch(self, messages: list[str]) -> None:
        """Log what arrived: methods and ids only (params may hold credentials)."""
        for text in messages:
            try:
                frame = json.loads(text)
            except (ValueError, RecursionError):
                frame = None
            if isinstance(frame, dict):
                kind = frame.get("method") if isinstance(frame.get("method"), str) else "reply"
                logger.debug("fake relay: link #%d <- %s id=%r", self.number, kind, frame.get("id"))
            else:
                logger.debug("fake relay: link #%d <- %d chars", self.number, len(text))

    def _journal_raw(self, text: str) -> None:
        protocol = self.session.protocol if self.session else None
        entry = JournalEntry(None, None, None, {}, None, None, protocol, self._arrived, text)
        self.fake.journal.append(entry, self.number, len(text))

    async def _handle_message(self, text: str) -> None:
        try:
            frame = decode(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested beyond the parser
            self._journal_raw(text)
            self.client_error("parse", f"not JSON ({len(text)} chars): {type(exc).__name__}")
            self.send(error_text(None, PARSE_ERROR, "Parse error"))
            return
        if not isinstance(frame, dict):
            self._journal_raw(text)
            self.client_error("invalid_request", f"not a JSON object ({len(text)} chars)")
            self.send(error_text(None, INVALID_REQUEST, "Invalid Request: not an object"))
            return
        if too_deep(text, frame):
            self._journal_raw(text)
            self.client_error("nested", f"nested deeper than {MAX_DEPTH} ({len(text)} chars)")
            frame_id = frame.get("id")
            reply_id = frame_id if isinstance(frame_id, (str, int)) else None
            self.send(error_text(reply_id, INVALID_REQUEST, "Invalid Request: nested too deeply"))
            return
        method = frame.get("method")
        frame_id = frame.get("id")
        params = frame.get("params")
        entry = JournalEntry(
            frame,
            method if isinstance(method, str) else None,
            frame_id,
            params if isinstance(params, dict) else {},
            frame.get("result"),
            frame.get("error"),
            self.session.protocol if self.session else None,
            self._arrived,
        )
        self.fake.journal.append(entry, self.number, len(text))
        if frame_id is None:
            self.client_error("invalid_request", "a frame without id (ignored)")
        elif isinstance(frame_id, (dict, list, bool)):
            self._invalid(None, INVALID_REQUEST, "Invalid Request: bad id")
        elif method is None:
            if "result" in frame or "error" in frame:
                self._handle_response(frame_id)
            else:
                self._invalid(frame_id, INVALID_REQUEST, "Invalid Request: no method")
        elif not isinstance(method, str):
            self._invalid(frame_id, INVALID_REQUEST, "Invalid Request: bad method")
        elif "params" in frame and not isinstance(params, dict):
            self._invalid(frame_id, INVALID_PARAMS, "Invalid params: not an object")
        else:
            await self._handle_request(entry)

    def _invalid(self, frame_id: object, code: int, message: str) -> None:
        self.client_error("invalid_request", message)
        self.send(error_text(frame_id, code, message))

    def _handle_response(self, frame_id: object) -> None:
        if self.session is not None and self.session.acknowledge(frame_id):
            return
        self.fake.response_arrived(frame_id)

    async def _handle_request(self, entry: JournalEntry) -> None:
        fake = self.fake
        method = entry.method
        assert method is not None
        if method.startswith("calling."):
            call_id = entry.params.get("call_id")
            call = fake.calls.get(call_id) if isinstance(call_id, str) else None
            if call is not None:
                call.record_command(entry)
        delay = fake.take_delay(method)
        if delay is not None and self._nursery is not None:
            self._nursery.start_soon(self._delayed, delay, entry)
        else:
            await self._process(entry)

    async def _delayed(self, delay: float, entry: JournalEntry) -> None:
        await trio.sleep(delay)
        try:
            await self._process(entry)
        except Exception as exc:
            self.fake.record_internal_error(exc)

    async def _process(self, entry: JournalEntry) -> None:
        method = entry.method
        assert method is not None
        fake = self.fake
        failure = fake.take_failure(method)
        try:
            if failure is not None:
                self.send(failure(entry.id))
            elif self.session is None:
                if method != "signalwire.connect":
                    raise JsonRpcError(INVALID_REQUEST, "Send signalwire.connect first")
                self._connect(entry)
            elif method == "signalwire.connect":
                raise JsonRpcError(INVALID_REQUEST, "Session already established")
            elif method in _SESSION_METHODS:
                _SESSION_METHODS[method](self, self.session, entry)
            else:
                await dispatch_command(fake.command_handlers, fake, self, self.session, entry)
        except JsonRpcError as exc:
            self.send(error_text(entry.id, exc.code, exc.message))
        except Exception as exc:
            fake.record_internal_error(exc)
            self.send(error_text(entry.id, INTERNAL_ERROR, "Internal error"))

    def _connect(self, entry: JournalEntry) -> None:
        fake = self.fake
        params = entry.params
        auth = params.get("authentication")
        if not isinstance(auth, dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: missing authentication")
        contexts = _string_list(params, "contexts") if params.get("contexts") is not None else []
        reject_code = fake.reject_code
        if reject_code is None and not fake.credentials_ok(auth):
            reject_code = AUTH_FAILED
        if reject_code is not None:
            logger.info("fake relay: rejected signalwire.connect on %r", self)
            self.send(error_text(entry.id, reject_code, "Authentication failed"))
            self.close_soon()
            return
        session = fake.resumable_session(params.get("protocol"), params.get("authorization_state"))
        restored = session is not None
        if session is None:
            session = fake.new_session()
        else:
            session.restored_count += 1
            old = session.link
            if old is not None and old is not self:
                old.session = None
                fake.spawn(old.abort)
        session.subscribe(contexts)
        self.session = session
        result = {
            "identity": session.identity,
            "protocol": session.protocol,
            "authorization": fake.authorization(session),
            "session_restored": restored,
        }
        self.send(result_text(entry.id, result))
        session.attach(self, restored=restored)
