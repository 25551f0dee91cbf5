"""``GET /metrics`` on trio, with h11: the endpoint behind ``run --metrics-port``.

It runs on the same trio loop as the connection (or, with ``--workers``, the
supervisor's), so a scrape reads the statistics between two reader steps —
no thread touches the connection's objects — and the supervisor can ask its
workers asynchronously. One request per TCP connection; a client gets
``read_timeout`` seconds to send its request, and 16 KiB of headers at most.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import h11
import trio

__all__ = ["CONTENT_TYPE", "serve_metrics"]

logger = logging.getLogger("signalwire_relay_trio.metrics")

#: The Prometheus text exposition format, as prometheus_client renders it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Render = Callable[[], Awaitable[bytes]]


async def serve_metrics(
    host: str,
    port: int,
    render: Render,
    *,
    read_timeout: float = 10.0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``await render()`` at ``/metrics`` until cancelled; starts with the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    task_status.started(bound)
    await trio.serve_listeners(partial(_one_request, render, read_timeout), listeners)


async def _one_request(render: Render, read_timeout: float, stream: trio.SocketStream) -> None:
    async with stream:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        try:
            request = await _read_request(connection, stream, read_timeout)
            if request is None:
                return
            if request.method not in (b"GET", b"HEAD"):
                status, body, kind = 405, b"only GET\n", "text/plain"
            elif request.target.split(b"?")[0] != b"/metrics":
                status, body, kind = 404, b"metrics are at /metrics\n", "text/plain"
            else:
                status, body, kind = 200, await render(), CONTENT_TYPE
            headers = [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ]
            data = connection.send(h11.Response(status_code=status, headers=headers)) or b""
            if request.method != b"HEAD":
                data += connection.send(h11.Data(data=body)) or b""
            data += connection.send(h11.EndOfMessage()) or b""
            await stream.send_all(data)
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            return  # a client that hung up or spoke something else: nothing to answer
        except Exception:
            logger.exception("metrics: rendering failed")


async def _read_request(
    connection: h11.Connection, stream: trio.SocketStream, read_timeout: float
) -> h11.Request | None:
    with trio.move_on_after(read_timeout):
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Request):
                return event
            if event is h11.NEED_DATA:
                connection.receive_data(await stream.receive_some(16 * 1024))
            elif isinstance(event, h11.ConnectionClosed):
                return None
    return None
