"""A fake SignalWire RELAY server for tests.

In trio tests: ``async with open_fake_relay() as fake:`` runs a real
WebSocket RELAY server on loopback (and over in-memory streams for
clock-driven tests); ``fake.connect_kwargs()`` is what ``open_relay(**...)``
needs to reach it, and ``async with serving(relay, handler):`` serves calls
for the length of a block, re-raising a handler's exception so the test
fails. The pytest plugin offers the ``fake_relay`` and ``relay`` fixtures,
configured by ``@pytest.mark.fake_relay(...)``. The server speaks the real
protocol, scripts calls, dials and messages, journals every frame both ways
(``fake.journal.query(direction=, method=, event_type=, call_id=)``), and
injects faults on demand. Time runs on trio's clock. What a client does
wrong (bad JSON, protocol violations, not reading) is in
``fake.client_errors`` (:class:`ClientError`), never in
``fake.internal_errors``; the fake's memory is bounded (``journal_limit``,
``ended_call_limit``, ``write_queue_limit``, ``partial_frames_limit``).

Actions (play, record, collect, detect, fax, pay...) play out on that clock
at the pace of ``fake.timings`` (:class:`FakeTimings`); each shows up in
``fake_call.operations[control_id]`` as a :class:`FakeOperation`. The caller
side acts through ``await fake_call.press("12#")``, ``await
fake_call.say("yes")`` and ``await fake_call.hangup()``; ``fake_call.script``
scripts detector results, recording URLs, fax and payment outcomes.

For any other client (the official SDK, another language): ``python -m
signalwire_relay_trio.testing --port 8765 --tls`` runs it standalone and
prints one JSON line (``url``, ``host``, ``ca_file``, ``project``, ``token``,
``control_url``); ``start_fake_relay()`` does the same on a background
thread (the ``fake_relay_server`` fixture). Either way the same port serves
the control API, plain HTTP/1.1 + JSON (over the same TLS):

==========================================  ===========================================
``POST /control/calls``                     ``{"context", "from_number"?, "to_number"?,
                                            "timeout"?}``: an inbound call,
                                            ``201 {"call_id"}`` (``409``: no subscriber)
``GET /control/calls/{id}``                 ``{"call_id", "state", "context", ...}``
``POST /control/calls/{id}/wait``           ``{"state", "timeout"}``: ``200``, ``408``
                                            on timeout, ``409`` if it ended first
``POST /control/calls/{id}/press``          ``{"digits"}`` (the caller's side; also
``.../say`` ``.../hangup``                  ``{"text"}``, ``{"reason"?}``)
``POST /control/dial-outcomes``             ``{"to_number", "outcome", "ring_time"?}``:
                                            ``answer`` ``busy`` ``no_answer`` ``failed``
``POST /control/messages``                  ``{"context", "from_number", "to_number",
                                            "body", "media"?}``: ``201 {"message_id"}``
``POST /control/message-outcomes``          ``{"to_number", "outcome"}``: ``delivered``
                                            ``undelivered`` ``failed``
``GET /control/journal?method=&call_id=``   entries both ways (also ``event_type=``,
                                            ``direction=``)
``GET /control/sessions``                   ``[{"protocol", "contexts", "connected"}]``
``POST /control/faults``                    ``{"kind"}``: ``drop`` ``disconnect``
                                            ``malformed`` ``stop_pings``
``POST /control/reset``                     ends calls, clears scripts and journal,
                                            forgets sessions without a socket
==========================================  ===========================================

A bad body is ``400 {"error", "field"}``, an unknown call or path ``404``, a
wrong method ``405``, a body over 64 KiB ``413``.
"""

from __future__ import annotations

from ._client_errors import ClientError
from ._journal import Journal, JournalEntry
from ._open import open_fake_relay
from ._operation import FakeOperation, FakeTimings
from ._remote import ControlAPIError, FakeRelayServer, RelayControl, start_fake_relay
from ._server import FakeRelay
from ._serving import serving
from ._world import FakeCall

__all__ = [
    "ClientError",
    "ControlAPIError",
    "FakeCall",
    "FakeOperation",
    "FakeRelay",
    "FakeRelayServer",
    "FakeTimings",
    "Journal",
    "JournalEntry",
    "RelayControl",
    "open_fake_relay",
    "serving",
    "start_fake_relay",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
