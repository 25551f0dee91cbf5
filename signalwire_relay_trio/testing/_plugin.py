"""pytest plugin (``pytest11`` entry point): ``fake_relay`` and ``relay`` fixtures.

Both are async fixtures for pytest-trio tests (``trio_mode = true`` or
``@pytest.mark.trio``). The package is imported inside the fixtures, so merely
having the plugin installed costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from signalwire_relay_trio.testing import FakeRelay

__all__ = ["fake_relay", "relay"]


@pytest.fixture
async def fake_relay() -> AsyncIterator[FakeRelay]:
    """A running fake RELAY server with default settings."""
    from signalwire_relay_trio.testing import open_fake_relay

    async with open_fake_relay() as fake:
        yield fake


@pytest.fixture
async def relay(fake_relay: FakeRelay) -> AsyncIterator[Any]:
    """A ``RelayConnection`` to ``fake_relay`` (memory mode under the autojump clock)."""
    # The client is written in parallel; until it exports open_relay mypy cannot see it.
    from signalwire_relay_trio import open_relay  # type: ignore[attr-defined, unused-ignore]

    async with open_relay(**fake_relay.connect_kwargs()) as connection:
        yield connection
