"""The fake as a service (issue 12, findings 9-11): bounded time, bounded memory, client errors.

Each attack runs over loopback sockets on the real clock, under a deadline,
while a well-behaved client connects, is offered an inbound call and answers
it: the fake keeps serving. Every server, task and socket a test starts is
stopped by the end of its block.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalwire_relay_trio import Call, open_relay
from signalwire_relay_trio.testing import FakeRelay, Journal, JournalEntry, open_fake_relay
from signalwire_relay_trio.testing._session import Session

HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
#: How long a well-behaved client may take to connect and answer a call during an attack.
SERVED_WITHIN = 10.0


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (an all-zero mask: the payload goes as is)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def request(method: str, params: dict[str, Any], frame_id: str = "1") -> bytes:
    frame = {"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params}
    return json.dumps(frame).encode()


CONNECT = request(
    "signalwire.connect",
    {
        "version": {"major": 2, "minor": 0, "revision": 0},
        "authentication": {"project": "test-project", "token": "test-token"},
    },
    "connect",
)


@asynccontextmanager
async def raw_socket(fake: FakeRelay) -> AsyncIterator[trio.SocketStream]:
    """A WebSocket by hand over loopback: it sends what the test says and reads nothing."""
    stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    try:
        await stream.send_all(HANDSHAKE)
        head = b""
        while b"\r\n\r\n" not in head:
            data = await stream.receive_some(4096)
            assert data, "the fake closed during the handshake"
            head += data
        assert head.startswith(b"HTTP/1.1 101")
        yield stream
    finally:
        await trio.aclose_forcefully(stream)


async def read_until(stream: trio.abc.ReceiveStream, marker: bytes, count: int = 1) -> bytes:
    """Read until ``marker`` showed up ``count`` times (or the stream ended); returns it all."""
    data = b""
    while data.count(marker) < count:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


async def served(fake: FakeRelay) -> float:
    """A well-behaved client connects, gets an inbound call and answers it; returns seconds."""
    start = time.perf_counter()

    async def answer(call: Call) -> None:
        await call.answer()

    kwargs = fake.connect_kwargs(memory=False)
    with trio.fail_after(SERVED_WITHIN):
        async with open_relay(**kwargs, reconnect=False) as relay, trio.open_nursery() as nursery:
            nursery.start_soon(relay.serve, answer)
            caller = await fake.inbound_call()
            await caller.wait_for_state("answered")
            nursery.cancel_scope.cancel()
    return time.perf_counter() - start


# -- 9. a request is handled in time linear in its size ---------------------------------------


class _Host:
    project = "p"
    space_id = "s"
    node_uuid = "n"
    resend_unacked_on_resume = True

    def timestamp(self) -> float:
        return 0.0


def test_subscribing_and_unsubscribing_200k_contexts_is_linear() -> None:
    session = Session(_Host())
    contexts = [f"context-{i}" for i in range(200_000)]
    start = time.perf_counter()
    session.subscribe(contexts)
    session.subscribe(contexts[:1000])  # again: no duplicates
    session.unsubscribe(contexts[::2])
    elapsed = time.perf_counter() - start
    # A list scan per context took ~63 s for 40k contexts (quadratic); a set takes ~0.1 s.
    assert elapsed < 5, elapsed
    assert session.contexts == contexts[1::2]
    assert session.subscribed("context-1") and not session.subscribed("context-0")


async def test_a_receive_of_200k_contexts_does_not_stall_the_fake() -> None:
    async with open_fake_relay() as fake:
        with trio.fail_after(60):
            async with raw_socket(fake) as attacker:
                await attacker.send_all(ws_frame(CONNECT))
                await read_until(attacker, b'"id":"connect"')
                contexts = [f"context-{i}" for i in range(200_000)]
                frame = ws_frame(request("signalwire.receive", {"contexts": contexts}, "big"))
                start = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(attacker.send_all, frame)
                    await trio.sleep(0.05)  # the frame is arriving: a client comes meanwhile
                    assert await served(fake) < SERVED_WITHIN
                reply = await read_until(attacker, b'"id":"big"')
                assert b'"code":"200"' in reply
                assert time.perf_counter() - start < 20
                session = next(s for s in fake.sessions if s.subscribed("context-199999"))
                assert len(session.contexts) == 200_000
        assert fake.internal_errors == []


# -- 10. memory is bounded: a client that does not read, unfinished messages, history --------


async def test_a_client_that_never_reads_is_cut_and_others_are_served() -> None:
    limit = 1024 * 1024
    async with open_fake_relay(write_queue_limit=limit, journal_limit=2_000) as fake:
        with trio.fail_after(60):
            async with raw_socket(fake) as attacker:
                await attacker.send_all(ws_frame(CONNECT))
                # 1 KiB echoed back per ping: 20 MiB of replies the attacker never reads.
                pings = b"".join(
                    ws_frame(request("signalwire.ping", {"timestamp": "t" * 1024}, str(i)))
                    for i in range(200)
                )
                tracemalloc.start()
                try:
                    cut = False
                    for _ in range(100):
                        try:
                            await attacker.send_all(pings)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            cut = True
                            break
                        if fake.client_errors.kinds() == ["slow_reader"]:
                            cut = True
                            break
                    assert cut
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                # Without the bound the fake queued every reply (20 MiB); now about the limit,
                # plus the journal (2,000 entries) and what the kernel buffers do not hold.
                assert peak < 12 * limit, peak
            error = fake.client_errors.kinds()
            assert error == ["slow_reader"], fake.client_errors
            assert await served(fake) < SERVED_WITHIN
            assert len(fake.journal.query()) <= 2_000
        assert fake.internal_errors == []


async def test_unfinished_messages_share_one_budget_and_are_released() -> None:
    budget = 8 * 1024 * 1024
    async with open_fake_relay(partial_frames_limit=budget) as fake:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                closed = 0

                async def hold_unfinished() -> None:
                    nonlocal closed
                    async with raw_socket(fake) as attacker:
                        # A 10 MiB - 1 message, 3 MiB of it sent: the fake must hold it all.
                        size = 10 * 1024 * 1024 - 1
                        head = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big") + b"\0\0\0\0"
                        try:
                            await attacker.send_all(head + b"x" * (3 * 1024 * 1024))
                            if not await attacker.receive_some(65536):
                                closed += 1
                        except trio.BrokenResourceError:
                            closed += 1
                        await trio.sleep_forever()

                for _ in range(10):
                    nursery.start_soon(hold_unfinished)
                while len(fake.client_errors) < 10 - budget // (3 * 1024 * 1024):  # noqa: ASYNC110
                    await trio.sleep(0.01)
                # Everyone over the budget was closed (1013); the rest hold at most the budget.
                assert fake.partial_frame_bytes <= budget
                assert set(fake.client_errors.kinds()) == {"over_budget"}
                assert await served(fake) < SERVED_WITHIN
                nursery.cancel_scope.cancel()
            while fake.partial_frame_bytes:  # noqa: ASYNC110 (released as their sockets go)
                await trio.sleep(0.01)
        assert fake.internal_errors == []


def test_the_journal_keeps_the_latest_entries() -> None:
    journal = Journal(limit=10)
    for i in range(15):
        entry = JournalEntry(None, f"m{i % 3}", str(i), {"n": i}, None, None, None, float(i))
        journal.append(entry, 1, 20)
        journal.record_sent(json.dumps({"id": str(i), "result": {}}), None, float(i), 1)
    assert len(journal.query()) == 10 and journal.dropped == 20
    assert [e.params["n"] for e in journal.all()] == [10, 11, 12, 13, 14]
    assert [e.params["n"] for e in journal.all("m1")] == [10, 13]
    assert journal.find("m2")[0].params["n"] == 11
    assert journal.methods() == ["m1", "m2", "m0", "m1", "m2"]
    replies = journal.sent()
    assert [r.id for r in replies] == ["10", "11", "12", "13", "14"]
    assert replies[-1].reply_to == "m2"  # still matched to its request
    with pytest.raises(AssertionError, match="never sent 'm9'"):
        journal.find("m9")


def test_the_journal_keeps_at_most_its_characters() -> None:
    journal = Journal(limit=1_000, char_limit=1_000)
    for i in range(50):
        journal.record_sent("x" * 100, None, float(i), 1)
    assert len(journal.query()) == 10


async def test_journal_waits_see_entries_added_while_old_ones_drop() -> None:
    journal = Journal(limit=3)
    found: list[JournalEntry] = []

    async def wait() -> None:
        found.append(await journal.wait_for("wanted"))
        found.append(
            await journal.wait_for_entry(direction="sent", predicate=lambda e: e.id == "late")
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(10):
            journal.append(JournalEntry(None, "other", str(i), {}, None, None, None, 0.0))
        journal.append(JournalEntry(None, "wanted", "w", {}, None, None, None, 0.0))
        await trio.testing.wait_all_tasks_blocked()
        for i in range(10):
            journal.record_sent(json.dumps({"id": str(i)}), None, 0.0)
        journal.record_sent(json.dumps({"id": "late"}), None, 0.0)
    assert [entry.id for entry in found] == ["w", "late"]


async def test_ended_calls_beyond_the_limit_are_forgotten(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_fake_relay(ended_call_limit=5) as fake:
        async with open_relay(**fake.connect_kwargs()) as relay:
            async with relay.inbound_calls() as calls:
                kept = await fake.inbound_call()
                await calls.receive()
                for _ in range(20):
                    caller = await fake.inbound_call()
                    call = await calls.receive()
                    await call.answer()
                    await caller.hangup()
            assert len(fake.calls) == 6  # the live one and the latest 5 ended
            assert kept.call_id in fake.calls and caller.call_id in fake.calls
        assert fake.internal_errors == []


async def test_sessions_left_without_a_socket_are_forgotten_oldest_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_fake_relay() as fake:
        fake.detached_session_limit = 3
        for _ in range(10):
            async with open_relay(**fake.connect_kwargs()):
                pass
        async with open_relay(**fake.connect_kwargs()):
            assert len(fake.sessions) == 4  # this one and the latest 3 that left
            assert sum(s.connected for s in fake.sessions) == 1
        assert fake.internal_errors == []


async def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="journal_limit must be an int >= 0"):
        async with open_fake_relay(journal_limit=-1):
            pass
    with pytest.raises(ValueError, match="write_queue_limit"):
        async with open_fake_relay(write_queue_limit="big"):  # type: ignore[arg-type]
            pass


# -- 11. a client's bad bytes are client errors, not the fake's internal errors --------------


async def test_deeply_nested_frames_are_client_errors_and_others_are_served() -> None:
    async with open_fake_relay() as fake:
        with trio.fail_after(60):
            async with raw_socket(fake) as attacker:
                await attacker.send_all(ws_frame(CONNECT))
                bad = ws_frame(b"[" * 100_000) * 50
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(attacker.send_all, bad)
                    assert await served(fake) < SERVED_WITHIN
                replies = await read_until(attacker, b'"code":-32700', 50)
                assert replies.count(b'"code":-32700') == 50  # the JSON-RPC parse error
        assert fake.internal_errors == []
        assert fake.client_errors.count == 50
        assert set(fake.client_errors.kinds()) == {"parse"}
        error = next(iter(fake.client_errors))
        assert error.detail == "not JSON (100000 chars): RecursionError"


async def test_invalid_utf8_is_a_client_error() -> None:
    async with open_fake_relay() as fake:
        with trio.fail_after(10):
            async with raw_socket(fake) as attacker:
                await attacker.send_all(ws_frame(CONNECT) + ws_frame(b'{"id": "\xff\xfe"}'))
                while await attacker.receive_some(65536):
                    pass  # the fake closes (1007)
            while not fake.client_errors:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert fake.internal_errors == []
        assert fake.client_errors.kinds() == ["protocol"]


def _nested(depth: int, leaf: Any, as_object: bool) -> str:
    """JSON text nested ``depth`` deep (built as text: json.dumps recurses)."""
    if as_object:
        return '{"k":' * depth + json.dumps(leaf) + "}" * depth
    return "[" * depth + json.dumps(leaf) + "]" * depth


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    depth=st.one_of(st.integers(0, 200), st.integers(200, 5_000)),
    as_object=st.booleans(),
    where=st.sampled_from(["timestamp", "params", "frame"]),
    leaf=st.one_of(st.integers(), st.text(max_size=5), st.just("\ud800"), st.just(1e308 * 10)),
)
def test_any_nesting_anywhere_never_makes_an_internal_error(
    depth: int, as_object: bool, where: str, leaf: Any
) -> None:
    value = _nested(depth, leaf, as_object)
    if where == "timestamp":  # echoed back in the reply
        text = '{"id": "x", "method": "signalwire.ping", "params": {"timestamp": ' + value + "}}"
    elif where == "params":
        text = '{"id": "x", "method": "calling.play", "params": {"v": ' + value + "}}"
    elif as_object:  # the frame itself: an object without a method
        text = '{"id": "x", "k": ' + value + "}"
    else:  # the frame itself: not an object
        text = value

    async def scenario() -> None:
        async with open_fake_relay() as fake:
            with trio.fail_after(60):
                stream = await fake.open_memory_stream()
                await stream.send_all(HANDSHAKE)
                await read_until(stream, b"\r\n\r\n")
                await stream.send_all(ws_frame(CONNECT) + ws_frame(text.encode()))
                reply = b""
                # Answered with its id, or with id null when it is not parsed at all.
                while b'"id":"x"' not in reply and b'"id":null' not in reply:
                    chunk = await stream.receive_some(65536)
                    assert chunk, "the fake closed the connection"
                    reply += chunk
                await stream.aclose()
            assert fake.internal_errors == []

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
