"""Voicemail: answer, greet, and record a message with ``async with``.

Leaving the ``async with call.record(...)`` block stops the recording if it is
still running, whichever way the block is left::

    python -m signalwire_relay_trio run examples.voicemail:handler --fake
    python -m signalwire_relay_trio run examples.voicemail:handler --context voicemail
"""

from __future__ import annotations

import logging

import trio

from signalwire_relay_trio import Call, RecordAudio

GREETING = "You have reached Example Co. Please leave a message after the beep."
MAX_MESSAGE_SECONDS = 120

logger = logging.getLogger("voicemail")


async def handler(call: Call) -> str | None:
    """Record one message and return the recording's URL (None if nothing was kept)."""
    await call.answer()
    greeting = await call.play_tts(GREETING)
    await greeting.wait()
    # end_silence_timeout: the recording ends after 3 s of silence.
    async with call.record(RecordAudio(beep=True, format="mp3", end_silence_timeout=3)) as rec:
        with trio.move_on_after(MAX_MESSAGE_SECONDS):
            await rec.wait()  # the caller stops talking, presses nothing, or hangs up
    # Here the recording is over: ended by silence, or stopped by leaving the block.
    if rec.result is None:
        return None
    logger.info("message from call %s: %s (%.1f s)", call.call_id, rec.url, rec.result.duration)
    return rec.url
