"""Prometheus metrics for a RELAY connection (``pip install "signalwire-relay-trio[metrics]"``).

``RelayCollector(relay)`` is a ``prometheus_client`` collector: register it and
every scrape reads ``relay.statistics()`` — a handful of counters the
connection keeps anyway — so metrics cost nothing on the reader's path::

    from prometheus_client import REGISTRY
    from signalwire_relay_trio.metrics import RelayCollector

    async with open_relay(contexts=["office"]) as relay:
        REGISTRY.register(RelayCollector(relay))
        ...

Every name starts with ``signalwire_relay_``:

========================================  =======  ===============================================
``connection_state{state}``               gauge    1 for the current state, 0 for the others
``active_calls``                          gauge    calls the connection follows now
``calls_total``                           counter  calls followed since it opened (inbound, dialled)
``requests_in_flight``                    gauge    requests sent and awaiting their reply
``dials_in_progress``                     gauge    ``dial()`` calls not yet answered or failed
``actions_running``                       gauge    play, record, collect... still running
``events_received_total``                 counter  ``signalwire.event`` frames handled
``handler_errors_total``                  counter  ``serve()`` handlers that raised
``reconnects_total``                      counter  sockets replaced after a loss
``calls_by_direction_total{direction}``   counter  calls followed, by ``inbound``/``outbound``
``calls_ended_total{outcome}``            counter  calls over, by end reason (``hangup``,
                                                   ``busy``...) or ``released`` (passed on)
``request_errors_total{code}``            counter  requests that failed, by the server's code or
                                                   the local error (``RequestTimeoutError``...)
========================================  =======  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised by a test with the module hidden
    raise ImportError(
        "signalwire_relay_trio.metrics needs prometheus-client, which comes with the "
        "'metrics' extra: pip install \"signalwire-relay-trio[metrics]\""
    ) from exc

from ._state import ConnectionState, RelayStatistics

__all__ = ["PREFIX", "RelayCollector", "statistics_metrics"]

PREFIX = "signalwire_relay_"


class HasStatistics(Protocol):
    """Anything with ``statistics()``: a ``RelayConnection``, or a stand-in in tests."""

    def statistics(self) -> RelayStatistics: ...


def _gauges() -> dict[str, tuple[str, str]]:
    # metric name (after the prefix) -> (RelayStatistics field, help text)
    return {
        "active_calls": ("active_calls", "Calls the connection follows now."),
        "requests_in_flight": ("pending_requests", "Requests sent and awaiting their reply."),
        "dials_in_progress": ("dials", "Outbound dials not yet answered or failed."),
        "actions_running": ("actions", "Call actions (play, record, collect...) still running."),
    }


def _counters() -> dict[str, tuple[str, str]]:
    # counter name without the _total suffix prometheus_client appends
    return {
        "calls": ("calls_total", "Calls followed since the connection opened (inbound, dialled)."),
        "events_received": ("events_received", "RELAY events handled by the reader."),
        "handler_errors": ("handler_errors", "serve() handlers that raised an error."),
        "reconnects": (
            "reconnects",
            "Sockets replaced after a loss (session resumed or restarted).",
        ),
    }


def _breakdowns() -> dict[str, tuple[str, str, str]]:
    # counter name -> (RelayStatistics mapping field, label, help text)
    return {
        "calls_by_direction": (
            "calls_by_direction",
            "direction",
            "Calls followed since the connection opened, by direction.",
        ),
        "calls_ended": (
            "calls_ended",
            "outcome",
            "Calls over, by end reason; 'released' for calls passed on or left.",
        ),
        "request_errors": (
            "request_errors",
            "code",
            "Requests that failed, by the server's code or the local error's name.",
        ),
    }


def statistics_metrics(
    samples: Iterable[tuple[Sequence[str], RelayStatistics]],
    labels: Sequence[str] = (),
) -> list[Metric]:
    """The metric families for some connections' statistics.

    Each sample is (label values, statistics); ``labels`` names the labels
    (for example ``("worker",)`` with one sample per worker process).
    """
    samples = list(samples)
    state = GaugeMetricFamily(
        PREFIX + "connection_state",
        "1 for the connection's current state, 0 for the others.",
        labels=[*labels, "state"],
    )
    gauges = {
        name: GaugeMetricFamily(PREFIX + name, text, labels=labels)
        for name, (_, text) in _gauges().items()
    }
    counters = {
        name: CounterMetricFamily(PREFIX + name, text, labels=labels)
        for name, (_, text) in _counters().items()
    }
    breakdowns = {
        name: CounterMetricFamily(PREFIX + name, text, labels=[*labels, label])
        for name, (_, label, text) in _breakdowns().items()
    }
    for values, stats in samples:
        for name, (field, _, _) in _breakdowns().items():
            for key, count in sorted(getattr(stats, field).items()):
                breakdowns[name].add_metric([*values, key], float(count))
        for each in ConnectionState:
            state.add_metric([*values, each.value], 1.0 if stats.state is each else 0.0)
        for name, (field, _) in _gauges().items():
            gauges[name].add_metric(list(values), float(getattr(stats, field)))
        for name, (field, _) in _counters().items():
            counters[name].add_metric(list(values), float(getattr(stats, field)))
    return [state, *gauges.values(), *counters.values(), *breakdowns.values()]


class RelayCollector(Collector):
    """A ``prometheus_client`` collector reading ``relay.statistics()`` at scrape time.

    ``labels`` adds constant labels to every series (say, ``{"app": "ivr"}``
    when one process holds several connections).
    """

    def __init__(self, relay: HasStatistics, *, labels: Mapping[str, str] | None = None) -> None:
        self._relay = relay
        self._labels = dict(labels or {})

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so registering does not read the connection."""
        yield from statistics_metrics((), tuple(self._labels))

    def collect(self) -> Iterator[Metric]:
        sample = (tuple(self._labels.values()), self._relay.statistics())
        yield from statistics_metrics([sample], tuple(self._labels))
