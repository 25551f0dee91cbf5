"""Bench client: ours, trio-native (``open_relay`` + ``relay.serve(handler)``).

Prints ``{"event": "ready", ...}`` once connected and subscribed, then
follows the runner's commands (see ``_triolib``).
"""

from __future__ import annotations

import ssl

import trio
from _benchlib import client_arguments, emit, plan_for, snapshot
from _triolib import command_loop

from signalwire_relay_trio import open_relay


async def handler(call) -> None:  # type: ignore[no-untyped-def]
    plays = plan_for(call.device["params"].get("from_number"))
    await call.answer()
    if plays < 0:
        await call.wait_for_ended()
        return
    for _ in range(plays):
        action = await call.play_tts("Hello")
        await action.wait()
    await call.hangup()


async def main() -> None:
    args = client_arguments(__doc__.split("\n")[0]).parse_args()
    ssl_context = ssl.create_default_context(cafile=args.ca)
    async with (
        open_relay(
            args.project,
            args.token,
            url=args.url,
            ssl_context=ssl_context,
            contexts=[args.context],
            max_active_calls=args.max_active_calls,
        ) as relay,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(relay.serve, handler)
        emit(snapshot(event="ready"))

        async def round_trip() -> None:
            await relay.execute("signalwire.receive", {"contexts": [args.context]})

        await command_loop(round_trip)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
