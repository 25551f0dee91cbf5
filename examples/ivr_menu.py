"""An IVR menu: a spoken prompt, a digit, and a branch per choice.

Run against a real space (credentials from the environment)::

    python examples/ivr_menu.py

No input or an unknown digit repeats the menu, up to three times.
"""

from __future__ import annotations

import logging

import trio

from signalwire_relay_trio import Call, Digits, open_relay

MENU = "For sales press 1. For support press 2. To hear our address press 3."
ANSWERS = {
    "1": "Our sales team will call you back within the hour.",
    "2": "Please visit example dot com slash help, or stay on the line.",
    "3": "We are at 1 Example Street, Springfield.",
}
ATTEMPTS = 3


async def ivr(call: Call) -> str | None:
    """Run the menu; return the digit the caller chose (None if they never did)."""
    await call.answer()
    for _ in range(ATTEMPTS):
        prompt = await call.prompt_tts(MENU, Digits(max=1, digit_timeout=5), volume=0)
        result = await prompt.wait()
        choice = result.digits if result is not None else None
        if choice in ANSWERS:
            await (await call.play_tts(ANSWERS[choice])).wait()
            await call.hangup()
            return choice
        await (await call.play_tts("Sorry, I did not get that.")).wait()
    await (await call.play_tts("Goodbye.")).wait()
    await call.hangup()
    return None


async def main() -> None:
    async with open_relay(contexts=["office"]) as relay:
        await relay.serve(ivr)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    trio.run(main)
