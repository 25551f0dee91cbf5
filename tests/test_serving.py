"""``serving(relay, handler)``: serve for a block, fail the test when a handler raises."""

from __future__ import annotations

import time
import traceback

import pytest
import trio
import trio.testing

from signalwire_relay_trio import Call, CallEndedError, RelayConnection, RequestTimeoutError, Tts
from signalwire_relay_trio.testing import FakeRelay, serving


async def test_a_handler_exception_leaves_the_block_as_itself(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    async def handle(call: Call) -> None:
        await call.answer()
        raise ZeroDivisionError("bad menu")

    reached_the_end = False
    with trio.fail_after(60), pytest.raises(ZeroDivisionError, match="bad menu") as caught:
        async with serving(relay, handle):
            caller = await fake_relay.inbound_call()
            await trio.sleep(3600)  # cancelled as soon as the handler raised
            reached_the_end = True
    assert not reached_the_end
    assert trio.current_time() < 60
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "handle" in frames  # the handler's own traceback
    assert not isinstance(caught.value.__context__, trio.Cancelled)
    await caller.wait_for_state("ended")  # serve() still hung the call up
    assert fake_relay.internal_errors == []


async def test_the_blocks_own_exception_wins(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    async def handle(call: Call) -> None:
        await call.answer()
        raise ZeroDivisionError("handler")

    with trio.fail_after(60), pytest.raises(KeyError, match="body"):
        async with serving(relay, handle):
            caller = await fake_relay.inbound_call()
            await caller.wait_for_state("answered")
            raise KeyError("body")


async def test_only_the_first_handler_failure_is_raised(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    failures = iter(["first", "second"])

    async def handle(call: Call) -> None:
        await call.answer()
        await trio.sleep(1)
        raise RuntimeError(next(failures))

    with trio.fail_after(60), pytest.raises(RuntimeError, match="first"):
        async with serving(relay, handle):
            await fake_relay.inbound_call()
            await fake_relay.inbound_call()
            await trio.sleep_forever()


async def test_a_call_ending_under_its_handler_is_a_normal_end(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    ended = []

    async def handle(call: Call) -> None:
        await call.answer()
        try:
            await (await call.play([Tts(text="a long message " * 20)])).wait()
        except CallEndedError:
            ended.append(call.call_id)
            raise

    with trio.fail_after(60):
        async with serving(relay, handle):
            caller = await fake_relay.inbound_call()
            await caller.wait_for_operation("play")
            await caller.hangup()
            await trio.sleep(1)
    assert ended == [caller.call_id]


async def test_leaving_the_block_stops_serving_and_the_clock(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    """Nothing keeps running after the block: no spinning clock, no consumer left."""

    async def handle(call: Call) -> None:
        await call.answer()

    started = time.perf_counter()
    with trio.fail_after(60):
        async with serving(relay, handle):
            assert relay.statistics().inbound_consumers == 1
            caller = await fake_relay.inbound_call()
            await caller.wait_for_state("ended")
        assert relay.statistics().inbound_consumers == 0
        # serve() is gone: the next call is passed back to the server
        passed = await fake_relay.inbound_call()
        await fake_relay.journal.wait_for(
            "calling.pass", lambda entry: entry.params.get("call_id") == passed.call_id
        )
    assert trio.current_time() < 60
    assert time.perf_counter() - started < 5


async def test_serving_on_a_real_socket_and_clock(fake_relay: FakeRelay) -> None:
    from signalwire_relay_trio import open_relay

    async def handle(call: Call) -> None:
        await call.answer()
        raise LookupError("no such menu")

    with trio.fail_after(10):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            with pytest.raises(LookupError):
                async with serving(relay, handle):
                    await fake_relay.inbound_call()
                    await trio.sleep_forever()


@pytest.mark.fake_relay(
    contexts=["sales", "support"],
    project="acme",
    token="s3cret",
    timings={"audio_seconds": 1.5},
    client={"request_timeout": 2.5},
)
async def test_the_marker_configures_the_fixtures(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    assert fake_relay.project == "acme" and fake_relay.token == "s3cret"
    assert fake_relay.contexts == ("sales", "support")
    assert fake_relay.timings.audio_seconds == 1.5
    (session,) = fake_relay.sessions
    assert session.contexts == ["sales", "support"]
    assert isinstance(relay, RelayConnection)
    (connect,) = fake_relay.journal.all("signalwire.connect")
    assert connect.params["authentication"]["project"] == "acme"
    fake_relay.delay_next("calling.answer", 10)

    async def handle(call: Call) -> None:
        await call.answer()

    with trio.fail_after(60), pytest.raises(RequestTimeoutError, match=r"calling\.answer"):
        async with serving(relay, handle):
            await fake_relay.inbound_call(context="support")
            await trio.sleep_forever()
    assert 2.5 <= trio.current_time() < 10  # the client's request_timeout came from the marker
