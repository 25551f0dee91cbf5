"""An IVR menu: a spoken prompt, a digit, and a branch per choice.

No input or an unknown digit repeats the menu, up to three times::

    python -m signalwire_relay_trio run examples.ivr_menu:handler --fake --press 2
    python -m signalwire_relay_trio run examples.ivr_menu:handler --context office
"""

from __future__ import annotations

from signalwire_relay_trio import Call, Digits

MENU = "For sales press 1. For support press 2. To hear our address press 3."
ANSWERS = {
    "1": "Our sales team will call you back within the hour.",
    "2": "Please visit example dot com slash help, or stay on the line.",
    "3": "We are at 1 Example Street, Springfield.",
}
ATTEMPTS = 3


async def handler(call: Call) -> str | None:
    """Run the menu; return the digit the caller chose (None if they never did)."""
    await call.answer()
    for _ in range(ATTEMPTS):
        # Play the menu and collect one digit; a key press cuts the prompt short.
        # digit_timeout: how long to wait for the digit once the prompt has played.
        prompt = await call.prompt_tts(MENU, Digits(max=1, digit_timeout=5), volume=0)
        result = await prompt.wait()  # a CollectEvent: digits, speech, no_input, no_match...
        choice = result.digits if result is not None else None
        if choice in ANSWERS:
            await (await call.play_tts(ANSWERS[choice])).wait()
            await call.hangup()
            return choice
        await (await call.play_tts("Sorry, I did not get that.")).wait()
    await (await call.play_tts("Goodbye.")).wait()
    await call.hangup()
    return None
