"""Bench client: ours, through the compatibility façade (``RelayClient`` + ``@client.on_call``).

The handler is the official SDK's, unchanged apart from the import line.
"""

from __future__ import annotations

import ssl

import trio
from _benchlib import client_arguments, emit, plan_for, snapshot
from _triolib import command_loop

from signalwire_relay_trio import RelayClient


async def main() -> None:
    args = client_arguments(__doc__.split("\n")[0]).parse_args()
    client = RelayClient(
        project=args.project,
        token=args.token,
        contexts=[args.context],
        max_active_calls=args.max_active_calls,
        url=args.url,
        ssl_context=ssl.create_default_context(cafile=args.ca),
    )

    @client.on_call
    async def handle_call(call) -> None:  # type: ignore[no-untyped-def]
        plays = plan_for(call.device["params"].get("from_number"))
        await call.answer()
        if plays < 0:
            await call.wait_for_ended()
            return
        for _ in range(plays):
            action = await call.play_tts("Hello")
            await action.wait()
        await call.hangup()

    async with client:
        emit(snapshot(event="ready"))

        async def round_trip() -> None:
            await client.execute("signalwire.receive", {"contexts": [args.context]})

        await command_loop(round_trip)


if __name__ == "__main__":
    trio.run(main)
