"""Forward a call: ring the office, then a mobile if the office does not answer.

The caller hears a ringback tone while the other end rings. Once the two are
connected, the handler waits until one side hangs up::

    python -m signalwire_relay_trio run examples.forward_call:handler --fake
    python -m signalwire_relay_trio run examples.forward_call:handler --context office
"""

from __future__ import annotations

from signalwire_relay_trio import (
    EVENT_CALL_CONNECT,
    Call,
    ConnectEvent,
    ConnectState,
    Phone,
    Ringtone,
)

OFFICE = "+15551110001"
FALLBACK = "+15551110002"  # the on-call mobile
RING_SECONDS = 20
SORRY = "Sorry, nobody can take your call right now. Please try again later."


async def handler(call: Call) -> str | None:
    """Connect the caller; return the number that answered (None if nobody did)."""
    our_number = call.device.get("params", {}).get("to_number", OFFICE)
    # The device list is a list of serial groups: the office rings first, and
    # only if nobody answers there within RING_SECONDS does the mobile ring.
    # (Devices within one group ring in parallel.)
    devices = [
        [Phone(to_number=OFFICE, from_number=our_number, timeout=RING_SECONDS)],
        [Phone(to_number=FALLBACK, from_number=our_number, timeout=RING_SECONDS)],
    ]
    await call.answer()
    # Subscribe before connecting, so no connect event can slip past.
    async with call.events(EVENT_CALL_CONNECT) as events:
        await call.connect(devices, ringback=Ringtone(name="us"))
        answered_by: str | None = None
        async for event in events:  # ends when the caller hangs up
            if not isinstance(event, ConnectEvent):
                continue
            if event.connect_state is ConnectState.CONNECTED:
                peer = event.peer or {}  # the leg that answered
                answered_by = peer.get("device", {}).get("params", {}).get("to_number")
            elif event.connect_state is ConnectState.FAILED:
                await (await call.play_tts(SORRY)).wait()
                return None
            elif event.connect_state is ConnectState.DISCONNECTED:
                break  # the other side hung up; serve() hangs up the caller after us
    return answered_by
