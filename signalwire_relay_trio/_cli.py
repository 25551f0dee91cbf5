"""The command line: ``python -m signalwire_relay_trio demo`` and ``... run MODULE:HANDLER``.

``run`` has three modes: one serving process (the default), a supervisor of
``--workers N`` serving processes, and ``--fake``, a dry run against the
embedded fake server. Usage errors (a bad option, a handler that cannot be
found, a credential missing from the environment) exit 2 with one line
naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import trio

from ._config import ENV_CA_FILE, ENV_JWT, ENV_PROJECT, ENV_SPACE, ENV_TOKEN, resolve_settings
from ._errors import AuthenticationError, RelayConnectionError
from ._runner import EXIT_FATAL, Handler, ServiceOptions, run_service

__all__ = ["main"]

logger = logging.getLogger("signalwire_relay_trio.run")

LOG_LEVELS = ("debug", "info", "warning", "error")
FAKE_DEFAULT_CONTEXT = "office"

RUN_DESCRIPTION = f"""\
Serve inbound calls (or, with --messages, inbound messages) with an async
handler: `async def handler(call)`, or `async def handler(call, relay)` when
it needs the connection (to dial or to send messages). Every call runs in its
own task, with its own task group; a handler's error is logged and that call
hung up.

Credentials come from the environment: {ENV_PROJECT} and
{ENV_TOKEN} (or {ENV_JWT}), and {ENV_SPACE} for
your Space's host; {ENV_CA_FILE} names a CA bundle for a
private server. --fake needs none of them.

SIGTERM or Ctrl+C drains: no new calls are taken, active ones may finish
(up to --drain-timeout), then the process exits 0. A second Ctrl+C stops at
once.
"""

RUN_EPILOG = """\
examples:
  python -m signalwire_relay_trio run examples.ivr_menu:handler --fake --press 2
  python -m signalwire_relay_trio run myapp:handle_call --context office --workers 4
  python -m signalwire_relay_trio run myapp:on_text --messages --context office

exit codes: 0 done (drained, or the handler finished under --fake), 1 failure,
2 usage error, 3 the credentials were refused.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m signalwire_relay_trio``."""
    parser = argparse.ArgumentParser(
        prog="python -m signalwire_relay_trio",
        description="A trio-native client for SignalWire RELAY.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run an example IVR against the embedded fake server (no account needed)",
        description="Run an example IVR against the embedded fake server and print its timeline.",
    )
    demo.add_argument(
        "--real-time", action="store_true", help="run on the wall clock instead of simulated time"
    )
    run = commands.add_parser(
        "run",
        help="serve calls or messages with a handler (against a Space, or --fake)",
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "handler",
        metavar="MODULE:HANDLER",
        help="the async handler to serve with, e.g. myapp:handle_call or examples.ivr_menu:handler",
    )

    where = run.add_argument_group("what to serve")
    where.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME",
        help="a context to receive calls (or messages) on; repeat for several "
        f"(required, except with --fake, which uses {FAKE_DEFAULT_CONTEXT!r})",
    )
    where.add_argument(
        "--messages",
        action="store_true",
        help="the handler serves inbound messages (SMS/MMS) instead of calls",
    )
    where.add_argument(
        "--host",
        default=None,
        help=f"the Space's host, e.g. example.signalwire.com (default: ${ENV_SPACE}, "
        "else relay.signalwire.com)",
    )
    where.add_argument(
        "--url",
        default=None,
        help="a full ws:// or wss:// URL to connect to instead of the host "
        "(a proxy, or the standalone fake: python -m signalwire_relay_trio.testing)",
    )

    production = run.add_argument_group("running in production")
    production.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="run N worker processes, each with its own connection on the same contexts; "
        "a worker that dies is restarted (Unix only)",
    )
    production.add_argument(
        "--drain-timeout",
        type=_non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl+C, how long active calls may go on before the "
        "connection closes (default: 30)",
    )
    production.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (with --workers: one "
        "endpoint for all, a worker label per series); needs the 'metrics' extra",
    )
    production.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics endpoint listens on (default: 127.0.0.1; "
        "0.0.0.0 in a container)",
    )

    trying = run.add_argument_group("trying it out (--fake)")
    trying.add_argument(
        "--fake",
        action="store_true",
        help="run the handler against the embedded fake server with one scripted inbound "
        "call (or message), print the timeline, exit 0 only if the handler finished "
        "without error; needs no account",
    )
    trying.add_argument(
        "--press", metavar="DIGITS", help="the caller presses DIGITS at the first digit prompt"
    )
    trying.add_argument(
        "--say",
        metavar="TEXT",
        help="the caller says TEXT at the first speech prompt (with --messages: the text "
        "of the inbound message)",
    )
    trying.add_argument(
        "--hangup-after",
        type=_non_negative_float,
        default=60.0,
        metavar="SECONDS",
        help="the caller hangs up after this long if the handler is still running (default: 60)",
    )
    trying.add_argument(
        "--real-time",
        action="store_true",
        help="run the fake on the wall clock over a loopback socket instead of simulated time",
    )

    logs = run.add_argument_group("logging")
    logs.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="the lowest level logged to stderr (default: info; warning with --fake)",
    )
    logs.add_argument("-v", "--verbose", action="store_true", help="the same as --log-level debug")
    run.set_defaults(run_parser=run)  # so that errors print run's usage line
    # Set by the supervisor on its workers' command lines.
    run.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    run.add_argument("--control-fd", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), not {value}")
    return value


def missing_credentials(environ: Mapping[str, str]) -> list[str]:
    """The credential variables ``run`` needs that the environment does not set."""
    if environ.get(ENV_JWT):
        return []
    return [name for name in (ENV_PROJECT, ENV_TOKEN) if not environ.get(name)]


def load_handler(spec: str) -> Handler:
    """``module:attribute`` -> the callable; ``ValueError`` naming what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"the handler must look like module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ValueError(
                f"cannot import {module_name!r} (no module named {exc.name!r}); "
                "run from the directory that holds it, or set PYTHONPATH"
            ) from None
        raise  # the module exists and failed to import something: its own traceback
    found: Any = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attr!r}") from None
    if not callable(found):
        raise ValueError(f"{spec} is not callable")
    handler: Handler = found
    return handler


