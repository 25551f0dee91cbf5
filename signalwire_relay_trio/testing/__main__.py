"""Standalone fake RELAY server: ``python -m signalwire_relay_trio.testing``.

Any RELAY client (this library, the official SDKs) can connect to it. It
prints the URL and connect settings (never the token) and serves until Ctrl+C.
``--inbound-calls N`` offers N inbound calls to the first subscribed client,
one every ``--call-interval`` seconds (for benchmarks).
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Sequence

import trio

from ._open import open_fake_relay
from ._server import FakeRelay


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m signalwire_relay_trio.testing", description="Run a fake RELAY server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--project", default="test-project")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--jwt-token", default=None)
    parser.add_argument(
        "--context", action="append", dest="contexts", help="context to suggest (repeatable)"
    )
    parser.add_argument("--tls-cert", help="PEM certificate: serve wss://")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--ping-interval", type=float, default=None)
    parser.add_argument("--inbound-calls", type=int, default=0, metavar="N")
    parser.add_argument("--call-interval", type=float, default=0.0, metavar="S")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


async def _offer_calls(fake: FakeRelay, context: str, count: int, interval: float) -> None:
    # Polling is fine here: a person started this and waits for a client.
    while not any(context in session.contexts for session in fake.sessions):  # noqa: ASYNC110
        await trio.sleep(0.05)
    target = next(session for session in fake.sessions if context in session.contexts)
    print(f"offering {count} inbound calls on {context!r}", flush=True)
    for _ in range(count):
        await fake.inbound_call(context, session=target)
        if interval:
            await trio.sleep(interval)
    print(f"offered {count} inbound calls", flush=True)


async def _main(args: argparse.Namespace) -> None:
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    contexts = tuple(args.contexts or ("office",))
    async with open_fake_relay(
        project=args.project,
        token=args.token,
        jwt_token=args.jwt_token,
        contexts=contexts,
        host=args.host,
        port=args.port,
        ssl_context=ssl_context,
        ping_interval=args.ping_interval,
    ) as fake:
        print(f"fake RELAY server listening on {fake.url}", flush=True)
        print(f"  project={fake.project} contexts={','.join(contexts)} (token not shown)")
        print("  Ctrl+C to stop", flush=True)
        if args.inbound_calls:
            await _offer_calls(fake, contexts[0], args.inbound_calls, args.call_interval)
        await trio.sleep_forever()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        trio.run(_main, args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
