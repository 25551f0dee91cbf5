"""The fake RELAY server, driven by a raw WebSocket client written by hand.

Socket tests use loopback and the real clock; clock-driven tests join client
and fake over a memory stream and run on the autojump clock.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from fakeclient import (
    ENVELOPE_KEYS,
    JSON,
    PROJECT,
    PROTOCOL_RE,
    TOKEN,
    RawClient,
    connected_client_and_call,
    fake_server,
    fixture_frames,
    normalize,
    raw_client,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalwire_relay_trio.testing import (
    FakeRelay,
    Journal,
    JournalEntry,
    open_fake_relay,
)
from signalwire_relay_trio.testing._plugin import fake_relay  # noqa: F401

# -- session layer ------------------------------------------------------------


async def test_connect_result_shape_and_authorization_state() -> None:
    with trio.fail_after(5):
        async with fake_server() as fake, raw_client(fake) as client:
            request = fixture_frames("connect-request.json", "client")[0]
            request["params"]["authentication"] = {"project": PROJECT, "token": TOKEN}
            await client.send(request)
            reply = await client.reply(request["id"])
            result = reply["result"]
            expected = fixture_frames("connect-result.json", "server")[0]["result"]
            assert {"identity", "protocol", "authorization", "session_restored"} <= set(result)
            assert set(result["authorization"]) == set(expected["authorization"])
            match = PROTOCOL_RE.match(result["protocol"])
            assert match and match.group(1) == result["authorization"]["signature"]
            assert result["authorization"]["project"] == PROJECT
            assert result["session_restored"] is False
            # The authorization state event follows at once; it carries no channel.
            client.auto_ack = False
            frame = await client.next()
            assert frame["method"] == "signalwire.event"
            envelope = frame["params"]
            assert envelope["event_type"] == "signalwire.authorization.state"
            assert isinstance(envelope["timestamp"], float)
            assert envelope["params"]["authorization_state"]
            assert fake.unacked_events() == [frame]
            await client.ack(frame)
            await client.request("signalwire.ping", {})  # a barrier: the ack came first
            assert fake.unacked_events() == []
            acks = [e for e in fake.journal if e.id == frame["id"]]
            assert acks[0].result == {} and acks[0].method is None
            (session,) = fake.sessions
            assert session.protocol == result["protocol"]
            assert session.contexts == ["office", "support"]
            assert session.connected and fake.connection_count == 1


async def test_jwt_connect_is_accepted() -> None:
    with trio.fail_after(5):
        async with fake_server(jwt_token="the-jwt") as fake, raw_client(fake) as client:
            request = fixture_frames("connect-jwt-request.json", "client")[0]
            request["params"]["authentication"] = {"jwt_token": "the-jwt"}
            await client.send(request)
            reply = await client.reply(request["id"])
            assert reply["result"]["session_restored"] is False


async def test_bad_credentials_get_error_then_close() -> None:
    with trio.fail_after(5):
        async with fake_server() as fake, raw_client(fake) as client:
            reply = await client.connect(authentication={"project": PROJECT, "token": "nope"})
            expected = fixture_frames("connect-auth-rejected.json", "server")[0]
            assert reply["error"] == expected["error"]
            with pytest.raises(trio_websocket.ConnectionClosed):
                await client.next()
            assert fake.sessions == []


async def test_first_frame_must_be_connect() -> None:
    with trio.fail_after(5):
        async with fake_server() as fake, raw_client(fake) as client:
            reply = await client.request("signalwire.ping", {"timestamp": 1.0})
            assert reply["error"]["code"] == -32600
            reply = await client.request("calling.answer", {"node_id": "n", "call_id": "c"})
            assert reply["error"]["code"] == -32600
            assert "result" in await client.connect()
            reply = await client.connect()
            assert reply["error"]["code"] == -32600  # a second connect on the same socket


async def test_receive_and_unreceive() -> None:
    with trio.fail_after(5):
        async with fake_server() as fake, raw_client(fake) as client:
            await client.connect(contexts=["office", "support"])
            (session,) = fake.sessions
            reply = await client.request("signalwire.receive", {"contexts": ["billing"]})
            assert reply["result"]["code"] == "200" and reply["result"]["message"]
            assert session.contexts == ["office", "support", "billing"]
            reply = await client.request("signalwire.unreceive", {"contexts": ["support"]})
            assert reply["result"]["code"] == "200"
            assert session.contexts == ["office", "billing"]
            reply = await client.request("signalwire.receive", {"contexts": "billing"})
            assert reply["error"]["code"] == -32602


async def test_pings_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server(ping_interval=5) as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            reply = await client.request("signalwire.ping", {"timestamp": 1767225605.25})
            assert reply["result"] == {"timestamp": 1767225605.25}
            start = trio.current_time()
            ping = await client.next(lambda f: f.get("method") == "signalwire.ping")
            assert trio.current_time() - start <= 5
            assert isinstance(ping["params"]["timestamp"], float)
            await client.send({"jsonrpc": "2.0", "id": ping["id"], "result": ping["params"]})
            await client.request("signalwire.ping", {})
            (pong,) = [e for e in fake.journal if e.id == ping["id"]]
            assert pong.result == ping["params"]
            fake.ignore_pings = True
            await client.send({"jsonrpc": "2.0", "id": "p", "method": "signalwire.ping"})
            with trio.move_on_after(3) as scope:
                await client.reply("p")
            assert scope.cancelled_caught


# -- inbound calls ------------------------------------------------------------


async def test_inbound_call_matches_fixture_and_reaches_subscriber_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with (
            fake_server() as fake,
            raw_client(fake, memory=True) as office,
            raw_client(fake, memory=True) as sales,
        ):
            await office.connect(contexts=["office"])
            await sales.connect(contexts=["sales"])
            call = await fake.inbound_call("office")
            receive = await office.event("calling.call.receive")
            expected = fixture_frames("inbound-call-sequence.json", "server")[0]["params"]
            assert set(receive) == set(expected)
            assert normalize([receive]) == normalize([expected])
            assert receive["params"]["call_id"] == call.call_id
            assert call.session is fake.sessions[0] and call.state == "created"
            assert (call.direction, call.context) == ("inbound", "office")
            assert (call.from_number, call.to_number) == ("+15559870001", "+15551230000")
            await sales.nothing_more(1)
            with pytest.raises(LookupError, match="nobody"):
                await fake.inbound_call("nobody")


async def test_inbound_calls_round_robin_and_explicit_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with (
            fake_server() as fake,
            raw_client(fake, memory=True) as first,
            raw_client(fake, memory=True) as second,
        ):
            await first.connect()
            await second.connect()
            calls = [await fake.inbound_call() for _ in range(4)]
            owners = [call.session for call in calls]
            assert owners == [fake.sessions[0], fake.sessions[1]] * 2
            await first.events(2, "calling.call.receive")
            await second.events(2, "calling.call.receive")
            await fake.inbound_call("elsewhere", session=fake.sessions[1].protocol)
            receive = await second.event("calling.call.receive")
            assert receive["context"] == "elsewhere"


async def test_full_inbound_sequence_matches_fixture(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, receive = await connected_client_and_call(fake, client)
            answer = await client.command("calling.answer", call)
            answered = await client.event("calling.call.state")
            second = await client.command("calling.answer", call)  # harmless
            end = await client.command("calling.end", call, reason="hangup")
            ending, ended = await client.events(2, "calling.call.state")
            fixture = fixture_frames("inbound-call-sequence.json", "server")
            expected = [f.get("result") or f["params"] for f in fixture]
            ours = [receive, answer, answered, end, ending, ended]
            assert normalize(ours) == normalize(expected)
            assert second == answer
            assert call.state == "ended" and call.end_reason == "hangup"
            assert call.states == ["created", "answered", "ending", "ended"]
            assert [e.method for e in call.commands] == ["calling.answer"] * 2 + ["calling.end"]
            await client.nothing_more(1)


async def test_call_command_errors(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            ids = {"node_id": call.node_id, "call_id": call.call_id}
            reply = await client.request("calling.answer", {"call_id": call.call_id})
            assert reply["result"]["code"] == "400"
            reply = await client.request("calling.answer", {"node_id": call.node_id})
            assert reply["result"]["code"] == "400"
            reply = await client.request("calling.answer", {**ids, "call_id": "nope"})
            assert reply["result"] == {"code": "404", "message": "Call not found"}
            reply = await client.request("calling.answer", {**ids, "node_id": "other@us-east"})
            assert reply["result"]["code"] == "404"
            reply = await client.request("calling.answer", {**ids, "call_id": 7})
            assert reply["error"]["code"] == -32602
            reply = await client.request("calling.teleport", ids)
            expected = fixture_frames("jsonrpc-error.json", "server")[0]["error"]
            assert reply["error"] == expected
            await client.command("calling.end", call, reason="busy")
            ending, ended = await client.events(2, "calling.call.state")
            hangup = fixture_frames("hangup.json", "server")
            assert normalize([ending, ended]) == normalize([f["params"] for f in hangup[1:]])
            for method in ("calling.answer", "calling.play", "calling.end"):
                result = await client.command(method, call, control_id="c1", play=[])
                assert result["code"] == "410"


async def test_other_call_commands_are_acknowledged(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            tts = [{"type": "tts", "params": {"text": "Hello"}}]
            result = await client.command("calling.play", call, control_id="p1", play=tts)
            assert result == {
                "code": "200",
                "message": "Playing",
                "call_id": call.call_id,
                "control_id": "p1",
            }
            result = await client.command("calling.user_event", call, event={"x": 1})
            assert result == {"code": "200", "message": "OK", "call_id": call.call_id}
            result = await client.command("calling.record", call, record={"audio": {}})
            assert result["code"] == "400"  # control_id is required
            not_nested = [{"type": "tts", "params": "Hello"}]
            result = await client.command("calling.play", call, control_id="p2", play=not_nested)
            assert result["code"] == "400"
            reply = await client.request(
                "calling.play", {"node_id": call.node_id, "call_id": call.call_id, "play": "x"}
            )
            assert "result" in reply or reply["error"]["code"] == -32602
            entry = await call.wait_for_command("calling.user_event")
            assert entry.params["call_id"] == call.call_id
            assert call.state == "created"
            playing, finished = await client.events(2, "calling.call.play")
            assert [playing["params"]["state"], finished["params"]["state"]] == [
                "playing",
                "finished",
            ]
            await client.nothing_more(1)


async def test_caller_hangup_and_wait_for_state(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call.wait_for_state, "ended")
                await trio.testing.wait_all_tasks_blocked()
                await call.hangup()
            ending, ended = await client.events(2, "calling.call.state")
            assert (ending["params"]["call_state"], ending["params"]["end_reason"]) == (
                "ending",
                "hangup",
            )
            assert ended["params"]["call_state"] == "ended"
            await call.hangup("busy")  # no-op once ended
            assert call.end_reason == "hangup"
            await call.wait_for_state("created")
            with pytest.raises(AssertionError, match="before reaching 'answered'"):
                await call.wait_for_state("answered")
            await client.nothing_more(1)


async def test_pass_offers_the_call_to_the_next_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with (
            fake_server() as fake,
            raw_client(fake, memory=True) as first,
            raw_client(fake, memory=True) as second,
        ):
            await first.connect()
            await second.connect()
            one, two = fake.sessions
            call = await fake.inbound_call()
            await first.event("calling.call.receive")
            result = await first.command("calling.pass", call)
            assert result["code"] == "200" and result["call_id"] == call.call_id
            receive = await second.event("calling.call.receive")
            assert receive["params"]["call_id"] == call.call_id
            assert call.session is two and call.passed_by == [one.protocol]
            await second.command("calling.pass", call)
            assert fake.calls[call.call_id].session is None  # (mypy narrowed call.session)
            assert call.passed_by == [one.protocol, two.protocol]
            assert call.state == "created"
            await call.hangup()  # nobody controls it: no events
            await first.nothing_more(1)
            await second.nothing_more(1)


# -- dialing ------------------------------------------------------------------


async def dial(client: RawClient, devices: Any, **params: Any) -> tuple[JSON, str]:
    tag = str(uuid.uuid4())
    reply = await client.request("calling.dial", {"tag": tag, "devices": devices, **params})
    return reply, tag


async def dial_events(client: RawClient) -> list[JSON]:
    """Events up to and including the final calling.call.dial."""
    events = []
    while True:
        event = await client.event()
        events.append(event)
        if (
            event["event_type"] == "calling.call.dial"
            and event["params"]["dial_state"] != "dialing"
        ):
            return events


async def test_dial_answer_matches_fixture(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.set_dial_outcome("+15553330000", "answer", ring_time=1.0)
            fake.set_dial_outcome("+15553330001", "answer", ring_time=2.0)
            request, *_ = fixture_frames("dial-sequence.json", "client")
            start = trio.current_time()
            reply, _ = await dial(client, request["params"]["devices"])
            events = await dial_events(client)
            assert trio.current_time() - start == pytest.approx(1.0)
            fixture = fixture_frames("dial-sequence.json", "server")
            assert reply["result"] == fixture[0]["result"]  # "Dialing", no call_id
            assert all(set(event) == ENVELOPE_KEYS for event in events)
            assert normalize(events) == normalize([f["params"] for f in fixture[1:]])
            winner = await fake.wait_for_dialed_call()
            assert winner.call_id == events[-1]["params"]["call"]["call_id"]
            assert (winner.state, winner.direction, winner.to_number) == (
                "answered",
                "outbound",
                "+15553330000",
            )
            assert fake.dialed_calls == [winner] and fake.calls[winner.call_id] is winner
            result = await client.command("calling.end", winner, reason="hangup")
            assert result["code"] == "200"


async def test_dial_busy_matches_fixture(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.set_dial_outcome("+15553330000", "busy", ring_time=3)
            request, *_ = fixture_frames("dial-failed.json", "client")
            reply, _ = await dial(client, request["params"]["devices"], region="us")
            events = await dial_events(client)
            fixture = fixture_frames("dial-failed.json", "server")
            assert reply["result"] == fixture[0]["result"]
            assert events[0]["params"]["dial_state"] == "dialing"  # optional; the fixture omits it
            assert normalize(events[1:]) == normalize([f["params"] for f in fixture[1:]])
            assert fake.dialed_calls == []


async def test_dial_no_answer_and_default_outcome(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.default_dial_outcome = "no_answer"
            fake.default_ring_time = 20
            start = trio.current_time()
            phone = {"type": "phone", "params": {"from_number": "+1555", "to_number": "+1556"}}
            await dial(client, [[phone]])
            events = await dial_events(client)
            assert trio.current_time() - start == pytest.approx(20)
            assert events[-2]["params"]["end_reason"] == "noAnswer"
            final = events[-1]["params"]
            assert (final["dial_state"], final["reason"], final["source"]) == (
                "failed",
                "noAnswer",
                "outbound",
            )
            with pytest.raises(ValueError, match="outcome"):
                fake.set_dial_outcome("+1", "maybe")


def phone(number: str) -> JSON:
    return {"type": "phone", "params": {"from_number": "+15551230000", "to_number": number}}


def states(events: list[JSON]) -> list[tuple[str, str | None, str | None]]:
    """(to_number, call_state, end_reason) of each leg state event."""
    return [
        (e["params"]["device"]["params"]["to_number"], e["params"]["call_state"],
         e["params"].get("end_reason"))
        for e in events
        if e["event_type"] == "calling.call.state"
    ]  # fmt: skip


async def test_dial_serial_groups_fall_back(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.set_dial_outcome("+1001", "busy", ring_time=2)
            fake.set_dial_outcome("+1002", "decline", ring_time=1)
            fake.set_dial_outcome("+1003", "answer", ring_time=4)
            # The outer level may hold a bare device: a one-device group.
            await dial(client, [[phone("+1001")], phone("+1002"), [phone("+1003")]])
            events = await dial_events(client)
            assert states(events) == [
                ("+1001", "created", None),
                ("+1001", "ringing", None),
                ("+1001", "ended", "busy"),
                ("+1002", "created", None),
                ("+1002", "ringing", None),
                ("+1002", "ended", "decline"),
                ("+1003", "created", None),
                ("+1003", "ringing", None),
                ("+1003", "answered", None),
            ]
            call = events[-1]["params"]["call"]
            assert call["dial_winner"] is True and call["device"] == phone("+1003")
            assert (await fake.wait_for_dialed_call()).to_number == "+1003"


async def test_dial_parallel_group_cancels_losers(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.set_dial_outcome("+1001", "no_answer", ring_time=5)
            fake.set_dial_outcome("+1002", "answer", ring_time=2)
            fake.set_dial_outcome("+1003", "failure", ring_time=1)
            await dial(client, [[phone("+1001"), phone("+1002"), phone("+1003")]])
            events = await dial_events(client)
            assert states(events)[6:] == [
                ("+1003", "ended", "error"),
                ("+1002", "answered", None),
                ("+1001", "ended", "cancel"),
            ]
            assert events[-1]["params"]["call"]["device"] == phone("+1002")


async def test_dial_validation(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            reply = await client.request("calling.dial", {"devices": [[phone("+1")]]})
            assert reply["result"]["code"] == "400"
            reply, _ = await dial(client, [])
            assert reply["result"]["code"] == "400"
            reply, _ = await dial(client, "+1")
            assert reply["error"]["code"] == -32602
            reply, _ = await dial(client, [[{"type": "phone"}]])
            assert reply["result"]["code"] == "400"
            reply, _ = await dial(client, [[]])
            assert reply["result"]["code"] == "400"
            await client.nothing_more(1)


# -- journal ------------------------------------------------------------------


async def test_journal_find_all_and_wait_for(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            journal = fake.journal
            assert isinstance(journal, Journal) and len(journal) == 0
            await client.connect()
            call = await fake.inbound_call()
            got: list[JournalEntry] = []

            async def waiter() -> None:
                got.append(await journal.wait_for("calling.end", lambda e: "reason" in e.params))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiter)
                await trio.testing.wait_all_tasks_blocked()
                await client.command("calling.end", call)
                assert not got
                await client.command("calling.end", call, reason="busy")  # 410, still journaled
            assert (
                got[0].params["reason"] == "busy" and got[0].protocol == fake.sessions[0].protocol
            )
            connect, end = journal.find("signalwire.connect", "calling.end")
            assert connect.method == "signalwire.connect" and connect.protocol is None
            assert end.params == {"node_id": call.node_id, "call_id": call.call_id}
            assert await journal.wait_for("signalwire.connect") is connect
            assert journal.methods() == ["signalwire.connect", "calling.end", "calling.end"]
            assert len(journal.all("calling.end")) == 2
            assert len(journal.all()) == len(journal) == len(list(journal))
            with pytest.raises(AssertionError, match=r"calling\.record.*calling\.end"):
                journal.find("calling.end", "calling.record")
            assert all(isinstance(e.time, float) for e in journal)


# -- faults -------------------------------------------------------------------


async def test_drop_then_resume_restores_calls_and_replays_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake:
            async with raw_client(fake, memory=True) as client:
                await client.connect()
                client.auto_ack = False
                call = await fake.inbound_call()
                receive = await client.next()
                assert fake.unacked_events() == [receive]
                (session,) = fake.sessions
                protocol, auth_state = client.protocol, client.auth_state
                await fake.drop()
                assert not session.connected
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await client.next()
            await call.hangup()  # while detached: queued
            assert session.queued_events()[0]["params"]["params"]["call_state"] == "ending"
            async with raw_client(fake, memory=True) as client:
                client.auto_ack = False
                reply = await client.request(
                    "signalwire.connect",
                    {
                        "authentication": {"project": PROJECT, "token": TOKEN},
                        "contexts": ["office"],
                        "protocol": protocol,
                        "authorization_state": auth_state,
                    },
                )
                assert reply["result"]["protocol"] == protocol
                assert reply["result"]["session_restored"] is True
                frames = [await client.next() for _ in range(4)]
                inner = [f["params"] for f in frames]
                assert inner[0]["event_type"] == "signalwire.authorization.state"
                assert inner[0]["params"]["authorization_state"] != auth_state
                assert frames[1] == receive  # same event, same id
                assert [p["params"]["call_state"] for p in inner[2:]] == ["ending", "ended"]
                for frame in frames:
                    await client.ack(frame)
                await client.request("signalwire.ping", {})
                assert fake.unacked_events() == []
                assert fake.sessions == [session] and fake.connection_count == 2
                assert fake.sessions[0].connected and session.restored_count == 1
                # The call survived: commands on it are understood (410: it ended).
                assert (await client.command("calling.answer", call))["code"] == "410"


async def test_resume_with_stale_state_or_unknown_protocol_is_fresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            async with raw_client(fake, memory=True) as client:
                await client.connect()
                old_protocol, old_state = client.protocol, client.auth_state
                await fake.send_authorization_state()
                await client.event("signalwire.authorization.state")
                assert client.auth_state != old_state
            async with raw_client(fake, memory=True) as client:
                stale = await client.connect(protocol=old_protocol, authorization_state=old_state)
                assert stale["result"]["session_restored"] is False
                assert stale["result"]["protocol"] != old_protocol
            async with raw_client(fake, memory=True) as client:
                unknown = await client.connect(protocol="signalwire_x_y", authorization_state="z")
                assert unknown["result"]["session_restored"] is False
            assert len(fake.sessions) == 3


async def test_unacked_events_not_resent_when_disabled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            fake.resend_unacked_on_resume = False
            async with raw_client(fake, memory=True) as client:
                await client.connect()
                client.auto_ack = False
                await fake.inbound_call()
                await client.event("calling.call.receive")
                protocol, state = client.protocol, client.auth_state
                await fake.drop(fake.sessions[0])
            async with raw_client(fake, memory=True) as client:
                reply = await client.connect(protocol=protocol, authorization_state=state)
                assert reply["result"]["session_restored"] is True
                await client.nothing_more(1)
                assert len(fake.unacked_events()) == 1


async def test_server_disconnect_then_resume(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            async with raw_client(fake, memory=True) as client:
                await client.connect()
                call = await fake.inbound_call()
                await client.event("calling.call.receive")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(fake.send_disconnect)
                    frame = await client.next(lambda f: f.get("method") == "signalwire.disconnect")
                    expected = fixture_frames("session-resume.json", "server")[0]
                    assert frame["params"] == expected["params"] == {}
                    await client.ack(frame)
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await client.next()
                protocol, state = client.protocol, client.auth_state
            assert fake.sessions[0].protocol == protocol and not fake.sessions[0].connected
            await call.hangup()
            async with raw_client(fake, memory=True) as client:
                reply = await client.connect(protocol=protocol, authorization_state=state)
                assert reply["result"]["session_restored"] is True
                _, ended = await client.events(2, "calling.call.state")
                assert ended["params"]["call_id"] == call.call_id


async def test_server_disconnect_with_restart_forgets_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            async with raw_client(fake, memory=True) as client:
                await client.connect()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(partial(fake.send_disconnect, restart=True))
                    frame = await client.next(lambda f: f.get("method") == "signalwire.disconnect")
                    assert frame["params"] == {"restart": True}
                    await client.ack(frame)
                protocol, state = client.protocol, client.auth_state
            assert fake.sessions == []
            async with raw_client(fake, memory=True) as client:
                reply = await client.connect(protocol=protocol, authorization_state=state)
                assert reply["result"]["session_restored"] is False
                assert reply["result"]["protocol"] != protocol


async def test_disconnect_ack_wait_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            start = trio.current_time()
            await fake.send_disconnect()  # the client never acks
            assert 0 < trio.current_time() - start < 30
            assert not fake.sessions[0].connected


async def test_fail_next_with_code_and_jsonrpc_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            fake.fail_next("calling.answer", code="503", message="Try later", times=2)
            for _ in range(2):
                result = await client.command("calling.answer", call)
                assert result == {"code": "503", "message": "Try later"}
            fake.fail_next("calling.answer", jsonrpc_error=-32603)
            reply = await client.request(
                "calling.answer", {"node_id": call.node_id, "call_id": call.call_id}
            )
            assert reply["error"] == {"code": -32603, "message": "Injected failure"}
            assert call.state == "created"
            assert (await client.command("calling.answer", call))["code"] == "200"
            assert (await client.event("calling.call.state"))["params"]["call_state"] == "answered"
            assert len(call.commands) == 4


async def test_delay_next_runs_on_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(120):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.delay_next("signalwire.ping", 30)
            wall, start = time.monotonic(), trio.current_time()
            await client.send({"jsonrpc": "2.0", "id": "slow", "method": "signalwire.ping"})
            # A later request is answered while the delayed one waits.
            assert "result" in await client.request("signalwire.receive", {"contexts": []})
            assert trio.current_time() - start < 30
            await client.reply("slow")
            assert trio.current_time() - start == pytest.approx(30)
            assert time.monotonic() - wall < 5


async def test_malformed_client_frames_get_errors_and_server_keeps_working(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.send("{not json")
            assert (await client.reply(None))["error"]["code"] == -32700
            await client.connect()
            await client.send("{not json either")
            assert (await client.reply(None))["error"]["code"] == -32700
            await client.send("[1, 2]")
            assert (await client.reply(None))["error"]["code"] == -32600
            await client.send({"jsonrpc": "2.0", "id": {"x": 1}, "method": "signalwire.ping"})
            assert (await client.reply(None))["error"]["code"] == -32600
            await client.send({"jsonrpc": "2.0", "id": "a", "method": 5})
            assert (await client.reply("a"))["error"]["code"] == -32600
            await client.send({"jsonrpc": "2.0", "id": "b"})
            assert (await client.reply("b"))["error"]["code"] == -32600
            await client.send({"jsonrpc": "2.0", "id": "c", "method": "calling.end", "params": 3})
            assert (await client.reply("c"))["error"]["code"] == -32602
            reply = await client.request("calling.end", {"node_id": [], "call_id": {}})
            assert reply["error"]["code"] == -32602
            await client.send({"jsonrpc": "2.0", "method": "signalwire.ping"})  # no id: ignored
            await client.send({"jsonrpc": "2.0", "id": "late", "result": {}})  # unknown: dropped
            await client.ws.send_message(b"\xff\xfe binary")
            assert (await client.reply(None))["error"]["code"] == -32700
            assert "result" in await client.request("signalwire.ping", {})
            raw = [e for e in fake.journal if e.frame is None]
            assert [e.raw for e in raw[:3]] == ["{not json", "{not json either", "[1, 2]"]
            await client.nothing_more(1)
            assert fake.internal_errors == []


async def test_send_malformed_and_send_raw_reach_the_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            with pytest.raises(LookupError):
                await fake.send_raw({"x": 1})
            await client.connect()
            await fake.send_malformed("{not json")
            assert await client.ws.get_message() == "{not json"
            await fake.send_raw({"jsonrpc": "2.0", "id": "x", "method": "weird"}, fake.sessions[0])
            assert await client.next() == {"jsonrpc": "2.0", "id": "x", "method": "weird"}


async def test_stop_answering_simulates_a_half_open_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.stop_answering()
            await client.send({"jsonrpc": "2.0", "id": "p1", "method": "signalwire.ping"})
            await fake.inbound_call()  # "sent", but lost on the way
            with trio.move_on_after(5) as scope:
                await client.reply("p1")
            assert scope.cancelled_caught
            assert [e.method for e in fake.journal][-1] == "signalwire.ping"
            assert len(fake.unacked_events()) == 1
            fake.resume_answering()
            assert "result" in await client.request("signalwire.ping", {})


async def test_reject_connects(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake:
            fake.reject_connects(code=-32003)
            async with raw_client(fake, memory=True) as client:
                reply = await client.connect()
                assert reply["error"]["code"] == -32003
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await client.next()
            fake.accept_connects()
            async with raw_client(fake, memory=True) as client:
                assert "result" in await client.connect()


async def test_messaging_send_acks_and_reports_delivery(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            request = fixture_frames("messaging-send.json", "client")[0]
            await client.send(request)
            reply = await client.reply(request["id"])
            assert reply["result"]["code"] == "200" and reply["result"]["message_id"]
            events = await client.events(4, "messaging.state")
            assert [e["params"]["message_state"] for e in events] == [
                "queued",
                "initiated",
                "sent",
                "delivered",
            ]
            assert events[0]["context"] == "office"


# -- connection modes and the fixture ------------------------------------------


async def test_connect_kwargs_memory_mode(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server(contexts=("office", "sales")) as fake:
            kwargs = fake.connect_kwargs()
            assert kwargs["url"] == "ws://fake-relay.invalid/"
            assert kwargs["stream_factory"] == fake.open_memory_stream
            assert kwargs["contexts"] == ["office", "sales"]
            assert (kwargs["project"], kwargs["token"]) == (PROJECT, TOKEN)
            assert fake.connect_kwargs(memory=False, token="x") == {
                "project": PROJECT,
                "token": "x",
                "contexts": ["office", "sales"],
                "url": fake.url,
            }
            for expected in (1, 2):  # each stream is a new connection
                async with raw_client(fake, memory=True) as client:
                    assert "result" in await client.connect()
                assert fake.connection_count == expected


async def test_connect_kwargs_socket_mode_on_real_clock() -> None:
    with trio.fail_after(5):
        async with fake_server(port=0) as fake:
            assert re.match(r"^ws://127\.0\.0\.1:\d+$", fake.url)
            assert fake.connect_kwargs() == {
                "project": PROJECT,
                "token": TOKEN,
                "contexts": ["office"],
                "url": fake.url,
            }


async def test_body_exception_leaves_unwrapped() -> None:
    with trio.fail_after(5), pytest.raises(KeyError):
        async with open_fake_relay():
            raise KeyError("mine")


async def test_fake_relay_fixture(fake_relay: FakeRelay) -> None:  # noqa: F811
    with trio.fail_after(5):
        assert fake_relay.url.startswith("ws://127.0.0.1:")
        async with raw_client(fake_relay) as client:
            assert "result" in await client.connect()
        call = await fake_relay.inbound_call()
        assert fake_relay.calls[call.call_id] is call


async def test_resume_takes_over_a_session_still_attached_elsewhere(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with (
            fake_server() as fake,
            raw_client(fake, memory=True) as old,
            raw_client(fake, memory=True) as new,
        ):
            await old.connect()
            reply = await new.connect(protocol=old.protocol, authorization_state=old.auth_state)
            assert reply["result"]["session_restored"] is True
            with pytest.raises(trio_websocket.ConnectionClosed):
                await old.next()
            call = await fake.inbound_call()
            receive = await new.event("calling.call.receive")
            assert receive["params"]["call_id"] == call.call_id
            assert len(fake.sessions) == 1 and fake.sessions[0].connected


# -- fuzzing: no frame may break the server ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
methods = st.sampled_from(
    [
        "signalwire.connect",
        "signalwire.receive",
        "signalwire.unreceive",
        "signalwire.ping",
        "signalwire.reauthenticate",
        "calling.answer",
        "calling.end",
        "calling.pass",
        "calling.dial",
        "calling.play",
        "calling.record.stop",
        "messaging.send",
        "calling.teleport",
    ]
)
param_keys = st.sampled_from(
    ["node_id", "call_id", "control_id", "contexts", "tag", "devices", "reason", "play", "body"]
)
params = st.dictionaries(param_keys, json_values | st.just("$NODE") | st.just("$CALL"), max_size=5)
frames = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0")},
    optional={
        "id": st.text(max_size=6) | st.integers() | json_values,
        "method": methods | json_values,
        "params": params | json_values,
        "result": json_values,
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames | st.text(max_size=10), max_size=12))
def test_random_frames_never_break_the_server(garbage: list[JSON | str]) -> None:
    async def main() -> None:
        with trio.fail_after(600):
            async with fake_server() as fake, raw_client(fake, memory=True) as client:
                call, _ = await connected_client_and_call(fake, client)
                for frame in garbage:
                    text = frame if isinstance(frame, str) else json.dumps(frame)
                    text = text.replace("$NODE", call.node_id).replace("$CALL", call.call_id)
                    await client.send(text)
                reply = await client.request("signalwire.ping", {"timestamp": 1})
                assert reply["result"] == {"timestamp": 1}
                assert fake.internal_errors == []

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_wss_with_ssl_context(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with trio.fail_after(10):
        async with fake_server(ssl_context=server_context) as fake:
            assert fake.url.startswith("wss://127.0.0.1:")
            async with raw_client(fake, ssl_context=client_context) as client:
                assert "result" in await client.connect()
                await fake.drop()  # cuts the TCP stream under the TLS layer
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await client.next()


async def test_non_websocket_traffic_does_not_break_the_listener() -> None:
    with trio.fail_after(5):
        async with fake_server() as fake:
            for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01garbage\r\n\r\n"):
                stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
                await stream.send_all(junk)
                with trio.move_on_after(0.5):
                    await stream.receive_some()
                await stream.aclose()
            async with raw_client(fake) as client:
                assert "result" in await client.connect()
            assert fake.connection_count == 1
