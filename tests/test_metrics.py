"""``signalwire_relay_trio.metrics`` and the ``/metrics`` endpoint of ``run --metrics-port``."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import trio
import trio.testing

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from signalwire_relay_trio import ConnectionState, RelayError, RelayStatistics
from signalwire_relay_trio._metrics_http import serve_metrics
from signalwire_relay_trio._runner import (
    bind_handler,
    statistics_from_json,
    statistics_to_json,
)
from signalwire_relay_trio.metrics import RelayCollector
from signalwire_relay_trio.testing import FakeRelay


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def collector_registry(source: Any, **kwargs: Any) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(RelayCollector(source, **kwargs))
    return registry


async def test_a_scrape_sees_the_active_call(
    relay: Any, fake_relay: FakeRelay, autojump_clock: trio.testing.MockClock
) -> None:
    registry = collector_registry(relay)
    answered, ended = trio.Event(), trio.Event()

    async def handler(call: Any) -> None:
        await call.answer()
        answered.set()
        await call.wait_for_ended()
        ended.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, handler)
            caller = await fake_relay.inbound_call()
            await answered.wait()
            during = samples(registry)
            await caller.hangup()
            await ended.wait()
            with pytest.raises(RelayError):
                await relay.execute("calling.teleport", {})
            nursery.cancel_scope.cancel()
    after = samples(registry)
    assert during[("signalwire_relay_active_calls", ())] == 1
    assert during[("signalwire_relay_calls_total", ())] == 1
    assert during[("signalwire_relay_connection_state", (("state", "connected"),))] == 1
    assert during[("signalwire_relay_connection_state", (("state", "closed"),))] == 0
    assert during[("signalwire_relay_events_received_total", ())] >= 2  # receive, answered
    assert after[("signalwire_relay_active_calls", ())] == 0
    assert after[("signalwire_relay_calls_total", ())] == 1
    inbound = (("direction", "inbound"),)
    assert during[("signalwire_relay_calls_by_direction_total", inbound)] == 1
    assert ("signalwire_relay_calls_ended_total", (("outcome", "hangup"),)) not in during
    assert after[("signalwire_relay_calls_ended_total", (("outcome", "hangup"),))] == 1
    assert after[("signalwire_relay_request_errors_total", (("code", "-32601"),))] == 1
    assert all(name.startswith("signalwire_relay_") for name, _ in after)


class Fixed:
    """A stand-in connection whose statistics a test sets."""

    def __init__(self, **fields: Any) -> None:
        values: dict[str, Any] = {
            "state": ConnectionState.RECONNECTING,
            "active_calls": 3,
            "pending_requests": 2,
            "session_pending": 0,
            "dials": 1,
            "actions": 4,
            "inbound_consumers": 1,
            "calls_total": 10,
            "events_received": 99,
            "reconnects": 5,
            "handler_errors": 7,
            "calls_by_direction": {"inbound": 6, "outbound": 4},
            "calls_ended": {"hangup": 5, "released": 2},
            "request_errors": {"404": 1, "RequestTimeoutError": 2},
        }
        values.update(fields)
        self.stats = RelayStatistics(**values)
        self.reads = 0

    def statistics(self) -> RelayStatistics:
        self.reads += 1
        return self.stats


def test_every_statistic_is_exposed_with_its_type_and_constant_labels() -> None:
    source = Fixed()
    registry = collector_registry(source, labels={"app": "ivr"})
    assert source.reads == 0  # describe() does not read the connection
    found = samples(registry)
    app = (("app", "ivr"),)
    assert found[("signalwire_relay_active_calls", app)] == 3
    assert found[("signalwire_relay_requests_in_flight", app)] == 2
    assert found[("signalwire_relay_dials_in_progress", app)] == 1
    assert found[("signalwire_relay_actions_running", app)] == 4
    assert found[("signalwire_relay_calls_total", app)] == 10
    assert found[("signalwire_relay_events_received_total", app)] == 99
    assert found[("signalwire_relay_reconnects_total", app)] == 5
    assert found[("signalwire_relay_handler_errors_total", app)] == 7
    assert (
        found[("signalwire_relay_calls_by_direction_total", (*app, ("direction", "outbound")))] == 4
    )
    assert found[("signalwire_relay_calls_ended_total", (*app, ("outcome", "released")))] == 2
    timeouts = (*app, ("code", "RequestTimeoutError"))
    assert found[("signalwire_relay_request_errors_total", timeouts)] == 2
    states = {
        dict(labels)["state"]: value
        for (name, labels), value in found.items()
        if name == "signalwire_relay_connection_state"
    }
    assert states == {"connecting": 0, "connected": 0, "reconnecting": 1, "closed": 0}
    assert source.reads == 1
    text = generate_latest(registry).decode()
    assert "# TYPE signalwire_relay_calls_total counter" in text
    assert "# TYPE signalwire_relay_active_calls gauge" in text


def test_statistics_cross_the_worker_pipe_unchanged() -> None:
    stats = Fixed().stats
    assert statistics_from_json(statistics_to_json(stats)) == stats
    assert statistics_from_json({**statistics_to_json(stats), "newer_field": 1}) == stats


def test_importing_metrics_without_prometheus_client_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(sys.modules):
        if name == "prometheus_client" or name.startswith("prometheus_client."):
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, "signalwire_relay_trio.metrics")
    with pytest.raises(ImportError, match=r"signalwire-relay-trio\[metrics\]"):
        import signalwire_relay_trio.metrics  # noqa: F401


def test_metrics_port_without_prometheus_client_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from signalwire_relay_trio.__main__ import main

    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", "p")
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", "t")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as info:
        main(["run", "json:dumps", "--context", "office", "--metrics-port", "9100"])
    assert info.value.code == 2
    assert 'pip install "signalwire-relay-trio[metrics]"' in capsys.readouterr().err


async def http(port: int, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
        return data


async def test_the_endpoint_serves_metrics_and_only_metrics() -> None:
    renders = 0

    async def render() -> bytes:
        nonlocal renders
        renders += 1
        return b"signalwire_relay_active_calls 2.0\n"

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, "127.0.0.1", 0, render)
            ok = await http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await http(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            missing = await http(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            post = await http(
                port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            garbage = await http(port, b"\x16\x03\x01 not http at all\r\n\r\n")
            nursery.cancel_scope.cancel()
    assert ok.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8" in ok
    assert ok.endswith(b"\r\n\r\nsignalwire_relay_active_calls 2.0\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404 ")
    assert post.startswith(b"HTTP/1.1 405 ")
    assert garbage == b""
    assert renders == 2  # GET and HEAD


async def test_a_client_that_sends_nothing_is_dropped_after_the_read_timeout() -> None:
    async def render() -> bytes:
        raise AssertionError("not reached")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: serve_metrics(
                    "127.0.0.1", 0, render, read_timeout=0.2, task_status=task_status
                )
            )
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                assert await stream.receive_some(100) == b""  # closed by the server
            nursery.cancel_scope.cancel()


async def test_bind_handler_passes_the_connection_to_a_two_argument_handler() -> None:
    seen: list[tuple[Any, ...]] = []

    async def one(call: Any) -> None:
        seen.append((call,))

    async def two(call: Any, relay: Any) -> None:
        seen.append((call, relay))

    relay: Any = object()
    assert bind_handler(one, relay) is one
    await bind_handler(two, relay)("call")
    await one("call")
    assert seen == [("call", relay), ("call",)]
