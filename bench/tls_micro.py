"""Micro-benchmark: client CPU per small message, ``TLSStream`` against ``trio.SSLStream``.

A ``trio.SSLStream`` server on loopback runs in its own thread (its own trio loop).
The client asks for a burst of 1, 3 or 9 messages of 300 bytes, which the server
sends with one ``send_all`` each (one TLS record each), and reads with
``receive_some(16384)`` until all have arrived, as the WebSocket reader does. The
figure is the client thread's CPU time (``time.thread_time``) per message, best of
several repeats, plus the mean number of ``receive_some`` calls per burst.

    .venv/bin/python bench/tls_micro.py [--rounds 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import queue
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalwire_relay_trio._tls import open_tls_over_tcp

MESSAGE = b"x" * 300
BURSTS = (1, 3, 9)
READ_SIZE = 16 * 1024

Opener = Callable[[int, ssl.SSLContext], Awaitable[trio.abc.Stream]]


async def serve_bursts(stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        while request := await stream.receive_some(16):
            for _ in range(request[0]):
                await stream.send_all(MESSAGE)
    except trio.BrokenResourceError:
        pass


def run_server(context: ssl.SSLContext, handoff: queue.Queue[object]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            serve = functools.partial(
                trio.serve_ssl_over_tcp, serve_bursts, 0, context, host="127.0.0.1"
            )
            listeners = await nursery.start(serve)
            port = listeners[0].transport_listener.socket.getsockname()[1]
            handoff.put((port, trio.lowlevel.current_trio_token(), nursery.cancel_scope))

    trio.run(main)


async def open_ours(port: int, context: ssl.SSLContext) -> trio.abc.Stream:
    return await open_tls_over_tcp("127.0.0.1", port, context)


async def open_trio(port: int, context: ssl.SSLContext) -> trio.abc.Stream:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1", https_compatible=True)
    await stream.do_handshake()
    return stream


async def measure(stream: trio.abc.Stream, burst: int, rounds: int) -> tuple[float, float]:
    """(µs of client CPU per message, receive_some calls per burst)."""
    wanted = burst * len(MESSAGE)
    request = bytes([burst])
    reads = 0
    start = time.thread_time()
    for _ in range(rounds):
        await stream.send_all(request)
        got = 0
        while got < wanted:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                raise RuntimeError("the server closed the connection")
            got += len(data)
            reads += 1
    cpu = time.thread_time() - start
    return cpu / (rounds * burst) * 1e6, reads / rounds


async def bench(port: int, context: ssl.SSLContext, rounds: int, repeat: int) -> None:
    openers: dict[str, Opener] = {"TLSStream": open_ours, "trio.SSLStream": open_trio}
    streams = {name: await opener(port, context) for name, opener in openers.items()}
    print(f"{'burst':>5}  {'TLSStream µs/msg':>17}  {'trio µs/msg':>12}  ratio  reads/burst")
    for burst in BURSTS:
        best = {name: (float("inf"), 0.0) for name in streams}
        for stream in streams.values():
            await measure(stream, burst, rounds // 10)  # warm up
        for _ in range(repeat):
            for name, stream in streams.items():
                best[name] = min(best[name], await measure(stream, burst, rounds))
        ours, theirs = best["TLSStream"], best["trio.SSLStream"]
        print(
            f"{burst:>5}  {ours[0]:>17.2f}  {theirs[0]:>12.2f}  {ours[0] / theirs[0]:5.2f}"
            f"  {ours[1]:.2f} vs {theirs[1]:.2f}"
        )
    for stream in streams.values():
        await stream.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    handoff: queue.Queue[object] = queue.Queue()
    server = threading.Thread(target=run_server, args=(server_context, handoff))
    server.start()
    port, token, scope = handoff.get()  # type: ignore[misc]
    try:
        trio.run(bench, port, client_context, args.rounds, args.repeat)
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        server.join()
    print(f"{ssl.OPENSSL_VERSION}, Python {sys.version.split()[0]}, trio {trio.__version__}")


if __name__ == "__main__":
    main()
