"""``call.nursery`` under ``serve()``: a task group opened on first use, with a nursery's promises.

The handler runs in a cancel scope of its own; the group's tasks run in a
supervisor beside it. These tests hold it to what a nursery of the
handler's own did: failures cancel the handler and are logged with the
call, the tasks end (and are waited for) before the call is hung up.
"""

from __future__ import annotations

import gc
import logging
import weakref

import pytest
import trio

from signalwire_relay_trio import EVENT_CALL_STATE, Call, CallTaskGroup, RelayEvent
from signalwire_relay_trio.testing import FakeRelay


async def serve_one(relay, fake_relay: FakeRelay, handler, **kwargs):  # type: ignore[no-untyped-def]
    """Serve until one inbound call has ended; return the fake's side of it."""
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.serve, handler)
        fake_call = await fake_relay.inbound_call(**kwargs)
        await fake_call.wait_for_state("ended")
        nursery.cancel_scope.cancel()
    return fake_call


async def test_tasks_run_and_are_cancelled_and_awaited_before_the_hang_up(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    log: list[str] = []

    async def background(name: str) -> None:
        log.append(f"{name} started")
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(1)  # a slow clean-up is waited for
            log.append(f"{name} cancelled, hung up: {bool(fake_relay.journal.all('calling.end'))}")

    async def handler(call: Call) -> None:
        await call.answer()
        assert isinstance(call.nursery, CallTaskGroup)
        call.nursery.start_soon(background, "one")
        call.nursery.start_soon(background, "two", name="the second")
        await trio.sleep(1)
        names = sorted(task.name for task in call.nursery.child_tasks)
        log.append(f"children: {names}")

    with trio.fail_after(30):
        fake_call = await serve_one(relay, fake_relay, handler)
    assert sorted(log[:2]) == ["one started", "two started"]
    assert log[2].startswith("children: [") and "the second" in log[2]
    assert sorted(log[3:]) == ["one cancelled, hung up: False", "two cancelled, hung up: False"]
    assert fake_call.end_reason == "hangup"


async def test_a_failing_task_cancels_the_handler_and_is_logged_with_the_call(
    relay, fake_relay: FakeRelay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")
    seen: list[str] = []

    async def fails_soon() -> None:
        await trio.sleep(2)
        raise ValueError("the background task broke")

    async def handler(call: Call) -> None:
        await call.answer()
        call.nursery.start_soon(fails_soon)
        try:
            await trio.sleep_forever()  # not a wait on the call: only cancellation ends it
        except trio.Cancelled:
            seen.append("handler cancelled")
            raise

    with trio.fail_after(30):
        fake_call = await serve_one(relay, fake_relay, handler)
    assert seen == ["handler cancelled"]
    assert relay.statistics().handler_errors == 1
    assert fake_call.end_reason == "hangup"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert fake_call.call_id in errors[0].getMessage()
    assert "the background task broke" in errors[0].getMessage()


async def test_a_handler_error_and_a_task_error_are_both_logged(
    relay, fake_relay: FakeRelay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")

    async def fails() -> None:
        raise KeyError("task")

    async def handler(call: Call) -> None:
        call.nursery.start_soon(fails)
        try:
            await trio.sleep_forever()
        finally:
            raise RuntimeError("handler")

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    messages = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "KeyError('task')" in messages
    assert "RuntimeError('handler')" in messages


async def test_start_waits_for_started_and_returns_its_value(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    got: list[object] = []

    async def service(task_status: trio.TaskStatus[str]) -> None:
        await trio.sleep(1)
        task_status.started("ready")
        await trio.sleep_forever()

    async def handler(call: Call) -> None:
        got.append(await call.nursery.start(service))
        got.append(len(call.nursery.child_tasks))

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    assert got == ["ready", 1]


async def test_cancelling_the_groups_scope_ends_the_handler_and_its_tasks(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    log: list[str] = []

    async def background() -> None:
        try:
            await trio.sleep_forever()
        finally:
            log.append("task ended")

    async def handler(call: Call) -> None:
        call.nursery.start_soon(background)
        await trio.sleep(1)
        call.nursery.cancel_scope.cancel()
        await trio.sleep_forever()

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    assert log == ["task ended"]
    assert relay.statistics().handler_errors == 0


async def test_async_listeners_run_in_the_group_and_end_with_the_handler(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    log: list[str] = []
    handler_done = trio.Event()

    async def slow_listener(event: RelayEvent) -> None:
        log.append(f"listener got {event.params.get('call_state')}")
        try:
            await trio.sleep_forever()
        finally:
            log.append(f"listener cancelled after the handler: {handler_done.is_set()}")

    async def handler(call: Call) -> None:
        call.on(EVENT_CALL_STATE, slow_listener)
        await call.answer()  # its answered event starts the listener
        await trio.sleep(1)
        handler_done.set()

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    assert log[0] == "listener got answered"
    assert "listener cancelled after the handler: True" in log


async def test_a_task_started_from_another_task_while_the_handler_is_parked(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    started: list[str] = []
    served: list[Call] = []
    parked = trio.Event()

    async def handler(call: Call) -> None:
        served.append(call)
        await call.answer()
        parked.set()
        await call.wait_for_ended()

    async def background() -> None:
        started.append("ran")
        await trio.sleep_forever()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            fake_call = await fake_relay.inbound_call()
            await parked.wait()
            served[0].nursery.start_soon(background)  # from the test's task
            await trio.sleep(1)
            assert started == ["ran"]
            await fake_call.hangup()
            await fake_call.wait_for_state("ended")
            nursery.cancel_scope.cancel()
    with pytest.raises(RuntimeError, match="serve"):
        served[0].nursery.start_soon(background)


async def test_the_group_takes_no_tasks_once_the_handler_ended(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    groups: list[CallTaskGroup] = []

    async def handler(call: Call) -> None:
        groups.append(call.nursery)

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    with pytest.raises(RuntimeError, match="handler has ended"):
        groups[0].start_soon(trio.sleep, 1)
    with pytest.raises(RuntimeError, match="handler has ended"):
        await groups[0].start(trio.sleep, 1)


async def test_a_call_not_run_by_serve_has_no_group(relay, fake_relay: FakeRelay) -> None:
    with trio.fail_after(30):
        async with relay.inbound_calls() as calls:
            await fake_relay.inbound_call()
            call = await calls.receive()
        with pytest.raises(RuntimeError, match="serve"):
            call.nursery  # noqa: B018


async def test_cancelling_serve_ends_the_handler_and_its_tasks(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    log: list[str] = []
    running = trio.Event()

    async def background() -> None:
        running.set()
        try:
            await trio.sleep_forever()
        finally:
            log.append("task ended")

    async def handler(call: Call) -> None:
        await call.answer()
        call.nursery.start_soon(background)
        try:
            await call.wait_for_ended()
        finally:
            log.append("handler ended")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            fake_call = await fake_relay.inbound_call()
            await running.wait()
            nursery.cancel_scope.cancel()
        await fake_call.wait_for_state("ended")
    assert sorted(log) == ["handler ended", "task ended"]


# -- found in review: the nursery's edges ----------------------------------------------


async def test_a_task_started_as_the_handler_returns_still_starts(
    relay, fake_relay: FakeRelay, autojump_clock
) -> None:
    log: list[str] = []

    async def task() -> None:
        log.append("started")  # before its first checkpoint, as in a nursery
        try:
            await trio.sleep_forever()
        finally:
            log.append("cancelled")

    async def handler(call: Call) -> None:
        call.nursery.start_soon(task)

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    assert log == ["started", "cancelled"]


async def test_tasks_may_start_tasks_while_they_are_cancelled(
    relay, fake_relay: FakeRelay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")
    log: list[str] = []
    calls: list[Call] = []

    async def cleanup() -> None:
        log.append("cleanup started")

    async def task() -> None:
        try:
            await trio.sleep_forever()
        finally:
            calls[0].nursery.start_soon(cleanup)

    async def handler(call: Call) -> None:
        calls.append(call)
        call.nursery.start_soon(task)
        await trio.sleep(1)

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    assert log == ["cleanup started"]
    assert relay.statistics().handler_errors == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_after_a_failure_the_handlers_clean_up_may_still_start_tasks(
    relay, fake_relay: FakeRelay, caplog, autojump_clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="signalwire_relay_trio")

    async def fails() -> None:
        raise ValueError("broke")

    async def handler(call: Call) -> None:
        call.nursery.start_soon(fails)
        try:
            await trio.sleep_forever()
        finally:
            call.nursery.start_soon(trio.sleep, 1)  # starts cancelled, no error

    with trio.fail_after(30):
        await serve_one(relay, fake_relay, handler)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "broke" in errors[0].getMessage()
    assert relay.statistics().handler_errors == 1


# (A handler that raises is logged with its traceback, which pytest's log capture keeps.)
@pytest.mark.parametrize("ending", ["returns", "call ended"])
async def test_a_served_call_is_freed_without_the_cycle_collector(
    relay, fake_relay: FakeRelay, autojump_clock, ending: str
) -> None:
    refs: list[weakref.ref[Call]] = []

    async def handler(call: Call) -> None:
        refs.append(weakref.ref(call))
        call.nursery.start_soon(trio.sleep_forever)
        await call.answer()
        if ending == "call ended":
            await call.wait_for(EVENT_CALL_STATE, lambda e: False)

    gc.collect()
    gc.disable()
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(relay.serve, handler)
                fake_call = await fake_relay.inbound_call()
                if ending == "call ended":
                    await fake_call.wait_for_state("answered")
                    await fake_call.hangup()
                await fake_call.wait_for_state("ended")
                await trio.sleep(1)
                nursery.cancel_scope.cancel()
        assert refs[0]() is None
    finally:
        gc.enable()
