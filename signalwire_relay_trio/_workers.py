"""``run --workers N``: a supervisor keeping N serving processes up, and draining them.

Each worker is ``python -m signalwire_relay_trio run ...`` again, with its own
connection on the same contexts (the service spreads calls across
connections). Workers run in their own session, so a Ctrl+C in a terminal
reaches only the supervisor, which then sends each worker one SIGTERM: every
worker drains (``--drain-timeout``) and the supervisor exits 0 once all have
exited cleanly. A second Ctrl+C (SIGINT) is passed on and stops the workers
at once; a second SIGTERM changes nothing (systemd may signal the workers
itself too). A worker still running ``drain_timeout + KILL_GRACE`` seconds
after the first signal is killed.

A worker that dies is restarted after a backoff (0.5 s doubling to 30 s,
back to 0.5 s after a worker stayed up for a minute); one that exits with
``EXIT_FATAL`` (credentials refused) stops the whole service instead.

With ``--metrics-port`` the supervisor serves ``/metrics`` for all workers:
at each scrape it asks every worker for its statistics over the worker's
control socket, and labels each series with ``worker="i"``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio

from ._groups import raise_single
from ._runner import EXIT_FATAL, STOP_SIGNALS, statistics_from_json
from ._state import RelayStatistics

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["WorkerPool", "supervise"]

logger = logging.getLogger("signalwire_relay_trio.workers")

KILL_GRACE = 10.0
SCRAPE_TIMEOUT = 2.0
BACKOFF_START, BACKOFF_MAX, STABLE_AFTER = 0.5, 30.0, 60.0


@attrs.define
class Worker:
    index: int
    process: trio.Process | None = None
    control: trio.SocketStream | None = None
    buffer: bytes = b""
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    restarts: int = 0
    exit_code: int | None = None
    seq: int = 0

    async def ask_statistics(self) -> RelayStatistics | None:
        """This worker's statistics, or None if it does not answer in time."""
        control = self.control
        if control is None:
            return None
        async with self.lock:
            self.seq += 1
            seq = str(self.seq)
            with trio.move_on_after(SCRAPE_TIMEOUT):
                try:
                    await control.send_all(f"stats {seq}\n".encode())
                    while True:  # a reply to an earlier, timed-out request is skipped
                        line = await self._line(control)
                        if line is None:
                            return None
                        data = json.loads(line)
                        if data.get("seq") == seq:
                            return statistics_from_json(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError):
                    return None
        return None

    async def _line(self, control: trio.SocketStream) -> bytes | None:
        while b"\n" not in self.buffer:
            chunk = await control.receive_some(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


class WorkerPool:
    """N workers, each restarted when it dies, until :meth:`stop`."""

    def __init__(self, count: int, argv: Callable[[int, int], Sequence[str]]) -> None:
        self.workers = [Worker(index) for index in range(count)]
        self._argv = argv  # (worker index, control fd) -> the worker's command line
        self.stopping = trio.Event()
        self.fatal = False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for worker in self.workers:
                nursery.start_soon(self._keep_running, worker)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Ask every worker to drain (first call) or to stop at once (again)."""
        self.stopping.set()
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(signum)

    def kill(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                logger.error("worker %d did not finish draining: killing it", worker.index)
                worker.process.kill()

    @property
    def clean(self) -> bool:
        """Every worker exited 0 after the stop."""
        return not self.fatal and all(worker.exit_code == 0 for worker in self.workers)

    async def _keep_running(self, worker: Worker) -> None:
        backoff = BACKOFF_START
        while not self.stopping.is_set():
            started = trio.current_time()
            code = await self._run_once(worker)
            if self.stopping.is_set():
                break
            if code == EXIT_FATAL:
                logger.error("worker %d cannot serve (exit %d): stopping", worker.index, code)
                self.fatal = True
                self.stop()
                break
            if trio.current_time() - started > STABLE_AFTER:
                backoff = BACKOFF_START
            worker.restarts += 1
            logger.warning(
                "worker %d died (%s); restarting in %.1f s", worker.index, _how(code), backoff
            )
            with trio.move_on_after(backoff):
                await self.stopping.wait()
                worker.exit_code = 0  # stopped while waiting to restart: nothing to drain
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _run_once(self, worker: Worker) -> int:
        ours, theirs = socket.socketpair()
        try:
            argv = list(self._argv(worker.index, theirs.fileno()))
            process = await trio.lowlevel.open_process(
                argv,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=_hold_stop_signals,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker.process = process
        worker.buffer = b""
        worker.control = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        logger.info("worker %d started (pid %d)", worker.index, process.pid)
        if self.stopping.is_set():
            process.send_signal(signal.SIGTERM)
        try:
            code = await process.wait()
        finally:
            if process.returncode is None:  # we are being cancelled: leave nothing behind
                process.kill()
            control, worker.control = worker.control, None
            with trio.CancelScope(shield=True):
                await control.aclose()
        worker.exit_code = code
        if self.stopping.is_set():
            if code == 0:
                logger.info("worker %d drained and exited", worker.index)
            else:
                logger.warning("worker %d exited during the stop (%s)", worker.index, _how(code))
        return code


def _hold_stop_signals() -> None:
    """In the child before exec: SIGTERM/SIGINT wait until the worker can handle them.

    A stop that comes while the worker is still starting would otherwise kill
    it outright; blocked, the signal stays pending until ``run_service``
    installs its handlers and unblocks it, and the worker drains as asked.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


async def supervise(
    count: int,
    argv: Callable[[int, int], Sequence[str]],
    *,
    drain_timeout: float,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> int:
    """Run the pool until SIGTERM/SIGINT and all workers have drained; the exit code."""
    pool = WorkerPool(count, argv)
    logger.info("starting %d workers (supervisor pid %d)", count, os.getpid())
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch, signals, pool, drain_timeout)
                if metrics_port is not None:
                    from ._metrics_http import serve_metrics

                    port = await nursery.start(
                        serve_metrics, metrics_host, metrics_port, _renderer(pool)
                    )
                    logger.info(
                        "metrics for all workers at http://%s:%d/metrics", metrics_host, port
                    )
                await pool.run()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group)
    if pool.fatal:
        return EXIT_FATAL
    if pool.clean:
        logger.info("all %d workers drained", count)
        return 0
    return 1


