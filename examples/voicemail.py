"""Voicemail: answer, greet, and record a message with ``async with``.

Run against a real space (credentials from SIGNALWIRE_PROJECT_ID,
SIGNALWIRE_API_TOKEN and SIGNALWIRE_SPACE)::

    python examples/voicemail.py

Leaving the ``async with call.record(...)`` block stops the recording if it is
still running, whichever way the block is left.
"""

from __future__ import annotations

import logging

import trio

from signalwire_relay_trio import Call, RecordAudio, open_relay

GREETING = "You have reached Example Co. Please leave a message after the beep."
MAX_MESSAGE_SECONDS = 120

logger = logging.getLogger("voicemail")


async def take_message(call: Call) -> str | None:
    """Record one message and return the recording's URL (None if nothing was kept)."""
    await call.answer()
    greeting = await call.play_tts(GREETING)
    await greeting.wait()
    async with call.record(RecordAudio(beep=True, format="mp3", end_silence_timeout=3)) as rec:
        with trio.move_on_after(MAX_MESSAGE_SECONDS):
            await rec.wait()  # the caller stops talking, presses nothing, or hangs up
    if rec.result is None:
        return None
    logger.info("message from call %s: %s (%.1f s)", call.call_id, rec.url, rec.result.duration)
    return rec.url


async def main() -> None:
    async with open_relay(contexts=["voicemail"]) as relay:
        await relay.serve(take_message)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    trio.run(main)
