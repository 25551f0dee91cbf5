"""One serving process of ``run``: connect, serve the handler, drain on SIGTERM or Ctrl+C.

Used as is without ``--workers``, and as each worker with it. A worker also
answers its supervisor on a control socket (one line ``stats N`` in, one JSON
line of its ``relay.statistics()`` out) and drains when that socket closes,
so a worker never outlives a supervisor that was killed.
"""

from __future__ import annotations

import inspect
import json
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio

from ._connection import RelayConnection
from ._groups import raise_single
from ._open import open_relay
from ._state import ConnectionState, RelayStatistics

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FATAL",
    "STOP_SIGNALS",
    "ServiceOptions",
    "bind_handler",
    "run_service",
    "statistics_from_json",
    "statistics_to_json",
]

logger = logging.getLogger("signalwire_relay_trio.run")

#: A worker that cannot work at all (credentials refused): the supervisor stops, not restarts.
EXIT_FATAL = 3
#: Stopped by a second signal before the drain finished.
EXIT_ABORTED = 1
#: The signals that drain (and, SIGINT again, abort).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

Handler = Callable[..., Awaitable[Any]]


@attrs.frozen(kw_only=True)
class ServiceOptions:
    """What one serving process needs (the parsed command line, resolved)."""

    contexts: tuple[str, ...]
    messages: bool = False
    host: str | None = None
    url: str | None = None
    drain_timeout: float = 30.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    control_fd: int | None = None


def bind_handler(handler: Handler, relay: RelayConnection) -> Callable[[Any], Awaitable[Any]]:
    """``handler(call)``, or ``handler(call, relay)`` when it takes a second argument.

    A handler that dials out or replies to a message needs the connection;
    with ``run`` it cannot close over one, so it asks for it as a parameter.
    """
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        return handler
    except ValueError:  # no signature to inspect (some builtins): one argument
        return handler

    async def with_relay(item: Any) -> Any:
        return await handler(item, relay)

    return with_relay


def statistics_to_json(stats: RelayStatistics) -> dict[str, Any]:
    data = attrs.asdict(stats)
    data["state"] = stats.state.value
    return data


def statistics_from_json(data: dict[str, Any]) -> RelayStatistics:
    names = {field.name for field in attrs.fields(RelayStatistics)}
    values = {name: value for name, value in data.items() if name in names}
    values["state"] = ConnectionState(values["state"])
    return RelayStatistics(**values)


class _Stop:
    """The first SIGTERM/SIGINT asks for a drain; a SIGINT while draining aborts."""

    def __init__(self) -> None:
        self.drain = trio.Event()
        self.aborted = False


async def run_service(options: ServiceOptions, handler: Handler) -> int:
    """Serve until signalled, then drain; returns the process exit code.

    Errors of the connection (``AuthenticationError``, ``RelayConnectionError``)
    leave as themselves, never inside an exception group.
    """
    stop = _Stop()
    try:
        with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
            if hasattr(signal, "pthread_sigmask"):  # a supervisor starts workers with them held
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_signals, signals, stop, nursery.cancel_scope)
                control = _control_stream(options.control_fd)
                async with open_relay(
                    contexts=options.contexts, host=options.host, url=options.url
                ) as relay:
                    if control is not None:
                        nursery.start_soon(_answer_control, control, relay, stop)
                    await _serve(options, handler, relay, stop)
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group)
    return EXIT_ABORTED if stop.aborted else 0


async def _serve(
    options: ServiceOptions, handler: Handler, relay: RelayConnection, stop: _Stop
) -> None:
    kind = "messages" if options.messages else "calls"
    async with trio.open_nursery() as nursery:
        if options.metrics_port is not None:
            from ._metrics_http import serve_metrics

            port = await nursery.start(
                serve_metrics, options.metrics_host, options.metrics_port, _renderer(relay)
            )
            logger.info("metrics at http://%s:%d/metrics", options.metrics_host, port)
        serve = relay.serve_messages if options.messages else relay.serve
        await nursery.start(serve, bind_handler(handler, relay))
        logger.info("serving %s on %s", kind, ", ".join(options.contexts))
        await stop.drain.wait()
        active = relay.statistics().active_calls
        logger.info(
            "draining: no new %s; waiting up to %g s for %d active calls",
            kind,
            options.drain_timeout,
            active,
        )
        await relay.drain(options.drain_timeout)
        logger.info("drained")
        nursery.cancel_scope.cancel()


def _renderer(relay: RelayConnection) -> Callable[[], Awaitable[bytes]]:
    from prometheus_client import CollectorRegistry, generate_latest

    from .metrics import RelayCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RelayCollector(relay))

    async def render() -> bytes:
        return generate_latest(registry)

    return render


async def _watch_signals(signals: Any, stop: _Stop, everything: trio.CancelScope) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        if not stop.drain.is_set():
            logger.info("%s: draining (Ctrl+C again to stop at once)", name)
            stop.drain.set()
        elif signum == signal.SIGTERM:
            # systemd's default KillMode signals every process of the unit, so a
            # worker may get SIGTERM from it and from its supervisor: still one drain.
            logger.debug("SIGTERM while draining: already draining")
        else:
            logger.warning("%s again: stopping without waiting for active calls", name)
            stop.aborted = True
            everything.cancel()


def _control_stream(fd: int | None) -> trio.SocketStream | None:
    if fd is None:
        return None
    return trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))


async def _answer_control(stream: trio.SocketStream, relay: RelayConnection, stop: _Stop) -> None:
    buffer = b""
    async with stream:
        while True:
            try:
                chunk = await stream.receive_some(4096)
            except trio.BrokenResourceError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                words: Sequence[bytes] = line.split()
                if len(words) == 2 and words[0] == b"stats":
                    reply = {"seq": words[1].decode(), **statistics_to_json(relay.statistics())}
                    await stream.send_all(json.dumps(reply).encode() + b"\n")
    if not stop.drain.is_set():
        logger.warning("the supervisor went away: draining")
        stop.drain.set()
