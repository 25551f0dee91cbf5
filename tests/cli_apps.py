"""Handlers the command-line tests serve (imported by the ``run`` subprocess)."""

from __future__ import annotations

import trio

from signalwire_relay_trio import Call, Message, RelayConnection


async def answer_and_wait(call: Call) -> None:
    """Answer and stay on the line until the caller hangs up (so a drain must wait)."""
    await call.answer()
    await call.wait_for_ended()


async def failing(call: Call) -> None:
    await call.answer()
    raise ValueError("the handler broke on purpose")


async def uses_an_ended_call(call: Call) -> None:
    """A bug: playing after hanging up raises CallEndedError."""
    await call.answer()
    await call.hangup()
    await call.play_tts("too late")


async def never_returns(call: Call) -> None:
    """Ignores the caller hanging up (it awaits nothing on the call)."""
    await call.answer()
    await trio.sleep_forever()


async def press_echo(call: Call) -> str | None:
    from signalwire_relay_trio import Digits

    await call.answer()
    prompt = await call.prompt_tts("Press something.", Digits(max=3, digit_timeout=3))
    result = await prompt.wait()
    digits = result.digits if result is not None else None
    if digits != "123":
        raise AssertionError(f"expected 123, got {digits!r}")
    return digits


async def echo_text(message: Message, relay: RelayConnection) -> None:
    reply = await relay.send_message(
        to_number=message.from_number, from_number=message.to_number, body=message.body.upper()
    )
    await reply.wait(timeout=30)
    if message.body != "ping":
        raise AssertionError(f"expected 'ping', got {message.body!r}")