async def _watch(signals: Any, pool: WorkerPool, drain_timeout: float) -> None:
    async with trio.open_nursery() as nursery:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not pool.stopping.is_set():
                logger.info("%s: draining every worker (Ctrl+C again to stop at once)", name)
                pool.stop(signal.SIGTERM)
                nursery.start_soon(_kill_after, pool, drain_timeout + KILL_GRACE)
            elif signum == signal.SIGTERM:
                logger.debug("SIGTERM while draining: already draining")
            else:  # a SIGINT to a draining worker stops it at once
                logger.warning("%s again: stopping every worker at once", name)
                pool.stop(signal.SIGINT)


async def _kill_after(pool: WorkerPool, seconds: float) -> None:
    await trio.sleep(seconds)
    pool.kill()


def _renderer(pool: WorkerPool) -> Callable[[], Any]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

    from .metrics import PREFIX, statistics_metrics

    class Snapshot:
        def __init__(self, metrics: list[Metric]) -> None:
            self.metrics = metrics

        def collect(self) -> list[Metric]:
            return self.metrics

    async def render() -> bytes:
        answers: dict[int, RelayStatistics] = {}

        async def ask(worker: Worker) -> None:
            stats = await worker.ask_statistics()
            if stats is not None:
                answers[worker.index] = stats

        async with trio.open_nursery() as nursery:
            for worker in pool.workers:
                nursery.start_soon(ask, worker)
        samples = [((str(index),), stats) for index, stats in sorted(answers.items())]
        metrics = statistics_metrics(samples, ("worker",))
        up = GaugeMetricFamily(
            PREFIX + "worker_up", "1 if the worker answered this scrape.", labels=["worker"]
        )
        restarts = CounterMetricFamily(
            PREFIX + "worker_restarts", "Times the worker was restarted.", labels=["worker"]
        )
        for worker in pool.workers:
            up.add_metric([str(worker.index)], 1.0 if worker.index in answers else 0.0)
            restarts.add_metric([str(worker.index)], float(worker.restarts))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Snapshot([*metrics, up, restarts]))
        return generate_latest(registry)

    return render


def worker_command(base: Sequence[str]) -> Callable[[int, int], list[str]]:
    """The command line of worker ``i``: ``base`` plus its index and control fd."""

    def argv(index: int, fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "signalwire_relay_trio",
            *base,
            "--worker-index",
            str(index),
            "--control-fd",
            str(fd),
        ]

    return argv
