"""Sans-I/O RELAY session: JSON-RPC frames, request matching and session facts.

Nothing here touches a socket, a clock or trio. Text frames go in through
:meth:`RelaySession.receive`; frames to send come back as strings. The trio
layer (``_connection``) owns all waiting.
"""

from __future__ import annotations

import enum
import itertools
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ._convert import scrub
from ._errors import (
    AuthenticationError,
    CallEndedError,
    LocalProtocolError,
    RelayError,
    RemoteProtocolError,
)
from ._json import decode as _decode
from ._json import encode as _encode

__all__ = [
    "AGENT",
    "PROTOCOL_VERSION",
    "Credentials",
    "DisconnectRequest",
    "EventNotice",
    "PingRequest",
    "RelaySession",
    "Reply",
    "SessionState",
    "UnknownRequest",
    "is_success_code",
]

AGENT = "signalwire-relay-trio/0.1"
PROTOCOL_VERSION = {"major": 2, "minor": 0, "revision": 0}

# Call commands answered with one of these codes mean "the call is gone" (§1.6).
_CALL_GONE_CODES = frozenset({404, 410})
# Commands that do not address an existing call, so 404/410 mean something else.
_NOT_CALL_COMMANDS = frozenset({"calling.dial", "calling.begin", "calling.receive"})


class SessionState(enum.Enum):
    """Where the session is. IDLE: no socket; CONNECTING: connect sent; READY."""

    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    CLOSED = "closed"


class Credentials:
    """Project + API token, or a JWT. Never shows a secret in ``repr``."""

    __slots__ = ("jwt_token", "project", "token")

    def __init__(
        self,
        project: str | None = None,
        token: str | None = None,
        jwt_token: str | None = None,
    ) -> None:
        self.project = project
        self.token = token
        self.jwt_token = jwt_token

    def auth_block(self) -> dict[str, str]:
        if self.jwt_token:
            return {"jwt_token": self.jwt_token}
        if not self.project or not self.token:
            raise LocalProtocolError("credentials need project+token or jwt_token")
        return {"project": self.project, "token": self.token}

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.project, self.token, self.jwt_token) if s)

    def __repr__(self) -> str:
        kind = "jwt" if self.jwt_token else "project+token"
        return f"Credentials(<{kind}, hidden>)"


