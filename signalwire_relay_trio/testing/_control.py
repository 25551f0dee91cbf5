"""The control API: plain HTTP/1.1 + JSON under ``/control/`` on the fake's own listener.

A test in any language (or ``curl``) drives the fake's world with it — the
table is in the package docstring and the README. One request per connection
(``Connection: close``). Every body is checked (``400 {"error", "field"}``);
an unknown call or path is ``404``, a known path with the wrong method
``405``; a body over ``MAX_BODY_SIZE`` is ``413``. Reading a request is
bounded by ``READ_TIMEOUT``; the RELAY clients of the fake are served
whatever arrives here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import trio

from ._control_input import MAX_WAIT, BadInput, Fields, parse_body
from ._http import BodyTooLarge, RequestHead, read_body, send_json
from ._journal import JournalEntry
from ._messaging import MESSAGE_OUTCOMES
from ._server import FakeRelay
from ._world import DTMF_DIGITS, FakeCall

__all__ = ["READ_TIMEOUT", "ControlAPI"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

#: Seconds a client has to send a whole control request (head and body).
READ_TIMEOUT = 10.0
#: Seconds ``POST /control/calls`` and ``/messages`` wait for a subscriber by default.
SUBSCRIBER_WAIT = 5.0
CALL_STATES = ("created", "ringing", "answered", "ending", "ended")
#: The control API's dial outcomes -> the fake's.
DIAL_OUTCOMES = {"answer": "answer", "busy": "busy", "no_answer": "no_answer", "failed": "failure"}
FAULTS = ("drop", "disconnect", "malformed", "stop_pings")
#: Keys whose values the journal never shows (credentials).
SECRET_KEYS = frozenset(("token", "jwt_token", "authorization_state"))


class Reply(Exception):
    """Answer now with ``status`` and ``body`` (raised from a route)."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


Route = Callable[[JSON, list[str], dict[str, list[str]]], Awaitable[tuple[int, Any]]]


