"""Front desk: answer, offer a one-key menu, say where the call goes, hang up."""

from signalwire_relay_trio import Call, Digits

MENU = "Thanks for calling Example Company. Press 1 for sales or 2 for support."
REPLIES = {
    "1": "Connecting you to sales.",
    "2": "Connecting you to support.",
}
NO_CHOICE = "Sorry, I did not get that. Goodbye."


async def handle(call: Call) -> None:
    await call.answer()
    # prompt_tts plays the menu and collects at most one digit; `await` starts
    # it (once the server has acknowledged it) and returns a CollectAction.
    menu = await call.prompt_tts(MENU, Digits(max=1, digit_timeout=5))
    choice = await menu.wait()  # the CollectEvent that ended the prompt
    reply = REPLIES.get(choice.digits or "", NO_CHOICE)
    goodbye = await call.play_tts(reply)
    await goodbye.wait()
    await call.hangup()
