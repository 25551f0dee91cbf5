"""The listening socket, and telling a failed transport from a bug in the fake."""

from __future__ import annotations

import ssl
import sys

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["is_transport_error", "open_listener"]

_TRANSPORT_ERRORS = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    ssl.SSLError,
    OSError,
)


def is_transport_error(exc: BaseException) -> bool:
    """True when ``exc`` (every part of a group) is the connection failing, not the fake."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transport_error(inner) for inner in exc.exceptions)
    return isinstance(exc, _TRANSPORT_ERRORS)


async def open_listener(host: str, port: int) -> tuple[trio.SocketListener, str, int]:
    """Listen on ``host:port``; returns the listener, its host as a URL names it, and its port.

    A host name may bind several addresses, each on its own port when
    ``port=0``: only the first one is kept, and the URL names it by address.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    for extra in listeners[1:]:
        await extra.aclose()
    address, port = listeners[0].socket.getsockname()[:2]
    if address in ("0.0.0.0", "::"):
        address = "127.0.0.1" if address == "0.0.0.0" else "::1"
    url_host = f"[{address}]" if ":" in address else address
    return listeners[0], url_host, port
