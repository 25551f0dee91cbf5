"""Property test: no frame the server sends can kill the client's reader.

Each example opens a fake server and a client on the mock clock, sends a
batch of arbitrary frames (invalid JSON, wrong types, missing ids, unknown
methods, huge payloads, events for unknown calls), then checks that a real
call still works and that nothing reached the "error while handling" path.
"""

from __future__ import annotations

import json
import logging

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from waiting import wait_for_state

from signalwire_relay_trio import ConnectionState, open_relay
from signalwire_relay_trio.testing import open_fake_relay

EVENT_TYPES = [
    "calling.call.receive",
    "calling.call.state",
    "calling.call.dial",
    "calling.call.play",
    "calling.call.collect",
    "calling.call.record",
    "calling.call.detect",
    "calling.call.fax",
    "calling.call.pay",
    "calling.error",
    "messaging.state",
    "messaging.receive",
    "signalwire.authorization.state",
    "calling.call.unheard_of",
    "",
]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(st.text(min_size=1, max_size=12), st.integers(), st.none(), json_values)
event_params = st.dictionaries(
    st.sampled_from(
        [
            "call_id",
            "node_id",
            "control_id",
            "tag",
            "call_state",
            "state",
            "message_id",
            "result",
            "detect",
            "fax",
            "device",
            "dial_state",
            "call",
            "params",
        ]
    ),
    json_values,
    max_size=6,
)
events = st.builds(
    lambda i, t, p, outer: {
        "jsonrpc": "2.0",
        "id": i,
        "method": "signalwire.event",
        "params": {"event_type": t, "params": p, **outer},
    },
    ids,
    st.one_of(st.sampled_from(EVENT_TYPES), json_values),
    st.one_of(event_params, json_values),
    st.dictionaries(st.sampled_from(["timestamp", "project_id", "context"]), json_values),
)
requests = st.builds(
    lambda i, m, p: {"jsonrpc": "2.0", "id": i, "method": m, "params": p},
    ids,
    st.one_of(
        st.sampled_from(["signalwire.ping", "signalwire.teleport", "calling.play"]),
        json_values,
    ),
    json_values,
)
replies = st.builds(
    lambda i, body: {"jsonrpc": "2.0", "id": i, **body},
    ids,
    st.one_of(
        st.fixed_dictionaries({"result": json_values}),
        st.fixed_dictionaries({"error": json_values}),
        st.just({}),
    ),
)
frames = st.one_of(
    st.text(max_size=40),
    json_values.map(json.dumps),
    events.map(json.dumps),
    requests.map(json.dumps),
    replies.map(json.dumps),
    st.integers(min_value=100_000, max_value=2_000_000).map(
        lambda n: json.dumps({"jsonrpc": "2.0", "method": "signalwire.event", "params": "x" * n})
    ),
)


async def _exercise(batch: list[str]) -> list[logging.LogRecord]:
    errors: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record)

    handler = Collect()
    logger = logging.getLogger("signalwire_relay_trio")
    logger.addHandler(handler)
    try:
        async with open_fake_relay() as fake:
            with trio.fail_after(60):
                async with open_relay(**fake.connect_kwargs(memory=True)) as relay:
                    for text in batch:
                        await fake.send_malformed(text)
                    result = await relay.execute("signalwire.receive", {"contexts": ["x"]})
                    assert result["code"] == "200"
                    async with relay.inbound_calls() as calls:
                        fake_call = await fake.inbound_call()
                        call = await calls.receive()
                    await call.answer()
                    await fake_call.hangup()
                    await call.wait_for_ended()
                    assert relay.connected
            assert fake.internal_errors == []
    finally:
        logger.removeHandler(handler)
    return errors


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(frames, max_size=12))
def test_reader_survives_arbitrary_frames(batch: list[str]) -> None:
    errors = trio.run(_exercise, batch, clock=trio.testing.MockClock(autojump_threshold=0))
    assert errors == [], [record.getMessage() for record in errors]


def test_an_oversized_message_replaces_the_socket_and_the_call_survives() -> None:
    async def scenario() -> None:
        async with open_fake_relay() as fake:
            with trio.fail_after(60):
                async with open_relay(**fake.connect_kwargs(memory=True)) as relay:
                    async with relay.inbound_calls() as calls:
                        fake_call = await fake.inbound_call()
                        call = await calls.receive()
                    await fake.send_malformed(" " * (11 * 1024 * 1024))  # over the 10 MiB cap
                    await wait_for_state(relay, ConnectionState.RECONNECTING)
                    await wait_for_state(relay, ConnectionState.CONNECTED)
                    await call.answer()
                    await fake_call.hangup()
                    ended = await call.wait_for_ended()
                    assert ended.params["call_state"] == "ended"
                assert fake.connection_count == 2

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
