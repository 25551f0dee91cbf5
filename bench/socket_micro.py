"""The socket seam, measured: trio's SocketStream against ``_socket.RawSocketStream``.

    .venv/bin/python bench/socket_micro.py

A 200-byte send and the receive of it over a socket pair, 20,000 times in one
task, CPU µs per pair. SocketStream yields to the run loop after every send
and receive that did not have to wait; RawSocketStream only after a receive
that found its data at once (here, every receive).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalwire_relay_trio._socket import RawSocketStream

N = 20_000
MESSAGE = b"x" * 200


async def _pairs(send: trio.abc.SendStream, receive: trio.abc.ReceiveStream) -> float:
    start = time.process_time()
    for _ in range(N):
        await send.send_all(MESSAGE)
        got = 0
        while got < len(MESSAGE):
            got += len(await receive.receive_some(65536))
    return (time.process_time() - start) / N * 1e6


async def main() -> None:
    for _ in range(2):
        left, right = socket.socketpair()
        trio_left = trio.SocketStream(trio.socket.from_stdlib_socket(left))
        trio_right = trio.SocketStream(trio.socket.from_stdlib_socket(right))
        print(f"trio.SocketStream  {await _pairs(trio_left, trio_right):6.2f} µs per send+receive")
        await trio_left.aclose()
        await trio_right.aclose()
        left, right = socket.socketpair()
        async with RawSocketStream(left) as raw_left, RawSocketStream(right) as raw_right:
            cost = await _pairs(raw_left, raw_right)
            print(f"RawSocketStream    {cost:6.2f} µs per send+receive")


if __name__ == "__main__":
    trio.run(main)
