"""Soak: 500 calls while the socket drops at random points and the server restarts us.

Runs on the mock clock, so it is quick. ``bench/soak.py`` runs the same flow on
the real clock for as long as you like.
"""

from __future__ import annotations

import gc
import json
import random
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing

from signalwire_relay_trio import (
    Call,
    ConnectionLostError,
    RelayEvent,
    RequestTimeoutError,
    open_relay,
)
from signalwire_relay_trio.testing import FakeCall, open_fake_relay

CALLS = 500
CONCURRENT = 25
SEED = 20261124

T = TypeVar("T")


async def retry(operation: Callable[[], Awaitable[T]]) -> T:
    """What an app does with an idempotent command whose outcome is unknown."""
    for _ in range(20):
        try:
            return await operation()
        except (ConnectionLostError, RequestTimeoutError):
            await trio.sleep(0.5)
    raise AssertionError("a command kept failing across reconnects")


class Soak:
    def __init__(self) -> None:
        self.events: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.completed: set[str] = set()
        self.calls: weakref.WeakSet[Call] = weakref.WeakSet()
        self.played: dict[str, trio.Event] = defaultdict(trio.Event)
        self.all_completed = trio.Event()

    def listen(self, call: Call) -> None:
        def record(event: RelayEvent) -> None:
            key = (event.event_type, event.timestamp, json.dumps(event.params, sort_keys=True))
            self.events[call.call_id].append(key)

        for event_type in ("calling.call.state", "calling.call.play"):
            call.on(event_type, record)

    async def handler(self, call: Call) -> None:
        self.calls.add(call)
        self.listen(call)
        await retry(call.answer)
        while True:
            try:
                playing = await call.play_tts("Thank you for calling")
            except ConnectionLostError:
                continue  # the start's outcome is unknown; start another
            await playing.wait()
            break
        self.played[call.call_id].set()
        await call.wait_for_ended()
        self.completed.add(call.call_id)
        if len(self.completed) == CALLS:
            self.all_completed.set()


async def caller(fake, soak: Soak, limiter: trio.CapacityLimiter, rng: random.Random) -> None:
    async with limiter:
        fake_call: FakeCall = await fake.inbound_call(context="office")
        await soak.played[fake_call.call_id].wait()  # the caller listens to the message
        await trio.sleep(rng.uniform(0.5, 3.0))
        await fake_call.hangup()


async def chaos(fake, rng: random.Random, done: trio.Event) -> None:
    disconnects_left = 1
    while not done.is_set():
        await trio.sleep(rng.uniform(2.0, 8.0))
        if disconnects_left and rng.random() < 0.2:
            disconnects_left -= 1
            await fake.send_disconnect()
        else:
            await fake.drop()


async def run_soak() -> Soak:
    rng = random.Random(SEED)
    soak = Soak()
    async with open_fake_relay() as fake:
        with trio.fail_after(3600):
            async with open_relay(**fake.connect_kwargs(memory=True)) as relay:
                async with trio.open_nursery() as nursery:
                    await nursery.start(relay.serve, soak.handler)
                    callers_done = trio.Event()
                    nursery.start_soon(chaos, fake, rng, callers_done)
                    limiter = trio.CapacityLimiter(CONCURRENT)
                    async with trio.open_nursery() as callers:
                        for _ in range(CALLS):
                            callers.start_soon(caller, fake, soak, limiter, rng)
                            await trio.sleep(0.05)
                    with trio.move_on_after(600):  # simulated; a stuck call fails below
                        await soak.all_completed.wait()
                    callers_done.set()
                    nursery.cancel_scope.cancel()
                stats = relay.statistics()
                assert stats.active_calls == 0, stats
                assert stats.actions == 0, stats
                assert stats.dials == 0, stats
                assert stats.pending_requests == 0, stats
            assert fake.connection_count > 5  # the chaos really happened
            assert fake.internal_errors == []
    return soak


def test_soak_500_calls_with_drops_and_a_disconnect() -> None:
    soak = trio.run(run_soak, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(soak.completed) == CALLS
    for call_id, keys in soak.events.items():
        assert len(keys) == len(set(keys)), f"call {call_id} saw an event twice"
        states = [k for k in keys if k[0] == "calling.call.state"]
        ended = [k for k in states if '"call_state": "ended"' in k[2]]
        assert len(ended) == 1, call_id
    gc.collect()
    assert len(soak.calls) == 0  # no Call outlived the connection
