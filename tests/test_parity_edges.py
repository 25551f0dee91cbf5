"""The official SDK's surface around calls: façade lifecycle, Message.on, from_payload,
string facts, connection-wide events, statistics, drain, and one error object per waiter.

Clock-driven over the in-memory stream, except where a test says otherwise.
"""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    CALL_STATE_ANSWERED,
    Call,
    CallEndedError,
    CallStateEvent,
    ConnectionLostError,
    ConnectionState,
    MessageStateEvent,
    RelayClient,
    RelayConnection,
    RelayEvent,
    RelayStatistics,
)
from signalwire_relay_trio.testing import FakeRelay

ENV_NAMES = ("SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN", "SIGNALWIRE_JWT_TOKEN")


async def received_call(relay: RelayConnection, fake_relay: FakeRelay) -> Call:
    async with relay.inbound_calls() as calls:
        await fake_relay.inbound_call()
        return await calls.receive()


# -- RelayClient lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["project", "token"])
def test_relay_client_without_credentials_raises_value_error_naming_the_variable(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    given = {"project": "p", "token": "t"}
    del given[missing]
    variable = {"project": "SIGNALWIRE_PROJECT_ID", "token": "SIGNALWIRE_API_TOKEN"}[missing]
    with pytest.raises(ValueError, match=variable):
        RelayClient(**given, contexts=["office"])


def test_relay_client_attributes_as_in_the_official_sdk() -> None:
    client = RelayClient(project="proj-1", token="secret-token", host="example.test:8443")
    assert client.project == "proj-1"
    assert client.host == "example.test:8443"
    assert client.contexts == []
    assert "secret-token" not in repr(client)
    with pytest.raises(ValueError, match="host"):
        RelayClient(project="p", token="t", host="https://example.test")


async def test_connect_disconnect_and_a_handler_registered_while_connected(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    client = RelayClient(**fake_relay.connect_kwargs(contexts=["office"]))
    served: list[str] = []
    with trio.fail_after(60):
        await client.connect()
        assert client.relay.connected

        # registered after connect: takes the next call at once
        @client.on_call
        async def handle(call: Call) -> None:
            served.append(call.context)
            await call.answer()

        first = await fake_relay.inbound_call(context="office")
        await first.wait_for_state("answered")
        # a context added later with receive() is served by the same handler
        await client.receive(["sales"])
        assert client.contexts == ["office", "sales"]
        second = await fake_relay.inbound_call(context="sales")
        await second.wait_for_state("answered")
        await client.disconnect()
        await client.disconnect()  # a no-op once disconnected
    assert served == ["office", "sales"]
    with pytest.raises(RuntimeError):
        _ = client.relay


async def test_a_call_with_no_handler_is_passed_on(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with RelayClient(**fake_relay.connect_kwargs(contexts=["office"])):
            offered = await fake_relay.inbound_call(context="office")
            await offered.wait_for_command("calling.pass")


# -- Message.on, RelayEvent.from_payload, string facts ----------------------------------------


async def test_message_on_sees_every_state_event(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    states: list[str] = []
    later: list[str] = []

    async def slow(event: RelayEvent) -> None:
        await trio.sleep(1)
        assert isinstance(event, MessageStateEvent)
        later.append(event.message_state or "")

    with trio.fail_after(60):
        message = await relay.send_message(
            to_number="+15550001111", from_number="+15550002222", body="hi"
        )
        message.on(lambda event: states.append(event.params["message_state"]))
        message.on(slow)
        final = await message.wait()
        await trio.sleep(2)
    assert states[-1] == final.params["message_state"] == "delivered"
    assert sorted(later) == sorted(states)  # trio wakes the sleepers in any order


def test_from_payload_builds_the_typed_event() -> None:
    payload = {
        "event_type": "calling.call.state",
        "params": {"call_id": "c1", "call_state": "answered"},
    }
    event = RelayEvent.from_payload(payload)
    assert isinstance(event, CallStateEvent)
    assert event.call_state == CALL_STATE_ANSWERED
    assert CallStateEvent.from_payload(payload) == event
    with pytest.raises(ValueError, match="not a CallStateEvent"):
        CallStateEvent.from_payload({"event_type": "calling.call.play", "params": {}})
    with pytest.raises(ValueError):
        RelayEvent.from_payload({"params": {}})


async def test_string_facts_of_an_untagged_call_are_strings(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        call = await received_call(relay, fake_relay)
        for name in (
            "call_id",
            "node_id",
            "project_id",
            "context",
            "tag",
            "direction",
            "segment_id",
        ):
            assert isinstance(getattr(call, name), str), name
        assert call.tag == ""
        assert call.direction == "inbound"
        message = await relay.send_message(
            to_number="+15550001111", from_number="+15550002222", media=["https://x.test/a.png"]
        )
        assert message.body == "" and isinstance(message.reason, str)


# -- connection-wide events --------------------------------------------------------------------


async def test_conference_wide_events_reach_relay_on_and_relay_events(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    heard: list[str] = []
    relay.on("calling.conference", lambda event: heard.append(event.params["status"]))
    with trio.fail_after(60):
        async with relay.events("calling.conference") as events:
            call = await received_call(relay, fake_relay)
            await call.answer()
            joined = await call.join_conference("team")
            await call.leave_conference(joined["conference_id"])
            statuses = []
            call_ids = []
            while len(statuses) < 4:
                event = await events.receive()
                statuses.append(event.params["status"])
                call_ids.append(event.call_id)
    expected = ["conference-start", "participant-join", "participant-leave", "conference-end"]
    assert statuses == expected == heard
    assert call_ids == [None, call.call_id, call.call_id, None]


async def test_relay_events_without_types_sees_everything_and_ends_with_the_connection(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    from signalwire_relay_trio import open_relay

    with trio.fail_after(60):
        async with open_relay(**fake_relay.connect_kwargs()) as relay, relay.events() as events:
            event_frame = {
                "jsonrpc": "2.0",
                "id": "made-up-1",
                "method": "signalwire.event",
                "params": {"event_type": "calling.made_up", "params": {"x": 1}},
            }
            await fake_relay.send_raw(event_frame)
            event = await events.receive()
            assert event.event_type == "calling.made_up"
            relay.close()
            with pytest.raises(trio.EndOfChannel):
                await events.receive()


# -- statistics ------------------------------------------------------------------------------


async def test_statistics_is_a_frozen_record_with_running_totals(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def failing(call: Call) -> None:
        await call.answer()
        raise RuntimeError("handler bug")

    before = relay.statistics()
    assert isinstance(before, RelayStatistics)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        before.active_calls = 3  # type: ignore[misc]
    assert before.state is ConnectionState.CONNECTED
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, failing)
            offered = await fake_relay.inbound_call()
            await offered.wait_for_state("ended")
            nursery.cancel_scope.cancel()
    after = relay.statistics()
    assert after.calls_total == before.calls_total + 1
    assert after.handler_errors == before.handler_errors + 1
    assert after.events_received > before.events_received
    assert after.active_calls == 0 and after.pending_requests == 0
    assert after.reconnects == 0
    with trio.fail_after(60):
        async with relay.states() as states:
            await fake_relay.drop()
            async for state in states:
                if state is ConnectionState.CONNECTED and relay.statistics().reconnects:
                    break
    assert relay.statistics().reconnects == 1


# -- drain waits for handlers ------------------------------------------------------------------


async def test_drain_returns_only_after_a_handler_that_works_after_hang_up(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    records: list[str] = []

    async def handler(call: Call) -> None:
        await call.answer()
        await call.hangup()
        await trio.sleep(20)  # writing the CDR after the call is over
        records.append(call.call_id)

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            offered = await fake_relay.inbound_call()
            await offered.wait_for_state("ended")
            await relay.drain(60)
            assert records == [offered.call_id]
    assert relay.state is ConnectionState.CLOSED


# -- one error object per waiter ---------------------------------------------------------------


async def test_two_waiters_of_an_ended_call_get_their_own_errors(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[BaseException] = []

    async def wait(call: Call) -> None:
        try:
            await call.wait_for("calling.call.play")
        except CallEndedError as exc:
            errors.append(exc)

    with trio.fail_after(60):
        call = await received_call(relay, fake_relay)
        await call.answer()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait, call)
            nursery.start_soon(wait, call)
            await trio.testing.wait_all_tasks_blocked()
            fake_call = fake_relay.calls[call.call_id]
            await fake_call.hangup()
    first, second = errors
    assert first is not second
    assert isinstance(first.__cause__, CallEndedError)
    assert first.__cause__ is second.__cause__


async def test_two_requests_lost_in_a_drop_get_their_own_errors(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[BaseException] = []

    async def request(name: str) -> None:
        try:
            await relay.execute("signalwire.ping", {"name": name})
        except ConnectionLostError as exc:
            errors.append(exc)

    fake_relay.stop_answering()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(request, "a")
            nursery.start_soon(request, "b")
            await fake_relay.journal.wait_for(
                None, lambda _: len(fake_relay.journal.all("signalwire.ping")) >= 2
            )
            await fake_relay.drop()
    fake_relay.resume_answering()
    first, second = errors
    assert first is not second
    assert first.__cause__ is not None and first.__cause__ is second.__cause__


async def test_a_serve_started_just_before_drain_returns_normally(
    relay: RelayConnection, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    async def handler(call: Call) -> None:
        await call.answer()

    with trio.fail_after(60), trio.CancelScope() as guard:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.serve, handler)  # not yet registered when drain begins
            nursery.start_soon(relay.serve_messages, handler)
            await relay.drain(1)
    assert not guard.cancelled_caught
    assert relay.state is ConnectionState.CLOSED


async def test_disconnect_inside_async_with_leaves_the_block_cleanly(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with RelayClient(**fake_relay.connect_kwargs()) as client:
            await client.disconnect()
            with pytest.raises(RuntimeError):
                _ = client.relay
