"""Answer, welcome the caller, hang up: the smallest useful handler.

Try it without an account (the embedded fake plays the caller)::

    python -m signalwire_relay_trio run examples.answer_and_welcome:handler --fake

Serve it on your Space (credentials from the environment)::

    python -m signalwire_relay_trio run examples.answer_and_welcome:handler --context office
"""

from __future__ import annotations

from signalwire_relay_trio import Call

WELCOME = "Welcome to Example Co. Thanks for calling, and goodbye!"


async def handler(call: Call) -> None:
    await call.answer()
    # play_tts() returns once the server has started playing; wait() until it is done.
    playback = await call.play_tts(WELCOME)
    await playback.wait()
    await call.hangup()  # optional: serve() hangs up when the handler returns
