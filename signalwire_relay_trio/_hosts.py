"""What calls, actions and dials need from the connection: narrow interfaces.

A call does not see the connection. It sees a :class:`CallHost`: a way to
send requests, to tell the connection which calls and control ids it still
follows, and a place to run an async event listener. The connection's
registry implements it (``_registry.CallRegistry``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

__all__ = ["CallHost"]


class CallHost(Protocol):
    """The connection as a call, its actions and its dials see it."""

    @property
    def request_timeout(self) -> float: ...

    async def execute(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a request and return its result (raising ``RelayError`` subclasses)."""
        ...

    def send_nowait(self, method: str, params: Mapping[str, Any]) -> None:
        """Send a request whose reply nobody awaits (best effort, never raises)."""

    def forget_call(self, call: Any) -> None:
        """The call is over for this client: stop routing its events."""

    def register_control(self, control_id: str, call: Any) -> None:
        """Route events carrying ``control_id`` (and no call id) to ``call``."""

    def forget_control(self, control_id: str, call: Any) -> None:
        """Stop routing ``control_id`` to ``call`` (if it still points there)."""

    def spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        """Run ``run()`` as a task in the connection's nursery."""
