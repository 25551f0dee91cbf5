"""The fake's journal both ways, paced message states, inbound messages, flat media."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from fakeclient import connected_client_and_call, fake_server, raw_client

from signalwire_relay_trio import Call, Message, RelayConnection, Tts
from signalwire_relay_trio.testing import FakeRelay, Journal, JournalEntry, serving

# -- the journal, both ways ---------------------------------------------------------


async def test_the_journal_holds_what_the_fake_sent_too(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    async def handle(call: Call) -> None:
        await call.answer()
        await (await call.play([Tts(text="hi")])).wait()

    with trio.fail_after(60):
        async with serving(relay, handle):
            caller = await fake_relay.inbound_call()
            await caller.wait_for_state("ended")
        await trio.testing.wait_all_tasks_blocked()  # the client acked the last events
    journal = fake_relay.journal
    # what the client sent: as before
    (play,) = journal.all("calling.play")
    assert play.direction == "received" and play.call_id == caller.call_id
    # both ways, by method: the request and its reply
    request, reply = journal.query(method="calling.play")
    assert request is play
    assert (request.direction, reply.direction) == ("received", "sent")
    assert reply.reply_to == "calling.play" and reply.method is None
    assert reply.result["code"] == "200" and reply.call_id == caller.call_id
    assert reply.time >= request.time
    # events the fake sent, by type and call
    states = [
        e.params["params"]["state"]
        for e in journal.sent(event_type="calling.call.play", call_id=caller.call_id)
    ]
    assert states == ["playing", "finished"]
    call_states = [
        e.params["params"]["call_state"]
        for e in journal.query(direction="sent", event_type="calling.call.state")
    ]
    assert call_states == ["answered", "ending", "ended"]
    (receive,) = journal.sent(event_type="calling.call.receive")
    assert receive.method == "signalwire.event" and receive.call_id == caller.call_id
    # the client's acks answer the fake's events
    acks = [e for e in journal.query(direction="received") if e.reply_to == "signalwire.event"]
    events = journal.sent("signalwire.event")
    assert sorted(a.id for a in acks) == sorted(e.id for e in events)
    # the connect reply belongs to the session it opened
    (connect_reply,) = journal.sent("signalwire.connect")
    assert connect_reply.protocol == fake_relay.sessions[0].protocol
    # every entry either way, in time order
    times = [entry.time for entry in journal.query()]
    assert times == sorted(times)
    with pytest.raises(ValueError, match="direction"):
        journal.query(direction="both")


async def test_dial_events_are_found_by_the_winning_call(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    from signalwire_relay_trio import Phone

    with trio.fail_after(60):
        call = await relay.dial(Phone(to_number="+15550001111", from_number="+15551230000"))
        await call.hangup()
    dial_events = fake_relay.journal.sent(event_type="calling.call.dial")
    assert [e.params["params"]["dial_state"] for e in dial_events] == ["dialing", "answered"]
    (answered,) = fake_relay.journal.sent(event_type="calling.call.dial", call_id=call.call_id)
    assert answered.params["params"]["dial_state"] == "answered"


async def test_wait_for_entry_and_clear(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            async with trio.open_nursery() as nursery:
                found: list[JournalEntry] = []

                async def waiter() -> None:
                    found.append(
                        await fake.journal.wait_for_entry(
                            direction="sent", event_type="calling.call.state", call_id=call.call_id
                        )
                    )

                nursery.start_soon(waiter)
                await trio.testing.wait_all_tasks_blocked()
                assert found == []
                await call.hangup()
            assert found[0].params["params"]["call_state"] == "ending"
            await fake.send_malformed("{not json")
            (raw,) = [e for e in fake.journal.sent() if e.frame is None]
            assert raw.raw == "{not json" and raw.direction == "sent"
            fake.journal.clear()
            assert len(fake.journal) == 0 and fake.journal.query() == []


def test_a_journal_alone_resolves_replies_per_socket() -> None:
    journal = Journal()
    request = {"jsonrpc": "2.0", "id": "1", "method": "calling.answer", "params": {"call_id": "c"}}
    journal.append(
        JournalEntry(request, "calling.answer", "1", request["params"], None, None, None, 0)
    )
    journal.record_sent('{"jsonrpc":"2.0","id":"1","result":{"code":"200"}}', None, 1.0, link=2)
    journal.record_sent('{"jsonrpc":"2.0","id":"1","result":{"code":"200"}}', None, 1.0, link=0)
    other, same = journal.sent()
    assert other.reply_to is None  # same id on another socket: not its reply
    assert same.reply_to == "calling.answer" and same.call_id == "c"


# -- message states, paced -------------------------------------------------------------


async def test_message_states_follow_the_reply_one_by_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            gap = fake.timings.message_state_gap
            assert gap > 0
            reply = await client.request(
                "messaging.send",
                {"context": "office", "to_number": "+15550000000", "from_number": "+1555"},
            )
            assert reply["result"]["code"] == "400"  # no body, no media
            sent_at = trio.current_time()
            reply = await client.request(
                "messaging.send",
                {
                    "context": "office",
                    "to_number": "+15550000000",
                    "from_number": "+15551230000",
                    "body": "Test",
                },
            )
            assert reply["result"]["message_id"]
            arrivals = []
            for expected in ("queued", "initiated", "sent", "delivered"):
                event = await client.event("messaging.state")
                assert event["params"]["message_state"] == expected
                arrivals.append(trio.current_time() - sent_at)
            assert arrivals == pytest.approx([gap, 2 * gap, 3 * gap, 4 * gap])
            assert "reason" not in event["params"]


@pytest.mark.parametrize(
    ("outcome", "states", "reason"),
    [
        ("undelivered", ["queued", "initiated", "sent", "undelivered"], "carrier_rejected"),
        ("failed", ["queued", "initiated", "failed"], "unreachable_destination"),
    ],
)
async def test_message_outcomes_are_scripted_per_number(
    outcome: str, states: list[str], reason: str, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            await client.connect()
            fake.set_message_outcome("+15550000009", outcome)
            await client.request(
                "messaging.send",
                {"to_number": "+15550000009", "from_number": "+1555", "media": ["https://x/a.png"]},
            )
            events = await client.events(len(states), "messaging.state")
            assert [e["params"]["message_state"] for e in events] == states
            assert events[-1]["params"]["reason"] == reason
            assert "reason" not in events[0]["params"]
            assert "MMS" in events[0]["params"]["tags"]
            # the context defaults to the session's protocol
            assert events[0]["context"] == client.protocol
            await client.nothing_more(1)
    with pytest.raises(ValueError, match="outcome"):
        fake.set_message_outcome("+1", "lost")


async def test_our_client_waits_for_delivered_and_failed(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    fake_relay.set_message_outcome("+15550000002", "failed")
    with trio.fail_after(30):
        ok = await relay.send_message(
            to_number="+15550000001", from_number="+15551230000", body="a"
        )
        bad = await relay.send_message(
            to_number="+15550000002", from_number="+15551230000", body="b"
        )
        assert (await ok.wait(timeout=5)).message_state == "delivered"
        failed = await bad.wait(timeout=5)
        assert failed.message_state == "failed"


async def test_inbound_messages_reach_the_subscribed_client(
    fake_relay: FakeRelay, relay: RelayConnection, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        async with relay.inbound_messages() as messages:
            message_id = await fake_relay.inbound_message(
                context="office", from_number="+15559870001", body="Can I move it to 11?"
            )
            message: Message = await messages.receive()
    assert message.message_id == message_id
    assert message.body == "Can I move it to 11?" and message.direction == "inbound"
    (event,) = fake_relay.journal.sent(event_type="messaging.receive")
    assert event.params["params"]["message_state"] == "received"
    with pytest.raises(LookupError, match="sales"):
        await fake_relay.inbound_message(context="sales", body="x")


# -- media items, flat or nested -------------------------------------------------------------


async def test_flat_media_items_are_played_as_nested_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            flat = [{"type": "tts", "text": "Welcome"}, {"type": "silence", "duration": 1}]
            result = await client.command("calling.play", call, control_id="p", play=flat)
            assert result["code"] == "200"
            op = call.operations["p"]
            assert op.items == [  # type: ignore[attr-defined]
                {"type": "tts", "params": {"text": "Welcome"}},
                {"type": "silence", "params": {"duration": 1}},
            ]
            playing, finished = await client.events(2, "calling.call.play")
            assert finished["params"]["state"] == "finished"
            # the play lasted as long as the nested form would
            seconds = max(fake.timings.tts_min, 7 * fake.timings.tts_seconds_per_char) + 1
            assert finished["timestamp"] - playing["timestamp"] == pytest.approx(seconds)


# -- reset ----------------------------------------------------------------------------


async def test_reset_ends_calls_and_clears_scripts_and_journal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            call, _ = await connected_client_and_call(fake, client)
            fake.set_dial_outcome("+1", "busy")
            fake.set_message_outcome("+1", "failed")
            fake.fail_next("calling.answer")
            fake.ignore_pings = True
            fake.reset()
            assert call.state == "ended" and fake.calls == {}
            assert fake.dial_plan({"params": {"to_number": "+1"}})[0] == "answer"
            assert fake.message_outcome("+1") == "delivered"
            assert not fake.ignore_pings
            assert fake.journal.query() == []
            # the session stays: the client goes on
            reply = await client.request("signalwire.ping", {})
            assert "result" in reply
            ping, pong = fake.journal.query(method="signalwire.ping")
            assert (ping.direction, pong.direction) == ("received", "sent")
            assert fake.journal.all("calling.answer") == []