class Reply:
    """A response to one of our requests: ``result`` on success, else ``error``."""

    __slots__ = ("error", "method", "request_id", "result")

    def __init__(
        self,
        request_id: str,
        method: str,
        result: dict[str, Any],
        error: RelayError | None,
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.result = result
        self.error = error

    def unwrap(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.result


class EventNotice:
    """A ``signalwire.event``; ``payload`` is its envelope (``event_type``, ``params``...).

    ``duplicate`` is True when the server re-sent an event we already
    received (same request id, as after a resume); it must be acked but not
    delivered again.
    """

    __slots__ = ("duplicate", "event_type", "params", "payload", "request_id")

    def __init__(
        self,
        request_id: str,
        event_type: str,
        payload: dict[str, Any],
        params: dict[str, Any],
        duplicate: bool,
    ) -> None:
        self.request_id = request_id
        self.event_type = event_type
        self.payload = payload
        self.params = params
        self.duplicate = duplicate


class PingRequest:
    __slots__ = ("params", "request_id")

    def __init__(self, request_id: str, params: dict[str, Any]) -> None:
        self.request_id = request_id
        self.params = params


class DisconnectRequest:
    """The server will close the socket; ``restart`` asks for a fresh session."""

    __slots__ = ("request_id", "restart")

    def __init__(self, request_id: str, restart: bool) -> None:
        self.request_id = request_id
        self.restart = restart


class UnknownRequest:
    __slots__ = ("method", "request_id")

    def __init__(self, request_id: str, method: str) -> None:
        self.request_id = request_id
        self.method = method


Incoming = Reply | EventNotice | PingRequest | DisconnectRequest | UnknownRequest


def is_success_code(code: object) -> bool:
    """Any 2xx is success; RELAY sends codes as strings but ints are tolerated."""
    if isinstance(code, bool):
        return False
    if isinstance(code, int):
        return 200 <= code <= 299
    if isinstance(code, str):
        return len(code) == 3 and code[0] == "2" and code.isdigit()
    return False


def _int_code(code: object) -> int | None:
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        try:
            return int(code.strip())
        except ValueError:
            return None
    return None


def reply_error(method: str, result: Mapping[str, Any]) -> RelayError | None:
    """Apply the result-code rules to a result object; None means success."""
    code = result.get("code")
    if code is None or is_success_code(code):
        return None
    int_code = _int_code(code)
    message = result.get("message")
    text = message if isinstance(message, str) else f"{method} failed"
    if (
        int_code in _CALL_GONE_CODES
        and method.startswith("calling.")
        and method not in _NOT_CALL_COMMANDS
    ):
        return CallEndedError(int_code, text)
    return RelayError(int_code, text)


def describe_frame(text: str, limit: int = 200) -> str:
    """A short, credential-free description of a raw frame for log lines."""
    try:
        shown = _encode(scrub(_decode(text)))
    except ValueError:
        return f"<{len(text)} chars, not JSON>"
    except RecursionError:
        return f"<{len(text)} chars, nested too deeply>"
    return shown if len(shown) <= limit else shown[:limit] + "..."


class RelaySession:
    """JSON-RPC bookkeeping for one RELAY session, across its sockets.

    A session outlives a socket: after a drop, :meth:`connection_lost` fails
    the pending requests and the next :meth:`start_connect` asks the server to
    resume (same ``protocol`` plus the latest ``authorization_state``).
    """

    def __init__(
        self,
        credentials: Credentials,
        contexts: Iterable[str] = (),
        *,
        agent: str = AGENT,
        dedupe_window: int = 4096,
    ) -> None:
        self.credentials = credentials
        self.contexts: list[str] = list(dict.fromkeys(contexts))
        self.agent = agent
        self.state = SessionState.IDLE
        self.protocol: str | None = None
        self.identity: str | None = None
        self.session_restored = False
        self._authorization_state: str | None = None
        self._pending: dict[str, str] = {}
        self._connect_id: str | None = None
        self._id_prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._seen_window = dedupe_window
        self._seen_order: deque[str] = deque()
        self._seen: set[str] = set()

    # -- outgoing -------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._counter)}"

    @property
    def has_authorization_state(self) -> bool:
        return self._authorization_state is not None

    def start_connect(self) -> tuple[str, str]:
        """Build the ``signalwire.connect`` frame for a new socket (resuming if we can)."""
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("the session is closed")
        params: dict[str, Any] = {
            "version": PROTOCOL_VERSION,
            "agent": self.agent,
            "event_acks": True,
            "authentication": self.credentials.auth_block(),
        }
        if self.contexts:
            params["contexts"] = list(self.contexts)
        if self.protocol is not None:
            params["protocol"] = self.protocol
            if self._authorization_state is not None:
                params["authorization_state"] = self._authorization_state
        request_id = self._next_id()
        self._pending[request_id] = "signalwire.connect"
        self._connect_id = request_id
        self.state = SessionState.CONNECTING
        return request_id, self._frame(request_id, "signalwire.connect", params)

    def handle_connect_reply(self, reply: Reply) -> None:
        """Finish the handshake. Raises :class:`AuthenticationError` on any error."""
        if reply.error is not None:
            self.state = SessionState.IDLE
            raise AuthenticationError(reply.error.code, reply.error.message)
        result = reply.result
        protocol = result.get("protocol")
        if not isinstance(protocol, str) or not protocol:
            self.state = SessionState.IDLE
            raise RemoteProtocolError("signalwire.connect result carries no protocol")
        identity = result.get("identity")
        self.session_restored = bool(result.get("session_restored")) and protocol == self.protocol
        self.protocol = protocol
        self.identity = identity if isinstance(identity, str) else ""
        self.state = SessionState.READY

    def forget_resume_state(self) -> None:
        """Start the next connect as a fresh session (restart, or a refused resume)."""
        self.protocol = None
        self._authorization_state = None

    @property
    def resuming(self) -> bool:
        """True while the connect in flight asks to resume a session."""
        return self.protocol is not None

    def request(self, method: str, params: Mapping[str, Any]) -> tuple[str, str]:
        """Return ``(request_id, frame)`` for a request, and start matching its reply."""
        if self.state is not SessionState.READY:
            raise LocalProtocolError(f"cannot send {method} while {self.state.value}")
        request_id = self._next_id()
        self._pending[request_id] = method
        return request_id, self._frame(request_id, method, params)

    def forget(self, request_id: str) -> None:
        """The caller stopped waiting: a late reply will be dropped."""
        self._pending.pop(request_id, None)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def connection_lost(self) -> list[str]:
        """The socket is gone: return the ids of requests whose outcome is now unknown."""
        lost = list(self._pending)
        self._pending.clear()
        self._connect_id = None
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.IDLE
        return lost

    def close(self) -> None:
        self._pending.clear()
        self.state = SessionState.CLOSED

    @staticmethod
    def _frame(request_id: str, method: str, params: Mapping[str, Any]) -> str:
        return _encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    @staticmethod
    def ack(request_id: str) -> str:
        """The empty result that acknowledges a server request."""
        return '{"jsonrpc":"2.0","id":' + _encode(request_id) + ',"result":{}}'

    @staticmethod
    def reply_to_ping(ping: PingRequest) -> str:
        result = {}
        timestamp = ping.params.get("timestamp")
        if timestamp is not None:
            result["timestamp"] = timestamp
        return _encode({"jsonrpc": "2.0", "id": ping.request_id, "result": result})

    @staticmethod
    def reply_unknown(request: UnknownRequest) -> str:
        error = {"code": -32601, "message": f"Method not found: {request.method}"}
        return _encode({"jsonrpc": "2.0", "id": request.request_id, "error": error})

    # -- incoming -------------------------------------------------------------

    def receive(self, text: str | bytes) -> Incoming | None:
        """Parse one frame.

        Returns None for a reply nobody waits for (late, or forgotten).
        Raises :class:`RemoteProtocolError` for a frame that is not usable;
        the session is unchanged by it and the next frame can follow.
        """
        try:
            frame = _decode(text)
        except (ValueError, UnicodeDecodeError):
            raise RemoteProtocolError("frame is not valid JSON") from None
        except RecursionError:
            raise RemoteProtocolError("frame is nested too deeply") from None
        if not isinstance(frame, dict):
            raise RemoteProtocolError("frame is not a JSON object")
        method = frame.get("method")
        request_id = frame.get("id")
        if method is None:
            return self._receive_reply(frame, request_id)
        if not isinstance(method, str):
            raise RemoteProtocolError("frame method is not a string")
        if not isinstance(request_id, str) or not request_id:
            # RELAY has no notifications; without an id we cannot even ack it.
            raise RemoteProtocolError(f"{method} request without a usable id")
        params = frame.get("params")
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise RemoteProtocolError(f"{method} params is not an object")
        if method == "signalwire.event":
            return self._receive_event(request_id, params)
        if method == "signalwire.ping":
            return PingRequest(request_id, params)
        if method == "signalwire.disconnect":
            restart = params.get("restart")
            return DisconnectRequest(request_id, restart is True or restart == "true")
        return UnknownRequest(request_id, method)

    def _receive_reply(self, frame: dict[str, Any], request_id: Any) -> Reply | None:
        if not isinstance(request_id, str):
            raise RemoteProtocolError("response without a string id")
        method = self._pending.pop(request_id, None)
        if method is None:
            return None
        if request_id == self._connect_id:
            self._connect_id = None
        error = frame.get("error")
        if error is not None:
            return Reply(request_id, method, {}, _jsonrpc_error(method, error))
        if "result" not in frame:
            return Reply(
                request_id,
                method,
                {},
                RelayError(None, f"{method}: response has neither result nor error"),
            )
        result = frame["result"]
        if not isinstance(result, dict):
            result = {"raw": result}
        return Reply(request_id, method, result, reply_error(method, result))

    def _receive_event(self, request_id: str, payload: dict[str, Any]) -> EventNotice:
        event_type = payload.get("event_type")
        if not isinstance(event_type, str):
            raise RemoteProtocolError("signalwire.event without an event_type")
        params = payload.get("params")
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise RemoteProtocolError(f"{event_type} params is not an object")
        duplicate = self._remember(request_id)
        if event_type == "signalwire.authorization.state" and not duplicate:
            state = params.get("authorization_state")
            if isinstance(state, str) and state:
                self._authorization_state = state
        return EventNotice(request_id, event_type, payload, params, duplicate)

    def _remember(self, event_id: str) -> bool:
        """Record an event id; True if it was seen recently (a re-delivery)."""
        if event_id in self._seen:
            return True
        self._seen.add(event_id)
        self._seen_order.append(event_id)
        if len(self._seen_order) > self._seen_window:
            self._seen.discard(self._seen_order.popleft())
        return False


def _jsonrpc_error(method: str, error: Any) -> RelayError:
    if not isinstance(error, dict):
        return RelayError(None, f"{method} failed: malformed error object")
    code = error.get("code")
    message = error.get("message")
    text = message if isinstance(message, str) else f"{method} failed"
    return RelayError(_int_code(code), text)
