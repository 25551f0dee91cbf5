"""Outbound call with answering-machine detection.

Dials a number; a person hears a short message; for a machine, the message is
left after its greeting ends (the detector reports READY). From the command
line (to, from; credentials from the environment)::

    python examples/outbound_amd.py +15551234567 +15557654321

As a handler, it is a callback line: the caller hears that they will be
called back, and is then called back with the message. A handler that takes
a second argument gets the connection, here to dial::

    python -m signalwire_relay_trio run examples.outbound_amd:handler --fake
"""

from __future__ import annotations

import logging
import sys

import trio

from signalwire_relay_trio import (
    EVENT_CALL_DETECT,
    Call,
    DetectEvent,
    Phone,
    RelayConnection,
    open_relay,
)

MESSAGE = "Hello, this is Example Co. reminding you of your appointment tomorrow at nine."
CALLBACK = "Thanks for calling. We will call you right back."

logger = logging.getLogger("outbound_amd")


async def call_with_amd(relay: RelayConnection, to_number: str, from_number: str) -> str:
    """Dial, classify, deliver the message; return "human" or "machine"."""
    call = await relay.dial(Phone(to_number=to_number, from_number=from_number), dial_timeout=60)
    try:
        # Subscribe before starting the detector so no detect event is missed.
        async with call.events(EVENT_CALL_DETECT) as detect_events:
            detector = await call.detect_answering_machine(timeout=30)
            first = await detector.wait()  # HUMAN, MACHINE, FAX or UNKNOWN
            kind = first.detect_event if isinstance(first, DetectEvent) else None
            if kind == "MACHINE":
                async for event in detect_events:  # wait for the greeting to end
                    if isinstance(event, DetectEvent) and event.detect_event in (
                        "READY",
                        "finished",
                    ):
                        break
        await (await call.play_tts(MESSAGE)).wait()
        return "machine" if kind == "MACHINE" else "human"
    finally:
        # Shielded: hang up even when we are being cancelled.
        with trio.CancelScope(shield=True):
            await call.hangup()


async def handler(call: Call, relay: RelayConnection) -> str:
    """Answer, promise a call back, hang up, and call the caller back."""
    numbers = call.device.get("params", {})
    caller, our_number = numbers["from_number"], numbers["to_number"]
    await call.answer()
    await (await call.play_tts(CALLBACK)).wait()
    await call.hangup()
    answered_by = await call_with_amd(relay, caller, our_number)
    logger.info("called %s back: a %s answered", caller, answered_by)
    return answered_by


async def main(to_number: str, from_number: str) -> None:
    async with open_relay() as relay:
        answered_by = await call_with_amd(relay, to_number, from_number)
        logger.info("delivered the message to a %s", answered_by)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    trio.run(main, *sys.argv[1:3])
