"""The waiter seam, measured: ``Latch`` (one parked task) against ``trio.Event``.

    .venv/bin/python bench/waiter_micro.py

Two numbers per waiter kind:

* memory per parked waiter: N tasks each wait on their own waiter, as idle
  calls do; tracemalloc's growth divided by N (the task's own cost is the
  same for both kinds and included);
* CPU per wake-up: one task waits, another sets, round after round.

ARCHITECTURE.md quotes the result: the shortcut stays only if it is clearly
better than the idiom.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import trio
import trio.testing

from signalwire_relay_trio._state import Latch


def make_latch() -> Any:
    return Latch()


def make_event() -> Any:
    return trio.Event()


async def parked_memory(make: Callable[[], Any], count: int) -> float:
    """Bytes per task parked on its own waiter."""
    waiters = [make() for _ in range(count)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with trio.open_nursery() as nursery:
        for waiter in waiters:
            nursery.start_soon(waiter.wait)
        await trio.testing.wait_all_tasks_blocked()
        after = tracemalloc.get_traced_memory()[0]
        for waiter in waiters:
            waiter.set()
    tracemalloc.stop()
    return (after - before) / count


async def wake_cpu(make: Callable[[], Any], rounds: int) -> float:
    """Microseconds of CPU per wake-up, two tasks setting each other's waiter in turn."""
    slots = [make(), make()]

    async def player(mine: int) -> None:
        other = 1 - mine
        for turn in range(rounds):
            if mine == 1 or turn > 0:
                await slots[mine].wait()
                slots[mine] = make()
            slots[other].set()

    start = time.process_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(player, 0)
        nursery.start_soon(player, 1)
    return (time.process_time() - start) / (2 * rounds) * 1e6


async def main(count: int, rounds: int) -> None:
    for name, make in (("Latch", make_latch), ("trio.Event", make_event)):
        memory = await parked_memory(make, count)
        cpu = await wake_cpu(make, rounds)
        print(f"{name:11} {memory:8.0f} bytes per parked task   {cpu:6.1f} us per wake-up")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="parked tasks")
    parser.add_argument("--rounds", type=int, default=50_000, help="wake-up round trips")
    arguments = parser.parse_args()
    trio.run(main, arguments.count, arguments.rounds)