def _masked(value: Any) -> Any:
    """``value`` with every credential replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_KEYS else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def journal_json(entry: JournalEntry) -> JSON:
    """One journal entry as the control API shows it."""
    if entry.frame is None:
        kind = "raw"
    elif entry.method is not None:
        kind = "request"
    else:
        kind = "response"
    out: JSON = {
        "direction": entry.direction,
        "kind": kind,
        "method": entry.method or entry.reply_to,
        "id": entry.id,
        "params": _masked(entry.params),
        "time": entry.time,
    }
    if entry.event_type is not None:
        out["event_type"] = entry.event_type
    if entry.call_id is not None:
        out["call_id"] = entry.call_id
    if kind == "response":
        out["result"] = _masked(entry.result)
        out["error"] = entry.error
    if kind == "raw":
        out["raw"] = entry.raw
    return out


def call_json(call: FakeCall) -> JSON:
    return {
        "call_id": call.call_id,
        "state": call.state,
        "states": list(call.states),
        "context": call.context,
        "direction": call.direction,
        "device": call.device,
        "end_reason": call.end_reason,
    }


class ControlAPI:
    """Answers control requests for one :class:`FakeRelay` (``fake.control``)."""

    def __init__(self, fake: FakeRelay) -> None:
        self.fake = fake
        # path pattern -> {HTTP method: route}; "*" matches one segment (an id)
        self._routes: list[tuple[tuple[str, ...], dict[str, Route]]] = [
            (("calls",), {"POST": self._offer_call}),
            (("calls", "*"), {"GET": self._get_call}),
            (("calls", "*", "wait"), {"POST": self._wait}),
            (("calls", "*", "press"), {"POST": self._press}),
            (("calls", "*", "say"), {"POST": self._say}),
            (("calls", "*", "hangup"), {"POST": self._hangup}),
            (("dial-outcomes",), {"POST": self._dial_outcome}),
            (("messages",), {"POST": self._inbound_message}),
            (("message-outcomes",), {"POST": self._message_outcome}),
            (("journal",), {"GET": self._journal}),
            (("sessions",), {"GET": self._sessions}),
            (("faults",), {"POST": self._fault}),
            (("reset",), {"POST": self._reset}),
        ]

    async def __call__(self, stream: trio.abc.Stream, head: RequestHead) -> None:
        """Read the rest of the request, answer it, return (the caller closes)."""
        request = head.request
        assert request is not None
        connection = head.connection
        status: int = 500
        body: Any = {"error": "internal error"}
        headers: list[tuple[str, str]] = []
        try:
            with trio.fail_after(READ_TIMEOUT):
                data = await read_body(stream, connection)
            status, body, headers = await self._answer(request, data)
        except trio.TooSlowError:
            status, body = 408, {"error": f"the request took more than {READ_TIMEOUT:g} s"}
        except BodyTooLarge:
            status, body = 413, {"error": "the body is too large"}
        except h11.RemoteProtocolError as exc:
            status, body = 400, {"error": f"bad HTTP request: {exc}"}
        except trio.BrokenResourceError:
            return  # the client left: nobody to answer
        except Exception as exc:
            self.fake.record_internal_error(exc)
        logger.debug("fake relay: control %s %r -> %d", request.method, request.target, status)
        await send_json(stream, connection, status, body, headers)

    async def _answer(
        self, request: h11.Request, data: bytes
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        target = urlsplit(request.target.decode("ascii", "replace"))
        segments = target.path.strip("/").split("/")[1:]  # after "control"
        method = request.method.decode("ascii", "replace")
        for pattern, methods in self._routes:
            if len(pattern) != len(segments) or any(
                p != "*" and p != s for p, s in zip(pattern, segments, strict=True)
            ):
                continue
            route = methods.get(method)
            if route is None:
                allow = ", ".join(sorted(methods))
                return (
                    405,
                    {"error": f"{method} is not allowed here; use {allow}"},
                    [("allow", allow)],
                )
            ids = [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
            try:
                body = parse_body(data)
                status, answer = await route(body, ids, parse_qs(target.query))
            except BadInput as exc:
                return 400, exc.as_json(), []
            except Reply as reply:
                return reply.status, reply.body, []
            return status, answer, []
        return 404, {"error": f"no such control endpoint: {target.path}"}, []

    # -- helpers -------------------------------------------------------------

    def _call(self, call_id: str) -> FakeCall:
        call = self.fake.calls.get(call_id)
        if call is None:
            raise Reply(404, {"error": f"no call {call_id!r}"})
        return call

    async def _wait_for_subscriber(self, context: str, timeout: float) -> None:
        with trio.move_on_after(timeout):
            # Polling is fine: a test is waiting for its client to subscribe.
            while not any(  # noqa: ASYNC110
                s.connected and s.subscribed(context) for s in self.fake.sessions
            ):
                await trio.sleep(0.01)

    # -- calls ---------------------------------------------------------------

    async def _offer_call(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        fields = Fields(body, ("context", "from_number", "to_number", "timeout"))
        context = fields.string("context")
        numbers = {
            key: value
            for key in ("from_number", "to_number")
            if (value := fields.optional_string(key)) is not None
        }
        timeout = fields.number("timeout", default=SUBSCRIBER_WAIT, maximum=MAX_WAIT)
        await self._wait_for_subscriber(context, timeout)
        try:
            call = await self.fake.inbound_call(context, **numbers)
        except LookupError as exc:
            raise Reply(409, {"error": str(exc)}) from None
        return 201, {"call_id": call.call_id}

    async def _get_call(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        Fields(body, ())
        return 200, call_json(self._call(ids[0]))

    async def _wait(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        fields = Fields(body, ("state", "timeout"))
        state = fields.choice("state", CALL_STATES)
        timeout = fields.number("timeout", default=10.0, maximum=MAX_WAIT)
        call = self._call(ids[0])
        try:
            with trio.fail_after(timeout):
                await call.wait_for_state(state)
        except trio.TooSlowError:
            error = f"call {call.call_id} did not reach {state!r} within {timeout:g} s"
            raise Reply(408, {"error": error, "state": call.state}) from None
        except AssertionError as exc:  # it ended first
            raise Reply(409, {"error": str(exc), "state": call.state}) from None
        return 200, {"state": state}

    def _live_call(self, call_id: str) -> FakeCall:
        call = self._call(call_id)
        if call.ended:
            raise Reply(409, {"error": f"call {call_id} has ended", "state": call.state})
        return call

    async def _press(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        digits = Fields(body, ("digits",)).string("digits")
        bad = sorted(set(digits) - DTMF_DIGITS)
        if bad:
            raise BadInput(f"digits must be DTMF (0-9 * # A-D), not {''.join(bad)!r}", "digits")
        await self._live_call(ids[0]).press(digits)
        return 200, {"digits": digits}

    async def _say(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        text = Fields(body, ("text",)).string("text")
        await self._live_call(ids[0]).say(text)
        return 200, {"text": text}

    async def _hangup(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        reason = Fields(body, ("reason",)).string("reason", default="hangup")
        call = self._call(ids[0])
        await call.hangup(reason)
        return 200, {"state": call.state}

    # -- scripts -------------------------------------------------------------

    async def _dial_outcome(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        fields = Fields(body, ("to_number", "outcome", "ring_time"))
        number = fields.string("to_number")
        outcome = fields.choice("outcome", DIAL_OUTCOMES)
        ring_time = fields.number("ring_time", default=self.fake.default_ring_time, maximum=3600)
        self.fake.set_dial_outcome(number, DIAL_OUTCOMES[outcome], ring_time=ring_time)
        return 200, {"to_number": number, "outcome": outcome}

    async def _message_outcome(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        fields = Fields(body, ("to_number", "outcome"))
        number = fields.string("to_number")
        outcome = fields.choice("outcome", MESSAGE_OUTCOMES)
        self.fake.set_message_outcome(number, outcome)
        return 200, {"to_number": number, "outcome": outcome}

    async def _inbound_message(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        known = ("context", "from_number", "to_number", "body", "media", "tags", "timeout")
        fields = Fields(body, known)
        context = fields.string("context")
        from_number = fields.string("from_number")
        to_number = fields.string("to_number")
        media = fields.strings("media")
        text = fields.string("body", default="" if media else None, empty=bool(media))
        tags = fields.strings("tags")
        timeout = fields.number("timeout", default=SUBSCRIBER_WAIT, maximum=MAX_WAIT)
        await self._wait_for_subscriber(context, timeout)
        try:
            message_id = await self.fake.inbound_message(
                context, from_number, to_number, text, media=media, tags=tags
            )
        except LookupError as exc:
            raise Reply(409, {"error": str(exc)}) from None
        return 201, {"message_id": message_id}

    # -- journal, sessions, faults, reset -------------------------------------

    async def _journal(
        self, body: JSON, ids: list[str], query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        known = ("method", "call_id", "event_type", "direction")
        unknown = sorted(set(query) - set(known))
        if unknown:
            raise BadInput(f"unknown query parameter {unknown[0]!r}", unknown[0])
        criteria = {key: values[-1] for key, values in query.items()}
        direction = criteria.get("direction")
        if direction not in (None, "received", "sent"):
            raise BadInput("direction must be 'received' or 'sent'", "direction")
        entries = self.fake.journal.query(**criteria)
        return 200, [journal_json(entry) for entry in entries]

    async def _sessions(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        return 200, [
            {"protocol": s.protocol, "contexts": list(s.contexts), "connected": s.connected}
            for s in self.fake.sessions
        ]

    async def _fault(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        kind = Fields(body, ("kind",)).choice("kind", FAULTS)
        fake = self.fake
        try:
            if kind == "drop":
                await fake.drop()
            elif kind == "disconnect":
                await fake.send_disconnect()
            elif kind == "malformed":
                await fake.send_malformed("{not json")
            else:
                fake.ignore_pings = True
        except LookupError as exc:
            raise Reply(409, {"error": str(exc)}) from None
        return 200, {"kind": kind}

    async def _reset(self, body: JSON, ids: list[str], query: Any) -> tuple[int, Any]:
        Fields(body, ())
        self.fake.reset()
        await trio.lowlevel.checkpoint()
        return 200, {"reset": True}
