"""The bench's server process: our fake RELAY server over wss://, driven by the runner.

    python bench/server.py --cert server.pem --key server.key

It prints ``{"event": "listening", "url": ...}`` once it listens, then reads
commands from stdin (one JSON object per line) and answers each with one
JSON line on stdout:

* ``{"cmd": "wait_client"}`` — wait until a client subscribed the bench context.
* ``{"cmd": "flow", "calls": N, "concurrency": C, "plays": P}`` — offer N
  inbound calls, C at a time; the client answers, plays P TTS items and hangs
  up. Reports calls/s and the offer→``ended`` latency of every call.
* ``{"cmd": "park", "calls": K, "concurrency": C}`` — offer K calls whose
  handler parks after answering; returns once all K are answered.
* ``{"cmd": "unpark"}`` — hang up every parked call (the far end hangs up).
* ``{"cmd": "ping"}`` — nothing; its reply is a CPU/time sample.
* ``{"cmd": "exit"}``.

Every command also reports the server's CPU busy fraction over the command
(``time.process_time()`` delta / wall delta): near 1.0 means the fake, not
the client, set the pace. The fake runs on trio's real clock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import ssl
import sys
import time
from typing import Any

import trio
from _benchlib import CONTEXT, PROJECT, TOKEN, emit, from_number_for, summarize_ms

from signalwire_relay_trio.testing import FakeCall, FakeRelay, open_fake_relay


class Bench:
    def __init__(self, fake: FakeRelay) -> None:
        self.fake = fake
        self.parked: list[FakeCall] = []

    def session(self) -> Any:
        for session in self.fake.sessions:
            if CONTEXT in session.contexts and session.connected:
                return session
        raise LookupError("no client is subscribed to the bench context")

    async def wait_client(self) -> dict[str, Any]:
        while True:
            try:
                session = self.session()
            except LookupError:
                await trio.sleep(0.01)
                continue
            return {"ok": True, "protocol": session.protocol}

    async def flow(self, calls: int, concurrency: int, plays: int) -> dict[str, Any]:
        fake = self.fake
        session = self.session()
        from_number = from_number_for(plays)
        latencies: list[float] = []
        offered: list[FakeCall] = []
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = trio.current_time()
                call = await fake.inbound_call(CONTEXT, from_number=from_number, session=session)
                offered.append(call)
                await call.wait_for_state("ended")
                latencies.append(trio.current_time() - start)

        frames_before = len(fake.journal)
        async with trio.open_nursery() as nursery:
            for _ in range(max(1, min(concurrency, calls))):
                nursery.start_soon(worker)
        frames = len(fake.journal) - frames_before
        # Check every client did the same work: the plays asked for, then a hangup.
        # (A client may send calling.end more than once: that shows in frames_in_per_call.)
        wrong = 0
        example: list[str | None] = []
        for call in offered:
            methods = [entry.method for entry in call.commands]
            if (
                methods.count("calling.answer") != 1
                or methods.count("calling.play") != plays
                or methods.count("calling.end") < 1
            ):
                wrong += 1
                example = example or methods
        return {
            "calls": len(latencies),
            "latency_ms": summarize_ms(latencies),
            "frames_in_per_call": frames / max(1, calls),
            "wrong_flows": wrong,
            "wrong_example": example,
        }

    async def park(self, calls: int, concurrency: int) -> dict[str, Any]:
        fake = self.fake
        session = self.session()
        latencies: list[float] = []
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = trio.current_time()
                call = await fake.inbound_call(
                    CONTEXT, from_number=from_number_for(-1), session=session
                )
                self.parked.append(call)
                await call.wait_for_state("answered")
                latencies.append(trio.current_time() - start)

        async with trio.open_nursery() as nursery:
            for _ in range(max(1, min(concurrency, calls))):
                nursery.start_soon(worker)
        return {"calls": len(latencies), "answer_latency_ms": summarize_ms(latencies)}

    async def unpark(self) -> dict[str, Any]:
        parked, self.parked = self.parked, []
        for call in parked:
            await call.hangup()
        return {"calls": len(parked)}


async def read_commands(stream: trio.abc.ReceiveStream) -> Any:
    buffer = b""
    while True:
        while b"\n" not in buffer:
            data = await stream.receive_some(65536)
            if not data:
                return
            buffer += data
        line, buffer = buffer.split(b"\n", 1)
        if line.strip():
            yield json.loads(line)


async def main(args: argparse.Namespace) -> None:
    ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ssl_context.load_cert_chain(args.cert, args.key)
    async with open_fake_relay(
        project=PROJECT, token=TOKEN, contexts=(CONTEXT,), ssl_context=ssl_context
    ) as fake:
        timings = getattr(fake, "timings", None)
        if timings is not None:  # action playouts exist in this version of the fake
            timings.tts_seconds_per_char = 0.0
            timings.tts_min = args.tts_seconds
        bench = Bench(fake)
        emit(
            {
                "event": "listening",
                "url": fake.url,
                "playouts": timings is not None,
                "pid": os.getpid(),
            }
        )
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        async for command in read_commands(stdin):
            name = command.get("cmd")
            if name == "exit":
                break
            cpu0, wall0 = time.process_time(), time.monotonic()
            try:
                with trio.fail_after(float(command.get("timeout", 120))):
                    if name == "wait_client":
                        result = await bench.wait_client()
                    elif name == "flow":
                        result = await bench.flow(
                            int(command["calls"]),
                            int(command["concurrency"]),
                            int(command["plays"]),
                        )
                    elif name == "park":
                        result = await bench.park(
                            int(command["calls"]), int(command["concurrency"])
                        )
                    elif name == "unpark":
                        result = await bench.unpark()
                    elif name == "ping":  # a CPU/time sample for phases the client drives
                        result = {}
                    else:
                        result = {"error": f"unknown command {name!r}"}
            except trio.TooSlowError:
                result = {"error": f"{name} timed out after {command.get('timeout', 120)} s"}
            except Exception as exc:  # report, keep serving: the runner decides
                result = {"error": f"{name} failed: {exc!r}"}
            wall = time.monotonic() - wall0
            cpu = time.process_time() - cpu0
            result.update(
                {
                    "cmd": name,
                    "wall": wall,
                    "server_cpu": cpu,
                    "server_busy": cpu / wall if wall > 0 else 0.0,
                    "internal_errors": len(fake.internal_errors),
                    "process_time": time.process_time(),
                    "mono": time.monotonic(),
                }
            )
            emit(result)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument(
        "--tts-seconds", type=float, default=0.0, help="simulated TTS duration of one play"
    )
    return parser.parse_args()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main, parse_args())
