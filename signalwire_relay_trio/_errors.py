"""The error hierarchy. Imports nothing from the package, and not trio.

``RequestTimeoutError`` is also a ``trio.TooSlowError``, so it lives with the
trio layer in ``_connection``.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CallEndedError",
    "ConnectionLostError",
    "DialError",
    "EventOverflowError",
    "LocalProtocolError",
    "ProtocolError",
    "RelayConnectionError",
    "RelayError",
    "RemoteProtocolError",
]


class RelayError(Exception):
    """A RELAY operation failed.

    ``code`` is the server's integer code (the wire's ``"404"`` becomes ``404``)
    or ``None`` for a failure detected locally; ``message`` is human-readable.
    """

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class AuthenticationError(RelayError):
    """``signalwire.connect`` was refused. Raised at once, never retried."""


class RelayConnectionError(RelayError):
    """Could not connect, or the connection was lost for good."""


class ConnectionLostError(RelayError):
    """The socket dropped while a request was in flight; its outcome is unknown."""


class CallEndedError(RelayError):
    """The call has ended (known locally, or the server answered 404/410)."""


class DialError(RelayError):
    """An outbound dial failed. ``reason`` carries the server's reason, if any."""

    def __init__(self, code: int | None, message: str, reason: str | None = None) -> None:
        super().__init__(code, message)
        self.reason = reason


class EventOverflowError(RelayError):
    """An event subscriber fell too far behind; only that subscriber is affected."""


class ProtocolError(Exception):
    """Internal: the RELAY protocol was broken by one side."""


class LocalProtocolError(ProtocolError):
    """We broke the protocol: a bug in this library."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot use, such as a malformed frame."""
