"""Command line: ``python -m signalwire_relay_trio demo`` and ``... run module:handler``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ._call import Call


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m signalwire_relay_trio",
        description="A trio-native client for SignalWire RELAY.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run an example IVR against the embedded fake server (no account needed)"
    )
    demo.add_argument(
        "--real-time", action="store_true", help="run on the wall clock instead of simulated time"
    )
    run = commands.add_parser(
        "run", help="serve inbound calls with a handler, credentials from the environment"
    )
    run.add_argument("handler", help="the handler as module:function, e.g. myapp:handle_call")
    run.add_argument(
        "--context", action="append", default=[], help="a context to receive calls on (repeat)"
    )
    run.add_argument("--host", default=None, help="the Space host (default: $SIGNALWIRE_SPACE)")
    run.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    return parser.parse_args(argv)


def _load_handler(spec: str) -> object:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"handler must look like module:function, got {spec!r}")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"{module_name} has no attribute {attr!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(real_time=args.real_time)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = _load_handler(args.handler)
    if not callable(handler):
        raise SystemExit(f"{args.handler} is not callable")
    if not args.context:
        raise SystemExit("give at least one --context to receive calls on")
    from ._client import RelayClient

    client = RelayClient(host=args.host, contexts=args.context)
    client.on_call(cast("Callable[[Call], Awaitable[Any]]", handler))
    client.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
