"""A fake SignalWire RELAY server for tests.

``async with open_fake_relay() as fake:`` runs a real WebSocket RELAY server
on loopback (and over in-memory streams for clock-driven tests);
``fake.connect_kwargs()`` is what ``open_relay(**...)`` needs to reach it.
The server speaks the real protocol, scripts calls and dials, journals every
frame a client sent, and injects faults on demand. Time runs on trio's clock.

Actions (play, record, collect, detect, fax, pay...) play out on that clock
at the pace of ``fake.timings`` (:class:`FakeTimings`); each shows up in
``fake_call.operations[control_id]`` as a :class:`FakeOperation`. The caller
side acts through ``await fake_call.press("12#")``, ``await
fake_call.say("yes")`` and ``await fake_call.hangup()``; ``fake_call.script``
scripts detector results, recording URLs, fax and payment outcomes.
"""

from __future__ import annotations

from ._journal import Journal, JournalEntry
from ._open import open_fake_relay
from ._operation import FakeOperation, FakeTimings
from ._server import FakeRelay
from ._serving import serving
from ._world import FakeCall

__all__ = [
    "FakeCall",
    "FakeOperation",
    "FakeRelay",
    "FakeTimings",
    "Journal",
    "JournalEntry",
    "open_fake_relay",
    "serving",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
