"""What a parked per-call task costs in memory, by the shape it runs in.

    .venv/bin/python bench/task_shape_micro.py

An idle call under ``serve()`` is a task parked in ``wait_for_ended()``.
This measures, with tracemalloc, the bytes one parked task holds when it
runs bare, inside a cancel scope of its own, and inside a nursery of its own
(what ``serve()`` gives each call today). ``bench/ANALYSIS.md`` uses it to
say how far a per-call design can go before the task itself is the floor.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Awaitable, Callable

import trio
import trio.testing

from signalwire_relay_trio._state import Latch

Shape = Callable[[Latch], Awaitable[None]]


async def bare(latch: Latch) -> None:
    await latch.park()


async def in_a_cancel_scope(latch: Latch) -> None:
    with trio.CancelScope():
        await latch.park()


async def in_a_nursery(latch: Latch) -> None:
    async with trio.open_nursery():
        await latch.park()


async def bytes_per_task(shape: Shape, count: int) -> float:
    latches = [Latch() for _ in range(count)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with trio.open_nursery() as nursery:
        for latch in latches:
            nursery.start_soon(shape, latch)
        await trio.testing.wait_all_tasks_blocked()
        after = tracemalloc.get_traced_memory()[0]
        for latch in latches:
            latch.set()
    tracemalloc.stop()
    return (after - before) / count


async def main(count: int) -> None:
    for shape in (bare, in_a_cancel_scope, in_a_nursery):
        size = await bytes_per_task(shape, count)
        print(f"{shape.__name__:18} {size:6.0f} bytes per parked task")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="parked tasks")
    trio.run(main, parser.parse_args().count)
