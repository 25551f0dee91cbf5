"""``start_fake_relay()``: the fake on a background thread, driven through its control API.

For tests that are not trio — the official asyncio SDK, pytest-asyncio,
unittest, any synchronous code. The fake runs in its own ``trio.run`` on a
daemon thread; :class:`FakeRelayServer` talks to it only over HTTP (the
control API), as a test in another language would. Leaving the ``with``
block (or :meth:`FakeRelayServer.close`) stops the fake, closes its port,
joins the thread and deletes the throw-away CA file, whatever happened in
the block.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import ssl
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs
import trio

from ._certs import ThrowawayTLS
from ._open import open_fake_relay
from ._operation import FakeTimings

__all__ = ["ControlAPIError", "FakeRelayServer", "RelayControl", "start_fake_relay"]

JSON = dict[str, Any]

#: Seconds the fake may take to start, and to stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: Seconds added to a request's own wait before the HTTP client gives up.
HTTP_SLACK = 10.0


class ControlAPIError(Exception):
    """The control API answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"{status}: {error}")
        self.status = status
        self.body = body


@attrs.frozen
class _Started:
    url: str
    port: int
    token: trio.lowlevel.TrioToken
    stop: trio.CancelScope


async def _run(
    started: queue.Queue[_Started | BaseException],
    kwargs: dict[str, Any],
    timings: dict[str, float],
) -> None:
    try:
        async with open_fake_relay(**kwargs) as fake:
            if timings:
                fake.timings = attrs.evolve(fake.timings, **timings)
            with trio.CancelScope() as stop:
                started.put(_Started(fake.url, fake.port, trio.lowlevel.current_trio_token(), stop))
                await trio.sleep_forever()
    except BaseException as exc:
        started.put(exc)  # the starter is still waiting if it failed before starting
        raise


def _serve_in_thread(
    started: queue.Queue[_Started | BaseException],
    kwargs: dict[str, Any],
    timings: dict[str, float],
) -> None:
    # Whatever ends the run was already handed to the starter (or is the stop).
    with contextlib.suppress(BaseException):
        trio.run(_run, started, kwargs, timings)


