"""A long soak on the real clock: calls through the fake server while it misbehaves.

    python bench/soak.py --calls 5000 --concurrent 50 --seed 7

The fake drops the client's socket at random moments and now and then sends
``signalwire.disconnect``; every call must still finish its flow (answer,
play a prompt, wait for the caller to hang up), no event may reach a handler
twice, and nothing may be left registered when ``open_relay`` exits. The
test suite runs the same idea on the mock clock (tests/test_soak.py); this
one runs over a loopback socket for as long as you ask.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from typing import Any

import attrs
import trio

from signalwire_relay_trio import (
    Call,
    ConnectionLostError,
    RelayEvent,
    RequestTimeoutError,
    open_relay,
)
from signalwire_relay_trio.testing import open_fake_relay


class Tally:
    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.seen: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.completed: set[str] = set()
        self.played: dict[str, trio.Event] = defaultdict(trio.Event)
        self.all_completed = trio.Event()
        self.retries = 0

    async def handler(self, call: Call) -> None:
        def record(event: RelayEvent) -> None:
            key = (event.event_type, event.timestamp, json.dumps(event.params, sort_keys=True))
            self.seen[call.call_id].append(key)

        call.on("calling.call.state", record)
        call.on("calling.call.play", record)
        while True:
            try:
                await call.answer()
                playing = await call.play_tts("Thank you for calling")
                await playing.wait()
                break
            except (ConnectionLostError, RequestTimeoutError):
                self.retries += 1  # outcome unknown: the app decides to try again
        self.played[call.call_id].set()
        await call.wait_for_ended()
        self.completed.add(call.call_id)
        if len(self.completed) == self.calls:
            self.all_completed.set()


async def soak(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    tally = Tally(args.calls)
    started = time.monotonic()
    async with open_fake_relay() as fake:
        fake.timings.tts_seconds_per_char = 0.005
        async with open_relay(**fake.connect_kwargs(memory=False)) as relay:
            async with trio.open_nursery() as nursery:
                await nursery.start(relay.serve, tally.handler)

                async def chaos() -> None:
                    while True:
                        await trio.sleep(rng.uniform(args.chaos_min, args.chaos_max))
                        if rng.random() < 0.15:
                            await fake.send_disconnect(restart=rng.random() < 0.3)
                        else:
                            await fake.drop()

                async def caller(limiter: trio.CapacityLimiter) -> None:
                    async with limiter:
                        while True:
                            try:
                                fake_call = await fake.inbound_call(context="office")
                                break
                            except LookupError:  # nobody subscribed: mid-reconnect
                                await trio.sleep(0.05)
                        await tally.played[fake_call.call_id].wait()
                        await trio.sleep(rng.uniform(0.01, 0.2))
                        await fake_call.hangup()

                nursery.start_soon(chaos)
                limiter = trio.CapacityLimiter(args.concurrent)
                async with trio.open_nursery() as callers:
                    for _ in range(args.calls):
                        callers.start_soon(caller, limiter)
                with trio.move_on_after(args.settle):
                    await tally.all_completed.wait()
                nursery.cancel_scope.cancel()
            leftovers = attrs.asdict(relay.statistics())
        connections = fake.connection_count
    duplicates = sum(len(keys) - len(set(keys)) for keys in tally.seen.values())
    report = {
        "calls": args.calls,
        "completed": len(tally.completed),
        "duplicate_events": duplicates,
        "connections": connections,
        "app_retries": tally.retries,
        "left_registered": leftovers,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report, indent=2))
    ok = (
        len(tally.completed) == args.calls
        and duplicates == 0
        and not any(leftovers[key] for key in ("calls", "actions", "dials", "pending_requests"))
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chaos-min", type=float, default=0.5, help="seconds between faults")
    parser.add_argument("--chaos-max", type=float, default=3.0)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait at the end")
    return trio.run(soak, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