def _configure_logging(level: str, who: str | None) -> None:
    tag = f"[{who}] " if who else ""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)-7s {tag}%(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(real_time=args.real_time)
    return _run(args.run_parser, args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    def fail(message: str) -> NoReturn:
        parser.error(message)  # exits 2 with the usage line

    _check_options(args, fail)
    level = "debug" if args.verbose else args.log_level or ("warning" if args.fake else "info")
    worker = args.worker_index
    supervising = args.workers is not None and worker is None
    who = f"worker {worker}" if worker is not None else "supervisor" if supervising else None
    _configure_logging(level, who)
    try:
        handler = load_handler(args.handler)
    except ValueError as exc:
        fail(str(exc))
    if args.fake:
        from ._fake_run import FakeScript, run_fake

        script = FakeScript(
            contexts=tuple(args.context or [FAKE_DEFAULT_CONTEXT]),
            messages=args.messages,
            press=args.press,
            say=args.say,
            hangup_after=args.hangup_after,
            real_time=args.real_time,
        )
        return run_fake(handler, args.handler, script)
    if supervising:
        from ._workers import supervise, worker_command

        try:
            return trio.run(
                lambda: supervise(
                    args.workers,
                    worker_command(_worker_base(args, level)),
                    drain_timeout=args.drain_timeout,
                    metrics_host=args.metrics_host,
                    metrics_port=args.metrics_port,
                )
            )
        except OSError as exc:  # the metrics port is taken, say
            logger.error("%s", exc)
            return 1
    options = ServiceOptions(
        contexts=tuple(args.context),
        messages=args.messages,
        host=args.host,
        url=args.url,
        drain_timeout=args.drain_timeout,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port if worker is None else None,
        control_fd=args.control_fd,
    )
    try:
        return trio.run(run_service, options, handler)
    except AuthenticationError as exc:
        logger.error("the credentials were refused: %s", exc)
        return EXIT_FATAL
    except (RelayConnectionError, OSError) as exc:  # OSError: the metrics port is taken, say
        logger.error("%s", exc)
        return 1


def _check_options(args: argparse.Namespace, fail: Any) -> None:
    if args.fake:
        for name in ("workers", "metrics_port", "url", "host"):
            if getattr(args, name) is not None:
                fail(f"--{name.replace('_', '-')} has no meaning with --fake")
        return
    for name in ("press", "say"):
        if getattr(args, name) is not None:
            fail(f"--{name} goes with --fake")
    if args.real_time:
        fail("--real-time goes with --fake")
    if not args.context:
        fail("give at least one --context to receive calls on (or try --fake)")
    missing = missing_credentials(os.environ)
    if missing:
        fail(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: run reads "
            f"the credentials from the environment ({ENV_PROJECT} and {ENV_TOKEN}, "
            f"or {ENV_JWT})"
        )
    try:
        resolve_settings(
            project=None,
            token=None,
            jwt_token=None,
            host=args.host,
            contexts=args.context,
            url=args.url,
            ssl_context=None,
        )
    except (TypeError, ValueError) as exc:
        fail(str(exc))
    except (OSError, ssl.SSLError) as exc:
        fail(f"cannot load the CA bundle named by {ENV_CA_FILE}: {exc}")
    if args.metrics_port is not None:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            fail(
                "--metrics-port needs prometheus-client: "
                'pip install "signalwire-relay-trio[metrics]"'
            )


def _worker_base(args: argparse.Namespace, level: str) -> list[str]:
    """The ``run ...`` command line each worker gets (without --workers and metrics)."""
    base = ["run", args.handler, "--log-level", level, "--drain-timeout", str(args.drain_timeout)]
    for context in args.context:
        base += ["--context", context]
    if args.messages:
        base.append("--messages")
    if args.host is not None:
        base += ["--host", args.host]
    if args.url is not None:
        base += ["--url", args.url]
    return base
