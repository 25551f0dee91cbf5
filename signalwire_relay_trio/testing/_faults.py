"""Faults on demand: what :class:`FakeRelay` offers to break its clients' day.

Drop sockets, fail or delay the next requests of a method, send malformed
frames, ``signalwire.disconnect``, stop answering, refuse connects. A mixin
of :class:`FakeRelay`, kept apart to keep each module to one job.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ._frames import dumps, error_text, request_frame, result_text
from ._link import CLOSE_TIMEOUT, Link
from ._session import Session, SessionDirectory, SessionLink

__all__ = ["DISCONNECT_ACK_TIMEOUT", "FaultInjection"]

JSON = dict[str, Any]

DISCONNECT_ACK_TIMEOUT = 5.0


class FaultInjection:
    """The fault API of the fake relay (a mixin: the server owns the state)."""

    answering: bool
    reject_code: int | None
    _directory: SessionDirectory
    _links: set[Link]
    _failures: dict[str, deque[Callable[[Any], str]]]
    _delays: dict[str, deque[float]]
    _awaiting: dict[str, trio.Event]

    def forget_session(self, session: Session) -> None:
        raise NotImplementedError

    def session_detached(self, session: Session) -> None:
        raise NotImplementedError

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
                self.session_detached(link.session)
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
