"""A fake SignalWire RELAY server for tests.

``async with open_fake_relay() as fake:`` runs a real WebSocket RELAY server
on loopback (and over in-memory streams for clock-driven tests);
``fake.connect_kwargs()`` is what ``open_relay(**...)`` needs to reach it.
The server speaks the real protocol, scripts calls and dials, journals every
frame a client sent, and injects faults on demand. Time runs on trio's clock.
"""

from __future__ import annotations

from ._journal import Journal, JournalEntry
from ._server import FakeRelay, open_fake_relay
from ._world import FakeCall

__all__ = ["FakeCall", "FakeRelay", "Journal", "JournalEntry", "open_fake_relay"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
