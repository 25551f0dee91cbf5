"""Bench client: the official asyncio SDK (``signalwire-sdk`` 3.7.5, ``signalwire.relay``).

It dials ``wss://{host}`` only; the CA that signed the fake's certificate is
given through ``SIGNALWIRE_RELAY_CA_FILE``, which the SDK reads when it
connects. Logging stays as the SDK ships it (no configuration: the
``signalwire`` logger has only a NullHandler). Same commands as the trio
clients: ``stats``, ``rpc N``, ``exit``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from _benchlib import (
    client_arguments,
    emit,
    host_port,
    parse_command,
    plan_for,
    snapshot,
    summarize_ms,
)


async def main() -> None:
    args = client_arguments(__doc__.split("\n")[0]).parse_args()
    os.environ["SIGNALWIRE_RELAY_CA_FILE"] = args.ca
    from signalwire.relay import RelayClient

    host, port = host_port(args.url)
    client = RelayClient(
        project=args.project,
        token=args.token,
        host=f"{host}:{port}",
        contexts=[args.context],
        max_active_calls=args.max_active_calls,
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

    await client.connect()
    try:
        emit(snapshot(event="ready"))
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode()
            if not line:
                break
            name, rest = parse_command(line)
            if name == "exit":
                break
            if name == "stats":
                emit(snapshot())
            elif name == "rpc":
                before = snapshot()
                durations = []
                clock = time.perf_counter
                for _ in range(int(rest[0])):
                    start = clock()
                    await client.execute("signalwire.receive", {"contexts": [args.context]})
                    durations.append(clock() - start)
                after = snapshot()
                emit({"rtt_ms": summarize_ms(durations), "cpu": after["cpu"] - before["cpu"]})
            else:
                emit({"error": f"unknown command {line!r}"})
    finally:
        await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
