"""Reconnect, resume, keepalive, drain and bounds, against the fake's fault injection."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from waiting import wait_for_state

from signalwire_relay_trio import (
    EVENT_CALL_STATE,
    AuthenticationError,
    CallState,
    ConnectionLostError,
    ConnectionState,
    RelayError,
    open_relay,
)
from signalwire_relay_trio.testing import FakeRelay


async def receive_call(relay, fake_relay: FakeRelay):
    async with relay.inbound_calls() as calls:
        fake_call = await fake_relay.inbound_call()
        call = await calls.receive()
    return fake_call, call


async def test_drop_reconnects_and_resumes_the_session(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(60):
        fake_call, call = await receive_call(relay, fake_relay)
        await call.answer()
        protocol = relay.protocol
        session = fake_relay.sessions[0]
        authorization_state = session._authorization_state  # the fake's latest grant

        async with relay.states() as states:
            assert await states.receive() is ConnectionState.CONNECTED
            await fake_relay.drop()
            assert await states.receive() is ConnectionState.RECONNECTING
            assert await states.receive() is ConnectionState.CONNECTED

        assert relay.protocol == protocol
        assert fake_relay.connection_count == 2
        connects = fake_relay.journal.all("signalwire.connect")
        assert "protocol" not in connects[0].params
        assert connects[1].params["protocol"] == protocol
        assert connects[1].params["authorization_state"] == authorization_state
        assert session.restored_count == 1

        # events after the resume reach the same Call and its actions
        async with call.play_tts("Still here after the reconnect") as playing:
            finished = await playing.wait()
        assert finished is not None and finished.params["state"] == "finished"
        await fake_call.hangup()
        assert (await call.wait_for_ended()).call_state is CallState.ENDED


async def test_in_flight_request_fails_with_connection_lost(
    relay, fake_relay, autojump_clock
) -> None:
    fake_relay.delay_next("signalwire.receive", 30)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            outcome: list[BaseException] = []

            async def in_flight() -> None:
                try:
                    await relay.execute("signalwire.receive", {"contexts": ["a"]})
                except ConnectionLostError as exc:
                    outcome.append(exc)

            nursery.start_soon(in_flight)
            await fake_relay.journal.wait_for("signalwire.receive")
            await fake_relay.drop()
        assert len(outcome) == 1
        assert outcome[0].code is None
        # never silently re-sent
        assert len(fake_relay.journal.all("signalwire.receive")) == 1


async def test_requests_while_reconnecting_wait_for_the_session(
    relay, fake_relay, autojump_clock
) -> None:
    with trio.fail_after(60):
        fake_relay.reject_connects(code=-32603)  # a transient server failure on reconnect
        await fake_relay.drop()
        await wait_for_state(relay, ConnectionState.RECONNECTING)
        async with trio.open_nursery() as nursery:
            results: list[dict] = []

            async def request() -> None:
                results.append(await relay.execute("signalwire.receive", {"contexts": ["b"]}))

            nursery.start_soon(request)
            await trio.sleep(1)
            assert results == []  # queued, not sent
            fake_relay.accept_connects()
        assert results[0]["code"] == "200"


async def test_bad_credentials_on_reconnect_propagate(fake_relay, autojump_clock) -> None:
    with trio.fail_after(60), pytest.raises(AuthenticationError):
        async with open_relay(**fake_relay.connect_kwargs()):
            fake_relay.reject_connects()
            await fake_relay.drop()
            await trio.sleep_forever()


async def test_transient_failures_retry_with_backoff(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(600):
        fake_relay.reject_connects(code=-32603)
        await fake_relay.drop()
        await trio.sleep(120)
        attempts = fake_relay.connection_count
        assert 5 <= attempts < 40  # backed off, but kept trying
        fake_relay.accept_connects()
        await wait_for_state(relay, ConnectionState.CONNECTED)
        assert relay.connected


async def test_server_disconnect_resumes(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(60):
        protocol = relay.protocol
        await fake_relay.send_disconnect()
        await wait_for_state(relay, ConnectionState.RECONNECTING)
        await wait_for_state(relay, ConnectionState.CONNECTED)
        (disconnect_ack,) = [
            e for e in fake_relay.journal.all() if e.method is None and e.result == {}
        ][-1:]
        assert disconnect_ack is not None
        assert relay.protocol == protocol
        assert fake_relay.journal.all("signalwire.connect")[1].params["protocol"] == protocol


async def test_server_disconnect_with_restart_starts_fresh(
    relay, fake_relay, autojump_clock
) -> None:
    with trio.fail_after(60):
        protocol = relay.protocol
        await fake_relay.send_disconnect(restart=True)
        await wait_for_state(relay, ConnectionState.RECONNECTING)
        await wait_for_state(relay, ConnectionState.CONNECTED)
        second = fake_relay.journal.all("signalwire.connect")[1]
        assert "protocol" not in second.params
        assert "authorization_state" not in second.params
        assert relay.protocol != protocol


async def test_half_open_socket_is_replaced(fake_relay, autojump_clock) -> None:
    kwargs = fake_relay.connect_kwargs(keepalive_interval=5, keepalive_timeout=3)
    with trio.fail_after(120):
        async with open_relay(**kwargs) as relay:
            fake_relay.stop_answering()
            await wait_for_state(relay, ConnectionState.RECONNECTING)
            fake_relay.resume_answering()
            await wait_for_state(relay, ConnectionState.CONNECTED)
            assert fake_relay.connection_count == 2
            pings = fake_relay.journal.all("signalwire.ping")
            assert pings, "a silent socket must be probed with a ping"


async def test_keepalive_pings_only_a_quiet_socket(fake_relay, autojump_clock) -> None:
    kwargs = fake_relay.connect_kwargs(keepalive_interval=10)
    with trio.fail_after(120):
        async with open_relay(**kwargs):
            await trio.sleep(35)
        assert 2 <= len(fake_relay.journal.all("signalwire.ping")) <= 4
        assert fake_relay.connection_count == 1


async def test_duplicate_event_after_resume_is_delivered_once(
    relay, fake_relay, autojump_clock
) -> None:
    with trio.fail_after(60):
        _fake_call, call = await receive_call(relay, fake_relay)
        seen: list[str] = []
        call.on(EVENT_CALL_STATE, lambda e: seen.append(e.params["call_state"]))
        frame = {
            "jsonrpc": "2.0",
            "id": "evt-repeat-1",
            "method": "signalwire.event",
            "params": {
                "event_type": "calling.call.state",
                "params": {
                    "call_id": call.call_id,
                    "node_id": call.node_id,
                    "call_state": "ringing",
                },
            },
        }
        await fake_relay.send_raw(frame)
        await fake_relay.send_raw(frame)  # the server re-sends it (same id)
        await fake_relay.journal.wait_for(None, lambda e: e.id == "evt-repeat-1")
        await trio.sleep(1)
        acks = [e for e in fake_relay.journal.all() if e.id == "evt-repeat-1"]
        assert len(acks) == 2  # acknowledged both times
        assert seen == ["ringing"]  # delivered once


async def test_drain_lets_active_calls_finish(relay, fake_relay, autojump_clock) -> None:
    finished: list[str] = []

    async def handler(call) -> None:
        await call.answer()
        await trio.sleep(5)
        finished.append(call.call_id)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            first = await fake_relay.inbound_call()
            await first.wait_for_state("answered")
            await relay.drain(30)
        # serve() returned normally once its handler was done
        assert finished == [first.call_id]
        assert first.state == "ended"
        unreceive = fake_relay.journal.find("signalwire.unreceive")[0]
        assert unreceive.params["contexts"] == ["office"]
        assert relay.connected is False
        assert relay.state is ConnectionState.CLOSED


async def test_drain_passes_calls_offered_while_draining(relay, fake_relay, autojump_clock) -> None:
    with trio.fail_after(60):
        async with relay.inbound_calls() as calls:
            await fake_relay.inbound_call()
            call = await calls.receive()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(relay.drain, 10)
                await fake_relay.journal.wait_for("signalwire.unreceive")
                late = await fake_relay.inbound_call(session=fake_relay.sessions[0])
                await late.wait_for_command("calling.pass")
                await call.hangup()
            assert call.state is CallState.ENDED


async def test_drain_timeout_closes_anyway(relay, fake_relay, autojump_clock, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="signalwire_relay_trio")
    with trio.fail_after(60):
        async with relay.inbound_calls() as calls:
            await fake_relay.inbound_call()
            call = await calls.receive()
            start = trio.current_time()
            await relay.drain(3)
            assert 3 <= trio.current_time() - start < 10
        assert call.ended
        assert "still active" in caplog.text


async def test_queued_requests_are_bounded(fake_relay, autojump_clock) -> None:
    kwargs = fake_relay.connect_kwargs(max_queued_requests=2)
    with trio.fail_after(60):
        async with open_relay(**kwargs) as relay:
            fake_relay.reject_connects(code=-32603)
            await fake_relay.drop()
            await wait_for_state(relay, ConnectionState.RECONNECTING)
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(relay.execute, "signalwire.receive", {"contexts": ["q"]})
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(RelayError, match="waiting for a reconnect"):
                    await relay.execute("signalwire.receive", {"contexts": ["q"]})
                fake_relay.accept_connects()


async def test_pending_requests_are_bounded(fake_relay, autojump_clock) -> None:
    kwargs = fake_relay.connect_kwargs(max_pending_requests=2)
    with trio.fail_after(60):
        async with open_relay(**kwargs) as relay:
            fake_relay.delay_next("signalwire.receive", 5, times=2)
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(relay.execute, "signalwire.receive", {"contexts": ["q"]})
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(RelayError, match="too many requests in flight"):
                    await relay.execute("signalwire.receive", {"contexts": ["q"]})
