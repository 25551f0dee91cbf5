"""pytest plugin (``pytest11`` entry point): the fake RELAY server as fixtures.

* ``fake_relay`` (async): a running :class:`FakeRelay`;
* ``relay`` (async): a ``RelayConnection`` to it, subscribed to its contexts
  (over an in-memory stream under ``autojump_clock``, else a loopback socket);
* ``fake_relay_server`` (sync): :func:`start_fake_relay` with TLS, for tests
  that are not trio (the official SDK, pytest-asyncio, unittest).

The async fixtures need pytest-trio's ``trio_mode = true`` (or
``@pytest.mark.trio`` on each test). Configure any of them without
overriding it, with the ``fake_relay`` marker::

    @pytest.mark.fake_relay(contexts=["sales"], project="p", token="t",
                            timings={"audio_seconds": 1.0}, client={"request_timeout": 2})
    async def test_sales(fake_relay, relay): ...

Every keyword of :func:`open_fake_relay` is accepted; ``timings`` sets
fields of ``fake_relay.timings`` (:class:`FakeTimings`), ``client`` holds
extra keywords for ``open_relay`` (the ``relay`` fixture), and ``tls``
(default true) is for ``fake_relay_server`` only. An unknown keyword is an
error. The package is imported inside the fixtures, so merely having the
plugin installed costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from signalwire_relay_trio import RelayConnection
    from signalwire_relay_trio.testing import FakeRelay
    from signalwire_relay_trio.testing._remote import FakeRelayServer

__all__ = ["fake_relay", "fake_relay_server", "relay"]

MARKER = "fake_relay"
_MARKER_HELP = (
    f"{MARKER}(**options): configure the fake_relay, relay and fake_relay_server fixtures "
    "(open_fake_relay's keywords; timings={field: seconds}; client={open_relay keywords})"
)
#: The bounds both fixtures take (see open_fake_relay).
BOUND_KEYS = frozenset(
    ("journal_limit", "ended_call_limit", "write_queue_limit", "partial_frames_limit")
)
_FAKE_KEYS = (
    frozenset(
        (
            "project",
            "token",
            "jwt_token",
            "contexts",
            "host",
            "port",
            "ssl_context",
            "ping_interval",
        )
    )
    | BOUND_KEYS
)
_SERVER_KEYS = (
    frozenset(("project", "token", "jwt_token", "contexts", "tls", "timings", "ping_interval"))
    | BOUND_KEYS
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)


def marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keywords of every ``fake_relay`` marker on the test (the closest wins)."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keywords only, got {marker.args!r}")
        options.update(marker.kwargs)
    return options


def _pick(options: dict[str, Any], allowed: frozenset[str], extra: set[str]) -> dict[str, Any]:
    unknown = set(options) - allowed - extra
    if unknown:
        raise TypeError(
            f"unknown @pytest.mark.{MARKER} option(s) {sorted(unknown)}; "
            f"expected some of {sorted(allowed | extra)}"
        )
    return {key: value for key, value in options.items() if key in allowed}


@pytest.fixture
async def fake_relay(request: pytest.FixtureRequest) -> AsyncIterator[FakeRelay]:
    """A running fake RELAY server (configured by the ``fake_relay`` marker)."""
    import attrs

    from signalwire_relay_trio.testing import open_fake_relay

    options = marker_options(request)
    kwargs = _pick(options, _FAKE_KEYS, {"timings", "client", "tls"})
    async with open_fake_relay(**kwargs) as fake:
        timings = options.get("timings")
        if timings:
            fake.timings = attrs.evolve(fake.timings, **dict(timings))
        yield fake


@pytest.fixture
async def relay(
    request: pytest.FixtureRequest, fake_relay: FakeRelay
) -> AsyncIterator[RelayConnection]:
    """A ``RelayConnection`` to ``fake_relay`` (memory mode under the autojump clock)."""
    from signalwire_relay_trio import open_relay

    client = dict(marker_options(request).get("client") or {})
    async with open_relay(**fake_relay.connect_kwargs(**client)) as connection:
        yield connection


@pytest.fixture
def fake_relay_server(request: pytest.FixtureRequest) -> Iterator[FakeRelayServer]:
    """A fake RELAY server on a background thread, driven through its control API.

    Serves ``wss://`` with a throw-away certificate (``tls=False`` in the
    marker for ``ws://``); ``server.env`` holds what the official SDK reads.
    Stopped when the test ends, whatever its outcome.
    """
    from signalwire_relay_trio.testing import start_fake_relay

    options = marker_options(request)
    kwargs = _pick(options, _SERVER_KEYS, {"client", "host", "port", "ssl_context"})
    kwargs.setdefault("tls", True)
    with start_fake_relay(**kwargs) as server:
        yield server
