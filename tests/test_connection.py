"""open_relay against the fake server: connect, auth, requests, faults."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from signalwire_relay_trio import (
    AuthenticationError,
    ConnectionState,
    RelayConnectionError,
    RelayError,
    RequestTimeoutError,
    open_relay,
)
from signalwire_relay_trio.testing import FakeRelay, open_fake_relay


async def test_connect_over_loopback_socket(fake_relay: FakeRelay) -> None:
    with trio.fail_after(10):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            assert relay.connected is True
            assert relay.protocol.startswith("signalwire_")
            assert isinstance(relay.identity, str) and relay.identity
            (connect,) = fake_relay.journal.find("signalwire.connect")
            assert connect.params["authentication"] == {
                "project": fake_relay.project,
                "token": fake_relay.token,
            }
            assert connect.params["contexts"] == ["office"]
            assert connect.params["event_acks"] is True
        assert relay.connected is False


async def test_connect_over_memory_stream(
    fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        async with open_relay(**fake_relay.connect_kwargs()) as relay:
            assert relay.connected
            assert fake_relay.connection_count == 1


async def test_bad_credentials_raise_authentication_error_at_once(fake_relay: FakeRelay) -> None:
    kwargs = fake_relay.connect_kwargs(memory=False, token="wrong-token")
    with trio.fail_after(10), pytest.raises(AuthenticationError) as info:
        async with open_relay(**kwargs):
            pytest.fail("the body must not run")  # pragma: no cover
    assert info.value.code == -32002
    assert fake_relay.connection_count == 1  # no retry


async def test_unreachable_server_raises_relay_connection_error() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there now
    with trio.fail_after(10), pytest.raises(RelayConnectionError):
        async with open_relay("p", "t", url=f"ws://127.0.0.1:{port}"):
            pytest.fail("the body must not run")  # pragma: no cover


async def test_execute_returns_result_and_raises_relay_error(relay, fake_relay) -> None:
    with trio.fail_after(10):
        result = await relay.execute("signalwire.receive", {"contexts": ["sales"]})
        assert result["code"] == "200"
        fake_relay.fail_next("signalwire.receive", code="403", message="Forbidden")
        with pytest.raises(RelayError) as info:
            await relay.execute("signalwire.receive", {"contexts": ["sales"]})
        assert info.value.code == 403
        assert info.value.message == "Forbidden"
        with pytest.raises(RelayError) as info:
            await relay.execute("calling.teleport", {})
        assert info.value.code == -32601


async def test_receive_and_unreceive_change_subscriptions(relay, fake_relay) -> None:
    with trio.fail_after(10):
        await relay.receive(["sales", "support"])
        await relay.unreceive(["office"])
        session = fake_relay.sessions[0]
        assert set(session.contexts) == {"sales", "support"}
        with pytest.raises(ValueError):
            await relay.receive("sales")


async def test_request_timeout(relay, fake_relay, autojump_clock) -> None:
    fake_relay.delay_next("signalwire.receive", 60)
    started = trio.current_time()
    with trio.fail_after(100), pytest.raises(RequestTimeoutError) as info:
        await relay.execute("signalwire.receive", {"contexts": ["x"]})
    assert trio.current_time() - started == pytest.approx(10.0)  # the default request_timeout
    assert isinstance(info.value, trio.TooSlowError)
    assert info.value.code is None
    assert "signalwire.receive" in str(info.value)
    assert relay.statistics().pending_requests == 0


async def test_each_request_times_out_at_its_own_deadline(
    relay, fake_relay, autojump_clock
) -> None:
    """One timer serves every request: staggered requests still expire on time."""
    timed_out: dict[str, float] = {}
    started = trio.current_time()

    async def slow(name: str) -> None:
        fake_relay.delay_next("signalwire.receive", 60)
        with pytest.raises(RequestTimeoutError):
            await relay.execute("signalwire.receive", {"contexts": [name]})
        timed_out[name] = trio.current_time() - started

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow, "a")
        await trio.sleep(3)
        nursery.start_soon(slow, "b")
        await trio.sleep(4)
        assert await relay.execute("signalwire.receive", {"contexts": ["fast"]})
    assert timed_out == {"a": pytest.approx(10.0), "b": pytest.approx(13.0)}


async def test_cancelled_request_leaves_nothing_behind(relay, fake_relay, autojump_clock) -> None:
    fake_relay.delay_next("signalwire.receive", 5)
    with trio.move_on_after(1):
        await relay.execute("signalwire.receive", {"contexts": ["x"]})
    assert relay.statistics().pending_requests == 0
    assert relay.statistics().session_pending == 0
    await trio.sleep(10)  # the late reply arrives and is dropped
    result = await relay.execute("signalwire.receive", {"contexts": ["y"]})
    assert result["code"] == "200"
    assert relay.statistics().pending_requests == 0


async def test_malformed_frames_do_not_kill_the_reader(relay, fake_relay, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="signalwire_relay_trio")
    with trio.fail_after(10):
        await fake_relay.send_malformed("{not json")
        await fake_relay.send_malformed("[1, 2, 3]")
        await fake_relay.send_raw({"jsonrpc": "2.0", "id": "e1", "method": "signalwire.event"})
        await fake_relay.send_raw(
            {
                "jsonrpc": "2.0",
                "id": "e2",
                "method": "signalwire.event",
                "params": {"event_type": "calling.call.state", "params": {"call_id": ["bad"]}},
            }
        )
        result = await relay.execute("signalwire.receive", {"contexts": ["x"]})
        assert result["code"] == "200"
    assert "malformed" in caplog.text


async def test_server_ping_is_answered(relay, fake_relay) -> None:
    with trio.fail_after(10):
        await fake_relay.send_raw(
            {
                "jsonrpc": "2.0",
                "id": "ping-1",
                "method": "signalwire.ping",
                "params": {"timestamp": 12.5},
            }
        )
        reply = await fake_relay.journal.wait_for(None, lambda e: e.id == "ping-1")
        assert reply.result == {"timestamp": 12.5}


async def test_unknown_server_request_gets_method_not_found(relay, fake_relay) -> None:
    with trio.fail_after(10):
        await fake_relay.send_raw(
            {"jsonrpc": "2.0", "id": "odd-1", "method": "signalwire.teleport", "params": {}}
        )
        reply = await fake_relay.journal.wait_for(None, lambda e: e.id == "odd-1")
        assert reply.error["code"] == -32601


async def test_states_stream_reports_transitions(fake_relay) -> None:
    with trio.fail_after(10):
        async with (
            open_relay(**fake_relay.connect_kwargs(memory=False)) as relay,
            relay.states() as states,
        ):
            assert await states.receive() is ConnectionState.CONNECTED
        assert relay.state is ConnectionState.CLOSED


async def test_connection_lost_for_good_propagates_when_reconnect_is_off(fake_relay) -> None:
    kwargs = fake_relay.connect_kwargs(memory=False, reconnect=False)
    with trio.fail_after(10), pytest.raises(RelayConnectionError):
        async with open_relay(**kwargs):
            await fake_relay.drop()
            await trio.sleep_forever()


async def test_body_error_passes_through_untouched(relay_kwargs_socket) -> None:
    class Boom(Exception):
        pass

    with trio.fail_after(10), pytest.raises(Boom):
        async with open_relay(**relay_kwargs_socket):
            raise Boom


@pytest.fixture
async def relay_kwargs_socket(fake_relay):
    return fake_relay.connect_kwargs(memory=False)


async def test_missing_credentials_name_argument_and_variable(monkeypatch) -> None:
    monkeypatch.delenv("SIGNALWIRE_PROJECT_ID", raising=False)
    monkeypatch.delenv("SIGNALWIRE_API_TOKEN", raising=False)
    monkeypatch.delenv("SIGNALWIRE_JWT_TOKEN", raising=False)
    with pytest.raises(ValueError, match="SIGNALWIRE_PROJECT_ID"):
        async with open_relay(token="t", url="ws://127.0.0.1:1"):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="SIGNALWIRE_API_TOKEN"):
        async with open_relay(project="p", url="ws://127.0.0.1:1"):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="host"):
        async with open_relay("p", "t", host="https://example.signalwire.com"):
            pass  # pragma: no cover


async def test_jwt_credentials() -> None:
    async with open_fake_relay(jwt_token="jwt-abc") as fake:
        kwargs = fake.connect_kwargs(memory=False)
        del kwargs["project"], kwargs["token"]
        with trio.fail_after(10):
            async with open_relay(jwt_token="jwt-abc", **kwargs) as relay:
                assert relay.connected
        (connect,) = fake.journal.find("signalwire.connect")
        assert connect.params["authentication"] == {"jwt_token": "jwt-abc"}
