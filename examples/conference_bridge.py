"""A conference bridge: the caller keys in a room number and joins that conference.

Without a number (or with a wrong one) the caller joins the main room::

    python -m signalwire_relay_trio run examples.conference_bridge:handler --fake --press 42#
    python -m signalwire_relay_trio run examples.conference_bridge:handler --context office
"""

from __future__ import annotations

from signalwire_relay_trio import Call, Digits

PROMPT = "Welcome to the Example Co. bridge. Enter your room number, then press pound."
MAIN_ROOM = "main"
ROOMS = {"42": "standup", "7": "board"}


async def handler(call: Call) -> str:
    """Join the caller to a conference until they hang up; return the room's name."""
    await call.answer()
    # terminators="#": the pound key ends the input early.
    prompt = await call.prompt_tts(PROMPT, Digits(max=4, digit_timeout=5, terminators="#"))
    result = await prompt.wait()
    room = ROOMS.get(result.digits or "", MAIN_ROOM) if result is not None else MAIN_ROOM
    await (await call.play_tts(f"Joining the {room} room.")).wait()
    # The conference is made on the first join and lives while anyone is in it.
    await call.join_conference(room, beep="onEnter", start_conference_on_enter=True)
    # The caller stays in the conference until they hang up.
    await call.wait_for_ended()
    return room
