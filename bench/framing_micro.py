"""Micro-benchmark of the client's WebSocket framing: wsproto against ours.

What the client does per frame, nothing else:

* build: frame and mask one outgoing text message (150, 250 and 400 bytes of
  JSON-like ASCII), as ``ClientWebSocket.send`` does;
* parse: turn one read holding 1, 10 or 50 complete server text frames of
  200-1500 bytes (unmasked, seeded sizes) into the list of messages, as
  ``ClientWebSocket.receive_batch`` does.

wsproto runs on a client connection that went through a real (in-memory)
upgrade, the way the transport used it; ours is ``_framing`` (skipped if the
module is missing). Each figure is the best of several repeats of a timed loop
(µs per operation), so it shows the cost of the code, not the machine's noise.

    .venv/bin/python bench/framing_micro.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, Request, TextMessage

try:
    from signalwire_relay_trio import _framing
except ImportError:  # measuring before our framer exists
    _framing = None  # type: ignore[assignment]

BUILD_SIZES = (150, 250, 400)
PARSE_COUNTS = (1, 10, 50)


def json_like(size: int, rng: random.Random) -> str:
    """An ASCII text of exactly ``size`` characters that looks like a RELAY frame."""
    request_id = f"{rng.getrandbits(32):08x}-0000-4000-8000-000000000000"
    head = '{"jsonrpc":"2.0","id":"' + request_id + '","params":{"x":"'
    tail = '"}}'
    filler = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(size))
    return (head + filler)[: size - len(tail)] + tail


def open_wsproto_client() -> WSConnection:
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="bench", target="/")))
    for event in server.events():
        assert isinstance(event, Request)
    client.receive_data(server.send(AcceptConnection()))
    assert any(isinstance(event, AcceptConnection) for event in client.events())
    return client


def server_read(count: int, rng: random.Random) -> tuple[bytes, list[str]]:
    """One read's worth of ``count`` unmasked server text frames of 200-1500 bytes."""
    server = Connection(ConnectionType.SERVER)
    texts = [json_like(rng.randint(200, 1500), rng) for _ in range(count)]
    return b"".join(server.send(TextMessage(data=text)) for text in texts), texts


def build_wsproto(ws: WSConnection, text: str) -> bytes:
    """As the transport did: a new event per message, then send."""
    return ws.send(TextMessage(data=text))


def best_us(func: Callable[[], object], repeat: int, min_time: float = 0.2) -> float:
    """Best of ``repeat`` timed loops, in µs per call of ``func``."""
    loops = 1
    while True:  # calibrate: enough loops to take min_time
        start = time.perf_counter()
        for _ in range(loops):
            func()
        if time.perf_counter() - start >= min_time:
            break
        loops *= 2
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            func()
        best = min(best, (time.perf_counter() - start) / loops)
    return best * 1e6


def measure(repeat: int) -> dict[str, dict[str, float]]:
    rng = random.Random(5)
    results: dict[str, dict[str, float]] = {"wsproto": {}}
    if _framing is not None:
        results["ours"] = {}

    for size in BUILD_SIZES:
        text = json_like(size, rng)
        ws = open_wsproto_client()
        results["wsproto"][f"build {size} B"] = best_us(
            functools.partial(build_wsproto, ws, text), repeat
        )
        if _framing is not None:
            results["ours"][f"build {size} B"] = best_us(
                functools.partial(_framing.encode_text, text), repeat
            )

    for count in PARSE_COUNTS:
        data, texts = server_read(count, rng)
        ws = open_wsproto_client()

        def parse_wsproto(ws: WSConnection = ws, data: bytes = data) -> list[str]:
            ws.receive_data(data)
            return [event.data for event in ws.events() if isinstance(event, TextMessage)]

        assert parse_wsproto() == texts
        key = f"parse {count} frame{'s' if count > 1 else ''} ({len(data)} B)"
        results["wsproto"][key] = best_us(parse_wsproto, repeat)
        if _framing is not None:
            parser = _framing.FrameParser()
            assert parser.feed(data) == texts
            results["ours"][key] = best_us(functools.partial(parser.feed, data), repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed loops per figure")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    results = measure(args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = list(results)
    print(f"Python {sys.version.split()[0]}; µs per operation, best of {args.repeat}")
    header = f"{'operation':<32}" + "".join(f"{name:>12}" for name in names)
    if len(names) == 2:
        header += f"{'ratio':>10}"
    print(header)
    for key in results["wsproto"]:
        row = f"{key:<32}" + "".join(f"{results[name][key]:>12.2f}" for name in names)
        if len(names) == 2:
            row += f"{results['ours'][key] / results['wsproto'][key]:>10.2f}"
        count = key.split()[1]
        if key.startswith("parse") and count != "1":
            per: list[Any] = [results[name][key] / int(count) for name in names]
            row += "   (" + ", ".join(f"{value:.2f}" for value in per) + " per frame)"
        print(row)


if __name__ == "__main__":
    main()
