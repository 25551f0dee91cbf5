"""``Latch``: the one-waiter wake-up behind request and call waits."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from signalwire_relay_trio._state import Latch, PendingRequest


async def test_wait_returns_once_set(autojump_clock) -> None:
    latch = Latch()
    woke_at = []

    async def waiter() -> None:
        await latch.wait()
        woke_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(3)
        assert woke_at == []
        latch.set()
        latch.set()  # a second set is a no-op
    assert woke_at == [3]
    assert latch.is_set


async def test_wait_after_set_is_still_a_checkpoint() -> None:
    latch = Latch()
    latch.set()
    with trio.testing.assert_checkpoints():
        await latch.wait()
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await latch.wait()


async def test_cancelled_wait_leaves_it_reusable(autojump_clock) -> None:
    latch = Latch()
    with trio.move_on_after(1) as scope:
        await latch.wait()
    assert scope.cancelled_caught
    assert not latch.is_set
    async with trio.open_nursery() as nursery:
        nursery.start_soon(latch.wait)
        await trio.sleep(1)
        latch.set()


async def test_a_second_concurrent_waiter_is_refused(autojump_clock) -> None:
    latch = Latch()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(latch.wait)
        await trio.sleep(1)
        with pytest.raises(RuntimeError, match="one waiter"):
            await latch.wait()
        latch.set()


def test_pending_request_carries_reply_or_error() -> None:
    request = PendingRequest()
    assert (request.reply, request.error, request.is_set) == (None, None, False)
    request.error = ValueError("lost")
    request.set()
    assert request.is_set


async def test_park_is_wait_without_a_frame(autojump_clock) -> None:
    latch = Latch()

    async def parker() -> None:
        await latch.park()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(parker)
        await trio.sleep(1)
        latch.set()
    with trio.testing.assert_checkpoints():
        await latch.park()  # already set: still a checkpoint