class RelayControl:
    """A running fake RELAY server, seen through its control API.

    ``host`` is ``"127.0.0.1:PORT"`` (what the official SDK's ``host`` /
    ``SIGNALWIRE_SPACE`` takes), ``url`` the full ``ws://``/``wss://`` URL,
    ``ca_file`` the CA to trust (``None`` without TLS), ``control_url`` the
    control API's root. Every method is one control API request; an error
    status raises :class:`ControlAPIError` (``TimeoutError`` for a wait that
    timed out). :meth:`from_start_line` attaches to a standalone fake
    (``python -m signalwire_relay_trio.testing``) from the JSON line it prints.
    """

    def __init__(
        self, *, url: str, ca_file: str | None, project: str, token: str, contexts: Sequence[str]
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or parts.port is None:
            raise ValueError(f"expected a ws:// or wss:// URL with a port, not {url!r}")
        self.url = url
        self.port = parts.port
        self.host = f"{parts.hostname}:{parts.port}"
        self.ca_file = ca_file
        self.project = project
        self.token = token
        self.contexts = tuple(contexts)
        self._client_context = (
            ssl.create_default_context(cafile=ca_file) if parts.scheme == "wss" else None
        )
        scheme = "https" if parts.scheme == "wss" else "http"
        self.control_url = f"{scheme}://{self.host}/control"
        self._closed = False

    @classmethod
    def from_start_line(cls, line: str | bytes) -> RelayControl:
        """Attach to a standalone fake from the JSON object its first line holds."""
        info = json.loads(line)
        return cls(
            url=info["url"],
            ca_file=info.get("ca_file"),
            project=info["project"],
            token=info["token"],
            contexts=info.get("contexts", ()),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @property
    def env(self) -> dict[str, str]:
        """The ``SIGNALWIRE_*`` variables the official SDK (and ``open_relay``) read."""
        env = {
            "SIGNALWIRE_PROJECT_ID": self.project,
            "SIGNALWIRE_API_TOKEN": self.token,
            "SIGNALWIRE_SPACE": self.host,
        }
        if self.ca_file is not None:
            env["SIGNALWIRE_RELAY_CA_FILE"] = self.ca_file
        return env

    # -- the control API ---------------------------------------------------------

    def request(self, method: str, path: str, body: JSON | None = None, wait: float = 0) -> Any:
        """One control request; returns the decoded JSON answer (errors raise)."""
        if self._closed:
            raise RuntimeError("the fake RELAY server is closed")
        hostname = self.host.rpartition(":")[0]
        timeout = wait + HTTP_SLACK
        connection: http.client.HTTPConnection
        if self._client_context is not None:
            connection = http.client.HTTPSConnection(
                hostname, self.port, timeout=timeout, context=self._client_context
            )
        else:
            connection = http.client.HTTPConnection(hostname, self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"content-type": "application/json"} if payload is not None else {}
            connection.request(method, f"/control{path}", body=payload, headers=headers)
            response = connection.getresponse()
            status, data = response.status, response.read()
        finally:
            connection.close()
        answer = json.loads(data) if data else None
        if status >= 400:
            if status == 408:
                error = answer.get("error") if isinstance(answer, dict) else answer
                raise TimeoutError(error)
            raise ControlAPIError(status, answer)
        return answer

    def inbound_call(
        self,
        context: str = "office",
        from_number: str | None = None,
        to_number: str | None = None,
        *,
        timeout: float = 5.0,
    ) -> str:
        """Offer an inbound call (waiting up to ``timeout`` for a subscriber); its call id."""
        body: JSON = {"context": context, "timeout": timeout}
        if from_number is not None:
            body["from_number"] = from_number
        if to_number is not None:
            body["to_number"] = to_number
        call_id: str = self.request("POST", "/calls", body, wait=timeout)["call_id"]
        return call_id

    def call(self, call_id: str) -> JSON:
        """``{"call_id", "state", "states", "context", "direction", "device", "end_reason"}``."""
        answer: JSON = self.request("GET", f"/calls/{call_id}")
        return answer

    def wait_for_state(self, call_id: str, state: str, timeout: float = 10.0) -> None:
        """Block until the call reached ``state``; ``TimeoutError`` after ``timeout``."""
        body = {"state": state, "timeout": timeout}
        self.request("POST", f"/calls/{call_id}/wait", body, wait=timeout)

    def press(self, call_id: str, digits: str) -> None:
        self.request("POST", f"/calls/{call_id}/press", {"digits": digits})

    def say(self, call_id: str, text: str) -> None:
        self.request("POST", f"/calls/{call_id}/say", {"text": text})

    def hangup(self, call_id: str, reason: str = "hangup") -> None:
        self.request("POST", f"/calls/{call_id}/hangup", {"reason": reason})

    def dial_outcome(self, to_number: str, outcome: str, ring_time: float | None = None) -> None:
        """Script dials to ``to_number``: ``answer``, ``busy``, ``no_answer``, ``failed``."""
        body: JSON = {"to_number": to_number, "outcome": outcome}
        if ring_time is not None:
            body["ring_time"] = ring_time
        self.request("POST", "/dial-outcomes", body)

    def message_outcome(self, to_number: str, outcome: str) -> None:
        """Script messages to ``to_number``: ``delivered``, ``undelivered``, ``failed``."""
        self.request("POST", "/message-outcomes", {"to_number": to_number, "outcome": outcome})

    def inbound_message(
        self,
        context: str = "office",
        from_number: str = "+15559870001",
        to_number: str = "+15551230000",
        body: str = "",
        *,
        media: Sequence[str] = (),
        timeout: float = 5.0,
    ) -> str:
        """Deliver an inbound message; its message id."""
        fields: JSON = {
            "context": context,
            "from_number": from_number,
            "to_number": to_number,
            "body": body,
            "timeout": timeout,
        }
        if media:
            fields["media"] = list(media)
        message_id: str = self.request("POST", "/messages", fields, wait=timeout)["message_id"]
        return message_id

    def journal(
        self,
        method: str | None = None,
        call_id: str | None = None,
        *,
        event_type: str | None = None,
        direction: str | None = None,
    ) -> list[JSON]:
        """Journal entries (both directions unless ``direction``), oldest first."""
        criteria = {
            "method": method,
            "call_id": call_id,
            "event_type": event_type,
            "direction": direction,
        }
        query = urlencode({k: v for k, v in criteria.items() if v is not None})
        entries: list[JSON] = self.request("GET", f"/journal?{query}" if query else "/journal")
        return entries

    def sessions(self) -> list[JSON]:
        """``[{"protocol", "contexts", "connected"}]`` for the live sessions."""
        sessions: list[JSON] = self.request("GET", "/sessions")
        return sessions

    def fault(self, kind: str) -> None:
        """``drop``, ``disconnect``, ``malformed`` or ``stop_pings``."""
        self.request("POST", "/faults", {"kind": kind})

    def reset(self) -> None:
        """End every call; clear scripts, faults and the journal."""
        self.request("POST", "/reset")


class FakeRelayServer(RelayControl):
    """A fake RELAY server on a background thread (made by :func:`start_fake_relay`).

    A :class:`RelayControl` that also owns the fake: :meth:`close` (or
    leaving the ``with`` block) stops it.
    """

    def __init__(
        self,
        *,
        tls: ThrowawayTLS | None,
        project: str,
        token: str,
        jwt_token: str | None,
        contexts: Sequence[str],
        ping_interval: float | None,
        timings: dict[str, float],
        bounds: dict[str, int] | None = None,
    ) -> None:
        self._tls = tls
        started: queue.Queue[_Started | BaseException] = queue.Queue()
        kwargs: dict[str, Any] = {
            "project": project,
            "token": token,
            "jwt_token": jwt_token,
            "contexts": tuple(contexts),
            "ssl_context": tls.server_context if tls is not None else None,
            "ping_interval": ping_interval,
            **(bounds or {}),
        }
        self._thread = threading.Thread(
            target=_serve_in_thread,
            args=(started, kwargs, timings),
            name="fake-relay",
            daemon=True,
        )
        self._thread.start()
        try:
            outcome = started.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise RuntimeError("the fake RELAY server did not start") from None
        if isinstance(outcome, BaseException):
            self._thread.join(STOP_TIMEOUT)
            raise outcome
        self._started: _Started | None = outcome
        super().__init__(
            url=outcome.url,
            ca_file=tls.ca_file if tls is not None else None,
            project=project,
            token=token,
            contexts=contexts,
        )

    def close(self) -> None:
        """Stop the fake, join its thread, delete the throw-away CA; idempotent."""
        self._closed = True
        started, self._started = self._started, None
        if started is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(started.stop.cancel, trio_token=started.token)
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():  # pragma: no cover - a bug in the fake
                raise RuntimeError("the fake RELAY server did not stop")
        if self._tls is not None:
            self._tls.remove()

    @property
    def running(self) -> bool:
        return self._started is not None and self._thread.is_alive()

    def __enter__(self) -> FakeRelayServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_fake_relay(
    *,
    tls: bool = False,
    ca_file: str | None = None,
    project: str = "test-project",
    token: str = "test-token",
    jwt_token: str | None = None,
    contexts: Sequence[str] = ("office",),
    ping_interval: float | None = None,
    timings: dict[str, float] | None = None,
    journal_limit: int | None = None,
    ended_call_limit: int | None = None,
    write_queue_limit: int | None = None,
    partial_frames_limit: int | None = None,
) -> FakeRelayServer:
    """Start a fake RELAY server on 127.0.0.1 (a free port) in a background thread.

    Use it as a context manager: ``with start_fake_relay(tls=True) as
    server:``. With ``tls`` it serves ``wss://`` (and the control API over
    ``https://``) with a throw-away certificate whose CA is written to
    ``ca_file`` (default: a temporary file, deleted on close). ``timings``
    sets fields of :class:`FakeTimings` (seconds, on the real clock here).
    The ``*_limit`` bounds are :func:`open_fake_relay`'s (``None``: its default).
    """
    given = {
        "journal_limit": journal_limit,
        "ended_call_limit": ended_call_limit,
        "write_queue_limit": write_queue_limit,
        "partial_frames_limit": partial_frames_limit,
    }
    bounds = {name: value for name, value in given.items() if value is not None}
    unknown = sorted(set(timings or {}) - {field.name for field in attrs.fields(FakeTimings)})
    if unknown:
        raise ValueError(f"unknown timings {unknown}: see FakeTimings for the fields")
    throwaway = ThrowawayTLS(ca_file=ca_file) if tls else None
    try:
        return FakeRelayServer(
            tls=throwaway,
            project=project,
            token=token,
            jwt_token=jwt_token,
            contexts=contexts,
            ping_interval=ping_interval,
            timings=dict(timings or {}),
            bounds=bounds,
        )
    except BaseException:
        if throwaway is not None:
            throwaway.remove()
        raise
