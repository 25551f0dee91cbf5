"""Standalone fake RELAY server: ``python -m signalwire_relay_trio.testing``.

Any RELAY client (this library, the official SDKs, another language) can
connect to it, and a test drives its world through the control API on the
same port (see the package docstring, or the README's testing section)::

    python -m signalwire_relay_trio.testing --port 8765 --tls --context office

``--tls`` serves ``wss://`` (and the control API over ``https://``) with a
throw-away certificate for 127.0.0.1 and localhost, made by trustme; its CA
goes to ``--ca-file PATH`` (default: a temporary file, deleted at exit).
``--tls-cert``/``--tls-key`` serve your own certificate instead. The first
line on stdout is one JSON object: ``url``, ``host`` (``127.0.0.1:PORT``,
what the official SDK's ``SIGNALWIRE_SPACE`` takes), ``ca_file``,
``project``, ``token`` (the fake's own test credentials), ``control_url``
and ``contexts``. Everything else goes to stderr. It serves until Ctrl+C or
SIGTERM. ``--port 0`` picks a free port (read it from the JSON line).

``--journal-limit N``, ``--ended-call-limit N``, ``--write-queue-limit
BYTES`` and ``--partial-frames-limit BYTES`` set the fake's bounds (see
``open_fake_relay``); a client that breaks the protocol or stops reading is
logged as a client error, one line, on stderr.

``--timing NAME=SECONDS`` sets a field of ``FakeTimings`` (repeatable), e.g.
``--timing tts_min=0.05``. ``--inbound-calls N`` offers N inbound calls to
the first subscribed client, one every ``--call-interval`` seconds (for
benchmarks).
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Sequence

import attrs
import trio

from ._certs import ThrowawayTLS
from ._journal import JOURNAL_LIMIT
from ._open import open_fake_relay
from ._operation import FakeTimings
from ._server import ENDED_CALL_LIMIT, FakeRelay
from ._wire_base import PARTIAL_FRAMES_LIMIT, WRITE_QUEUE_LIMIT

TIMING_FIELDS = tuple(field.name for field in attrs.fields(FakeTimings))


def _timing(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name not in TIMING_FIELDS:
        raise argparse.ArgumentTypeError(f"unknown timing {name!r}; one of {TIMING_FIELDS}")
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=SECONDS") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be >= 0")
    return name, seconds


#: The fake's bounds: flag, default, help (open_fake_relay's ``*_limit`` keywords).
BOUNDS = (
    ("--journal-limit", JOURNAL_LIMIT, "journal entries kept, both ways (oldest dropped first)"),
    ("--ended-call-limit", ENDED_CALL_LIMIT, "ended calls kept (oldest dropped first)"),
    ("--write-queue-limit", WRITE_QUEUE_LIMIT, "bytes queued for one client before it is cut"),
    ("--partial-frames-limit", PARTIAL_FRAMES_LIMIT, "bytes of unfinished messages, all clients"),
)


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be >= 0")
    return value


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m signalwire_relay_trio.testing", description="Run a fake RELAY server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--project", default="test-project")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--jwt-token", default=None)
    parser.add_argument(
        "--context", action="append", dest="contexts", help="context to suggest (repeatable)"
    )
    parser.add_argument("--tls", action="store_true", help="serve wss:// with a throw-away CA")
    parser.add_argument("--ca-file", help="where --tls writes its CA (default: a temporary file)")
    parser.add_argument("--tls-cert", help="PEM certificate: serve wss://")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--ping-interval", type=float, default=None)
    parser.add_argument(
        "--timing", type=_timing, action="append", default=[], metavar="NAME=SECONDS"
    )
    for flag, default, what in BOUNDS:
        parser.add_argument(flag, type=_count, default=default, metavar="N", help=what)
    parser.add_argument("--inbound-calls", type=int, default=0, metavar="N")
    parser.add_argument("--call-interval", type=float, default=0.0, metavar="S")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls and args.tls_cert:
        parser.error("--tls makes its own certificate: drop --tls-cert/--tls-key")
    if args.ca_file and not args.tls:
        parser.error("--ca-file goes with --tls")
    return args


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _offer_calls(fake: FakeRelay, context: str, count: int, interval: float) -> None:
    # Polling is fine here: a person started this and waits for a client.
    while not any(session.subscribed(context) for session in fake.sessions):  # noqa: ASYNC110
        await trio.sleep(0.05)
    target = next(session for session in fake.sessions if session.subscribed(context))
    _log(f"offering {count} inbound calls on {context!r}")
    for _ in range(count):
        await fake.inbound_call(context, session=target)
        if interval:
            await trio.sleep(interval)
    _log(f"offered {count} inbound calls")


async def _stop_on(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for _ in signals:
        _log("SIGTERM: stopping")
        scope.cancel()
        return


async def _main(args: argparse.Namespace, tls: ThrowawayTLS | None) -> None:
    # SIGTERM is caught from before the start line is printed, so a test may
    # stop the fake as soon as it read the line.
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        await _serve(args, tls, signals)


async def _serve(
    args: argparse.Namespace, tls: ThrowawayTLS | None, signals: AsyncIterator[int]
) -> None:
    ssl_context = tls.server_context if tls is not None else None
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
        journal_limit=args.journal_limit,
        ended_call_limit=args.ended_call_limit,
        write_queue_limit=args.write_queue_limit,
        partial_frames_limit=args.partial_frames_limit,
    ) as fake:
        if args.timing:
            fake.timings = attrs.evolve(fake.timings, **dict(args.timing))
        host = fake.url.split("://", 1)[1]
        scheme = "https" if ssl_context is not None else "http"
        start = {
            "url": fake.url,
            "host": host,
            "ca_file": tls.ca_file if tls is not None else None,
            "project": fake.project,
            "token": fake.token,
            "control_url": f"{scheme}://{host}/control",
            "contexts": list(contexts),
        }
        print(json.dumps(start), flush=True)
        _log(f"fake RELAY server on {fake.url} (control API: {start['control_url']}); Ctrl+C stops")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on, signals, nursery.cancel_scope)
            if args.inbound_calls:
                nursery.start_soon(
                    _offer_calls, fake, contexts[0], args.inbound_calls, args.call_interval
                )
            await trio.sleep_forever()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    # Until the server catches it (once it listens), SIGTERM still cleans up.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        tls = ThrowawayTLS(ca_file=args.ca_file) if args.tls else None
    except RuntimeError as exc:  # trustme is missing
        _log(f"error: {exc}")
        return 2
    try:
        trio.run(_main, args, tls)
    except KeyboardInterrupt:
        _log("stopped")
    finally:
        if tls is not None:
            tls.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
