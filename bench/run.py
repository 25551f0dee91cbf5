"""The bench runner: our client, its façade, the official SDK and a floor, side by side.

    .venv/bin/python bench/run.py            # the full bench, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # a smoke run (small counts, one run)

Every run starts a fresh server process (``server.py``: our fake RELAY server
over wss:// with a certificate made for this bench) and a fresh client
process, pins them to different cores, warms up, then measures one workload.
Runs are interleaved (workload by workload, client by client, repeated) and
each number in the report is the median over the repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
ANALYSIS = BENCH / "ANALYSIS.md"
PYTHON = sys.executable

CLIENTS = {
    "trio": ("ours: open_relay + serve()", "client_trio.py"),
    "facade": ("ours: RelayClient façade", "client_facade.py"),
    "official": ("official signalwire-sdk 3.7.5", "client_official.py"),
    "floor": ("floor: our transport, no SDK", "client_floor.py"),
}
WORKLOADS = ("serial", "concurrent", "events", "idle", "rpc", "scale")

FULL = {
    "serial": {"calls": 300, "warmup": 30},
    "concurrent": {"calls": 2000, "concurrency": 200, "warmup": 200},
    "events": {"calls": 40, "concurrency": 10, "plays": 50, "warmup": 4},
    "idle": {"calls": 1000, "concurrency": 200, "warmup": 30},
    "rpc": {"count": 1000, "warmup": 100},
    "scale": {"calls": 10000, "concurrency": 500, "probes": 200, "warmup": 100},
}
QUICK = {
    "serial": {"calls": 30, "warmup": 5},
    "concurrent": {"calls": 200, "concurrency": 50, "warmup": 20},
    "events": {"calls": 4, "concurrency": 2, "plays": 10, "warmup": 1},
    "idle": {"calls": 200, "concurrency": 100, "warmup": 5},
    "rpc": {"count": 100, "warmup": 10},
    "scale": {"calls": 1000, "concurrency": 200, "probes": 30, "warmup": 10},
}


class BenchError(Exception):
    pass


# -- processes ------------------------------------------------------------------


_LIVE: set[Proc] = set()
#: The environment of every bench process (PYTHONPATH points at the package snapshot).
_CHILD_ENV: dict[str, str] = dict(os.environ)


class Proc:
    """A bench process: JSON commands in on stdin, JSON lines out on stdout."""

    def __init__(self, role: str, argv: list[str], core: int | None, log: Path) -> None:
        self.role = role
        self.argv = argv
        self.log_path = log
        self._log = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)

        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            cwd=ROOT,
            env=_CHILD_ENV,
            start_new_session=True,
        )
        _LIVE.add(self)
        if core is not None:  # start-up may begin elsewhere; it is not measured
            os.sched_setaffinity(self.popen.pid, {core})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.chatter: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self.failure(f"could not write to it ({exc!r})") from None

    def failure(self, what: str) -> BenchError:
        code = self.popen.poll()
        status = "running" if code is None else f"exit code {code}"
        self._log.flush()
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            tail = ""
        extra = "".join(self.chatter[-10:])
        return BenchError(
            f"{self.role} ({status}): {what}\n"
            f"  command: {shlex.join(self.argv)}\n"
            f"  stderr ({self.log_path}):\n{_indent(tail or '(empty)')}"
            + (f"\n  stdout (non-JSON):\n{_indent(extra)}" if extra else "")
        )

    def expect(self, timeout: float, watch: tuple[Proc, ...] = ()) -> dict[str, Any]:
        """The next JSON line; fails on timeout or if this (or a watched) process dies."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.failure(f"no answer within {timeout:g} s")
            try:
                line = self.lines.get(timeout=min(left, 0.25))
            except queue.Empty:
                for other in watch:
                    if other.popen.poll() is not None:
                        raise other.failure("died while waiting for " + self.role) from None
                continue
            if line is None:
                self.popen.wait(timeout=5)
                raise self.failure("exited unexpectedly")
            try:
                obj = json.loads(line)
            except ValueError:
                self.chatter.append(line)
                continue
            if isinstance(obj, dict):
                return obj
            self.chatter.append(line)

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            try:
                self.send("exit" if self.role != "server" else '{"cmd": "exit"}')
                self.popen.stdin.close()  # type: ignore[union-attr]
            except (BenchError, OSError):
                pass
            try:
                code = self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(
                    f"warning: {self.role} did not exit within {grace:g} s: killed", file=sys.stderr
                )
            else:
                if code != 0:
                    print(
                        f"warning: {self.role} exited with code {code} (log: {self.log_path})",
                        file=sys.stderr,
                    )
        self.kill()
        self._log.close()

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        _LIVE.discard(self)


def _kill_all() -> None:
    for proc in list(_LIVE):
        proc.kill()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


# -- one server + one client ------------------------------------------------------


class Pair:
    """A fresh server process and a fresh client process, connected and ready."""

    def __init__(self, bench: Bench, client: str, tag: str) -> None:
        self.bench = bench
        self.client_name = client
        self.tag = tag
        self.server: Proc | None = None
        self.client: Proc | None = None

    def __enter__(self) -> Pair:
        bench = self.bench
        logs = OUT / "logs"
        try:
            self.server = Proc(
                "server",
                [
                    PYTHON,
                    str(BENCH / "server.py"),
                    "--cert",
                    str(bench.cert),
                    "--key",
                    str(bench.key),
                    "--tts-seconds",
                    str(bench.tts_seconds),
                ],
                bench.server_core,
                logs / f"{self.tag}-server.log",
            )
            listening = self.server.expect(30)
            if listening.get("event") != "listening":
                raise self.server.failure(f"unexpected first line {listening}")
            self.playouts = bool(listening.get("playouts"))
            self.client = Proc(
                f"client {self.client_name}",
                [
                    PYTHON,
                    str(BENCH / CLIENTS[self.client_name][1]),
                    "--url",
                    listening["url"],
                    "--ca",
                    str(bench.ca),
                    "--max-active-calls",
                    str(bench.max_active_calls),
                ],
                bench.client_core,
                logs / f"{self.tag}-client.log",
            )
            ready = self.client.expect(60, watch=(self.server,))
            if ready.get("event") != "ready":
                raise self.client.failure(f"unexpected first line {ready}")
            self.server_cmd({"cmd": "wait_client"}, 20)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in (self.client, self.server):
            if proc is not None:
                proc.stop()

    def server_cmd(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.server is not None and self.client is not None
        command = {**command, "timeout": timeout}
        self.server.send(json.dumps(command))
        reply = self.server.expect(timeout + 15, watch=(self.client,))
        if "error" in reply:
            raise self.server.failure(f"{command['cmd']}: {reply['error']}")
        if reply.get("internal_errors"):
            raise self.server.failure(
                f"the fake recorded {reply['internal_errors']} internal errors"
            )
        if reply.get("wrong_flows"):
            raise self.client.failure(
                f"{reply['wrong_flows']} calls did not do answer + "
                f"{command.get('plays')} plays + hangup(s); "
                f"e.g. {reply.get('wrong_example')}"
            )
        return reply

    def client_cmd(self, line: str, timeout: float) -> dict[str, Any]:
        assert self.server is not None and self.client is not None
        self.client.send(line)
        reply = self.client.expect(timeout, watch=(self.server,))
        if "error" in reply:
            raise self.client.failure(f"{line}: {reply['error']}")
        return reply

    def stats(self) -> dict[str, Any]:
        return self.client_cmd("stats", 60)


# -- workloads ------------------------------------------------------------------------


def _flow_metrics(
    calls: int, reply: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    cpu = after["cpu"] - before["cpu"]
    wall = after["wall"] - before["wall"]
    latency = reply["latency_ms"]
    return {
        "cpu_ms_per_call": cpu / calls * 1e3,
        "calls_per_s": calls / reply["wall"],
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "client_busy": cpu / wall if wall > 0 else 0.0,
        "server_busy": reply["server_busy"],
        "rss_kb": after["rss_kb"],
        "hwm_kb": after["hwm_kb"],
        "frames_in_per_call": reply["frames_in_per_call"],
    }


def _flow(
    pair: Pair, calls: int, concurrency: int, plays: int, timeout: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    before = pair.stats()
    reply = pair.server_cmd(
        {"cmd": "flow", "calls": calls, "concurrency": concurrency, "plays": plays}, timeout
    )
    after = pair.stats()
    return reply, before, after


def w_serial(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    pair.server_cmd(
        {"cmd": "flow", "calls": cfg["warmup"], "concurrency": 1, "plays": bench.plays}, 60
    )
    reply, before, after = _flow(pair, cfg["calls"], 1, bench.plays, 300)
    return _flow_metrics(cfg["calls"], reply, before, after)


def w_concurrent(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    c = cfg["concurrency"]
    pair.server_cmd(
        {"cmd": "flow", "calls": cfg["warmup"], "concurrency": c, "plays": bench.plays}, 60
    )
    reply, before, after = _flow(pair, cfg["calls"], c, bench.plays, 300)
    return _flow_metrics(cfg["calls"], reply, before, after)


def w_events(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    plays = cfg["plays"] if bench.plays else 0
    c = cfg["concurrency"]
    pair.server_cmd({"cmd": "flow", "calls": cfg["warmup"], "concurrency": c, "plays": plays}, 60)
    reply, before, after = _flow(pair, cfg["calls"], c, plays, 300)
    metrics = _flow_metrics(cfg["calls"], reply, before, after)
    metrics["plays_per_call"] = plays
    if plays:
        metrics["cpu_us_per_play"] = metrics["cpu_ms_per_call"] / plays * 1e3
    return metrics


def w_idle(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    pair.server_cmd(
        {"cmd": "flow", "calls": cfg["warmup"], "concurrency": 1, "plays": bench.plays}, 60
    )
    time.sleep(0.3)
    before = pair.stats()
    reply = pair.server_cmd(
        {"cmd": "park", "calls": cfg["calls"], "concurrency": cfg["concurrency"]}, 120
    )
    time.sleep(0.5)  # let the client settle (acks written, tasks parked)
    after = pair.stats()
    pair.server_cmd({"cmd": "unpark"}, 60)
    k = cfg["calls"]
    return {
        "kb_per_idle_call": (after["rss_kb"] - before["rss_kb"]) / k,
        "rss_base_kb": before["rss_kb"],
        "rss_idle_kb": after["rss_kb"],
        "cpu_ms_per_answer": (after["cpu"] - before["cpu"]) / k * 1e3,
        "answer_p50_ms": reply["answer_latency_ms"]["p50"],
        "answer_p99_ms": reply["answer_latency_ms"]["p99"],
        "server_busy": reply["server_busy"],
    }


def w_rpc(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    pair.client_cmd(f"rpc {cfg['warmup']}", 60)
    start = pair.server_cmd({"cmd": "ping"}, 10)
    reply = pair.client_cmd(f"rpc {cfg['count']}", 300)
    end = pair.server_cmd({"cmd": "ping"}, 10)
    wall = end["mono"] - start["mono"]
    return {
        "rtt_p50_ms": reply["rtt_ms"]["p50"],
        "rtt_p99_ms": reply["rtt_ms"]["p99"],
        "cpu_us_per_rpc": reply["cpu"] / cfg["count"] * 1e6,
        "server_busy": (end["process_time"] - start["process_time"]) / wall if wall > 0 else 0.0,
    }


def w_scale(pair: Pair, cfg: dict[str, Any], bench: Bench) -> dict[str, Any]:
    probes = cfg["probes"]
    pair.server_cmd(
        {"cmd": "flow", "calls": cfg["warmup"], "concurrency": 1, "plays": bench.plays}, 60
    )
    quiet = pair.server_cmd(
        {"cmd": "flow", "calls": probes, "concurrency": 1, "plays": bench.plays}, 120
    )
    time.sleep(0.3)
    before = pair.stats()
    ramp = pair.server_cmd(
        {"cmd": "park", "calls": cfg["calls"], "concurrency": cfg["concurrency"]}, 300
    )
    time.sleep(1.0)
    parked = pair.stats()
    loaded = pair.server_cmd(
        {"cmd": "flow", "calls": probes, "concurrency": 1, "plays": bench.plays}, 300
    )
    pair.server_cmd({"cmd": "unpark"}, 120)
    k = cfg["calls"]
    return {
        "active_calls": k,
        "rss_kb": parked["rss_kb"],
        "kb_per_call": (parked["rss_kb"] - before["rss_kb"]) / k,
        "hwm_kb": parked["hwm_kb"],
        "ramp_calls_per_s": k / ramp["wall"],
        "answer_p50_ms": ramp["answer_latency_ms"]["p50"],
        "answer_p99_ms": ramp["answer_latency_ms"]["p99"],
        "cpu_ms_per_answer": (parked["cpu"] - before["cpu"]) / k * 1e3,
        "probe_p50_ms_idle": quiet["latency_ms"]["p50"],
        "probe_p99_ms_idle": quiet["latency_ms"]["p99"],
        "probe_p50_ms_loaded": loaded["latency_ms"]["p50"],
        "probe_p99_ms_loaded": loaded["latency_ms"]["p99"],
        "server_busy": ramp["server_busy"],
    }


RUNNERS: dict[str, Callable[[Pair, dict[str, Any], Bench], dict[str, Any]]] = {
    "serial": w_serial,
    "concurrent": w_concurrent,
    "events": w_events,
    "idle": w_idle,
    "rpc": w_rpc,
    "scale": w_scale,
}


# -- the bench ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.counts = QUICK if args.quick else FULL
        self.tts_seconds = args.tts_seconds
        self.max_active_calls = 20000
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= 2:
            self.server_core, self.client_core = cores[0], cores[1]
        else:
            print("warning: one core only: server and client share it", file=sys.stderr)
            self.server_core = self.client_core = None
        self.cores = cores
        self.plays = 1  # set from the fake's abilities in prepare()
        self.package = "unknown"
        self.playouts = True

    def prepare(self) -> None:
        (OUT / "logs").mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = make_certificates(OUT / "tls")
        self.package = snapshot_package(OUT / "snapshot")
        if self.server_core is not None:
            os.sched_setaffinity(0, {self.server_core})  # the runner mostly sleeps
        # Does this fake play actions out (playing/finished)? Ask it once.
        probe = Proc(
            "server",
            [PYTHON, str(BENCH / "server.py"), "--cert", str(self.cert), "--key", str(self.key)],
            self.server_core,
            OUT / "logs" / "probe-server.log",
        )
        try:
            self.playouts = bool(probe.expect(30).get("playouts"))
        finally:
            probe.stop()
        if self.args.plays is not None:
            self.plays = self.args.plays
        else:
            self.plays = 1 if self.playouts else 0
        if self.plays and not self.playouts:
            raise BenchError("this fake server does not play actions out: use --plays 0")

    def run_one(self, client: str, workload: str, rep: int) -> dict[str, Any]:
        tag = f"{workload}-{client}-{rep}"
        with Pair(self, client, tag) as pair:
            return RUNNERS[workload](pair, self.counts[workload], self)


def snapshot_package(directory: Path) -> str:
    """Copy the package as it is now, and make every bench process import that copy.

    The working tree may change while the bench runs (others edit it); every
    run then measures the same code. Returns a description of that code.
    """
    source = ROOT / "signalwire_relay_trio"
    target = directory / "signalwire_relay_trio"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    _CHILD_ENV["PYTHONPATH"] = str(directory)

    def git(*argv: str) -> str:
        try:
            done = subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "signalwire_relay_trio").splitlines()
    if dirty:
        return f"commit {commit} plus uncommitted changes to {len(dirty)} package file(s)"
    return f"commit {commit}"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    ca.cert_pem.write_to_path(str(ca_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# -- report ----------------------------------------------------------------------------------


COLUMNS: dict[str, list[tuple[str, str, str, bool]]] = {
    # (metric, header, format, lower is better)
    "serial": [
        ("cpu_ms_per_call", "CPU ms/call", "{:.3f}", True),
        ("calls_per_s", "calls/s", "{:.0f}", False),
        ("p50_ms", "p50 ms", "{:.2f}", True),
        ("p99_ms", "p99 ms", "{:.2f}", True),
        ("client_busy", "client busy", "{:.0%}", True),
        ("frames_in_per_call", "frames in/call", "{:.2f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
    "concurrent": [
        ("cpu_ms_per_call", "CPU ms/call", "{:.3f}", True),
        ("calls_per_s", "calls/s", "{:.0f}", False),
        ("p50_ms", "p50 ms", "{:.1f}", True),
        ("p99_ms", "p99 ms", "{:.1f}", True),
        ("hwm_kb", "peak RSS KB", "{:.0f}", True),
        ("client_busy", "client busy", "{:.0%}", True),
        ("frames_in_per_call", "frames in/call", "{:.2f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
    "events": [
        ("cpu_ms_per_call", "CPU ms/call", "{:.2f}", True),
        ("cpu_us_per_play", "CPU µs/play", "{:.0f}", True),
        ("calls_per_s", "calls/s", "{:.1f}", False),
        ("p50_ms", "p50 ms", "{:.0f}", True),
        ("p99_ms", "p99 ms", "{:.0f}", True),
        ("client_busy", "client busy", "{:.0%}", True),
        ("frames_in_per_call", "frames in/call", "{:.1f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
    "idle": [
        ("kb_per_idle_call", "KB/idle call", "{:.2f}", True),
        ("rss_base_kb", "RSS, 0 calls KB", "{:.0f}", True),
        ("rss_idle_kb", "RSS, K calls KB", "{:.0f}", True),
        ("cpu_ms_per_answer", "CPU ms/answer", "{:.3f}", True),
        ("answer_p99_ms", "answer p99 ms", "{:.1f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
    "rpc": [
        ("rtt_p50_ms", "RTT p50 ms", "{:.3f}", True),
        ("rtt_p99_ms", "RTT p99 ms", "{:.3f}", True),
        ("cpu_us_per_rpc", "CPU µs/RPC", "{:.0f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
    "scale": [
        ("rss_kb", "RSS KB", "{:.0f}", True),
        ("kb_per_call", "KB/call", "{:.2f}", True),
        ("ramp_calls_per_s", "answers/s", "{:.0f}", False),
        ("cpu_ms_per_answer", "CPU ms/answer", "{:.3f}", True),
        ("answer_p99_ms", "answer p99 ms", "{:.0f}", True),
        ("probe_p50_ms_idle", "probe p50 ms, 0 active", "{:.2f}", True),
        ("probe_p50_ms_loaded", "probe p50 ms, N active", "{:.2f}", True),
        ("probe_p99_ms_loaded", "probe p99 ms, N active", "{:.2f}", True),
        ("server_busy", "server busy", "{:.0%}", True),
    ],
}

RATIO_METRICS = {
    "cpu_ms_per_call",
    "cpu_us_per_play",
    "calls_per_s",
    "p99_ms",
    "p50_ms",
    "kb_per_idle_call",
    "rtt_p50_ms",
    "rtt_p99_ms",
    "cpu_us_per_rpc",
    "kb_per_call",
    "probe_p50_ms_loaded",
    "cpu_ms_per_answer",
}


def paired_ratio(
    samples: list[dict[str, Any]], reference: list[dict[str, Any]], key: str
) -> float | None:
    """Median over repetitions of (this run / the reference's run of the same repetition).

    Runs of one repetition are seconds apart, so they share whatever slow
    drift the machine has; a paired ratio is steadier than a ratio of medians.
    Falls back to the ratio of medians when no repetition has both.
    """
    by_rep = {r["rep"]: r[key] for r in reference if r.get(key) and "rep" in r}
    ratios = [s[key] / by_rep[s["rep"]] for s in samples if s.get("rep") in by_rep and key in s]
    if ratios:
        return statistics.median(ratios)
    ours, theirs = medians(samples).get(key), medians(reference).get(key)
    if ours is None or not theirs:
        return None
    return ours / theirs


def medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    keys = {key for sample in samples for key in sample}
    result = {}
    for key in keys:
        values = [s[key] for s in samples if isinstance(s.get(key), (int, float))]
        if values:
            result[key] = statistics.median(values)
    return result


def _versions() -> list[tuple[str, str]]:
    found = []
    for name in (
        "signalwire-relay-trio",
        "trio",
        "wsproto",
        "trio-websocket",
        "signalwire-sdk",
        "websockets",
        "pyinstrument",
    ):
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "not installed"))
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def render(
    bench: Bench,
    results: dict[str, dict[str, list[dict[str, Any]]]],
    errors: list[str],
    command: str,
    started: float,
    profile: dict[str, Any] | None,
) -> str:
    args = bench.args
    lines = [
        "# Bench results",
        "",
        "Generated by `bench/run.py` (do not edit by hand: rerun it). See `bench/README.md`",
        "for what each number means and how it is measured.",
        "",
        "## Machine and command",
        "",
        f"* Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"the bench took {time.monotonic() - started:.0f} s.",
        f"* CPU: {_cpu_model()}; {os.cpu_count()} logical cores, usable {bench.cores}; "
        f"server pinned to core {bench.server_core}, client to core {bench.client_core}.",
        f"* Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}.",
        "* Packages: " + ", ".join(f"{name} {version}" for name, version in _versions()) + ".",
        f"* Code measured: signalwire_relay_trio at {bench.package} (copied at start, "
        "so every run measures the same code).",
        f"* Command: `{command}`",
        f"* Runs per (client, workload): {args.runs} (scale: {args.scale_runs}), interleaved; "
        "every number is the median over the runs.",
        "* Call flow: answer → "
        + ("play one TTS item, wait for `finished` → " if bench.plays else "")
        + "hang up"
        + ("" if bench.plays else " (**the fake had no play playouts: answer → hangup only**)")
        + f"; simulated TTS duration {bench.tts_seconds:g} s.",
        "",
    ]
    if errors:
        lines += ["## Failed runs", ""] + [f"* {e.splitlines()[0]}" for e in errors] + [""]
    lines += _headline(bench, results)
    if ANALYSIS.exists():  # hand-written: what stands in the way of the targets not met
        lines += [ANALYSIS.read_text(encoding="utf-8").rstrip(), ""]
    descriptions = {
        "serial": f"one call at a time, {bench.counts['serial']['calls']} calls",
        "concurrent": f"{bench.counts['concurrent']['concurrency']} concurrent calls, "
        f"{bench.counts['concurrent']['calls']} calls",
        "events": f"{bench.counts['events']['plays']} plays per call (each waited for), "
        f"{bench.counts['events']['calls']} calls, "
        f"{bench.counts['events']['concurrency']} at a time",
        "idle": f"{bench.counts['idle']['calls']} active calls parked in `wait_for_ended()` "
        "after answering; "
        "KB/idle call = (RSS with K calls - RSS with 0) / K",
        "rpc": f"{bench.counts['rpc']['count']} sequential "
        '`execute("signalwire.receive")` round trips, '
        "timed in the client",
        "scale": f"{bench.counts['scale']['calls']} concurrent active calls in one process; "
        f"probes: {bench.counts['scale']['probes']} serial calls (full flow) "
        "before and while they are active",
    }
    for workload in WORKLOADS:
        per_client = results.get(workload)
        if not per_client:
            continue
        lines += [f"## {workload}: {descriptions[workload]}", ""]
        columns = COLUMNS[workload]
        first = columns[0]
        header = (
            "| client | " + " | ".join(c[1] for c in columns) + f" | {first[1]}, min-max | runs |"
        )
        lines += [header, "|---|" + "---:|" * (len(columns) + 2)]
        official = medians(per_client["official"]) if per_client.get("official") else {}
        for client in CLIENTS:
            samples = per_client.get(client)
            if not samples:
                continue
            med = medians(samples)
            cells = []
            for key, _, fmt, _lower in columns:
                if key not in med:
                    cells.append("n/a")
                    continue
                cell = fmt.format(med[key])
                if key in RATIO_METRICS and client != "official" and official.get(key):
                    ratio = paired_ratio(samples, per_client["official"], key)
                    if ratio is not None:
                        cell += f" (x{ratio:.2f})"
                cells.append(cell)
            values = [sample[first[0]] for sample in samples if first[0] in sample]
            spread = (
                f"{first[2].format(min(values))}-{first[2].format(max(values))}"
                if values
                else "n/a"
            )
            lines.append(
                f"| {CLIENTS[client][0]} | " + " | ".join(cells) + f" | {spread} | {len(samples)} |"
            )
        lines += [
            "",
            "Medians over the runs; (x r) = ratio to the official SDK: the median over the "
            "repetitions of this client's run / the official SDK's run of the same repetition.",
            "",
        ]
    if profile:
        lines += _profile_section(profile)
    return "\n".join(lines) + "\n"


def _headline(bench: Bench, results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    def med(workload: str, client: str, key: str) -> float | None:
        samples = results.get(workload, {}).get(client)
        if not samples:
            return None
        return medians(samples).get(key)

    rows = []
    c = bench.counts["concurrent"]["concurrency"]
    scale = bench.counts["scale"]["calls"]
    idle = bench.counts["idle"]["calls"]
    # Issue #14's targets, all relative to the official SDK in the same run: an
    # absolute figure would hold on one machine only.
    checks = [
        ("CPU/call, 1 at a time", "serial", "cpu_ms_per_call", "ms", 0.5, None),
        (f"CPU/call, {c} concurrent", "concurrent", "cpu_ms_per_call", "ms", 0.33, None),
        (f"RSS per idle call, {idle} calls", "idle", "kb_per_idle_call", "KB", 0.5, None),
        (f"RSS per active call, {scale} calls", "scale", "kb_per_call", "KB", 0.5, None),
        (f"p99 offer→ended, {c} concurrent", "concurrent", "p99_ms", "ms", 0.4, None),
    ]
    for label, workload, key, unit, ratio_target, absolute in checks:
        official = med(workload, "official", key)
        for client in ("trio", "facade"):
            ours = med(workload, client, key)
            if ours is None or official is None or official <= 0:
                continue
            ratio = paired_ratio(results[workload][client], results[workload]["official"], key) or (
                ours / official
            )
            target = f"≤ {ratio_target:g}x official"
            if absolute is not None:
                target += f" (≤ {absolute:g} {unit})"
            met = ratio <= ratio_target and (absolute is None or ours <= absolute)
            floor = over_floor = None
            runs = results[workload]
            if runs.get("floor"):
                floor = paired_ratio(runs["floor"], runs["official"], key)
                over_floor = paired_ratio(runs[client], runs["floor"], key)
            floor_cell = f"x{floor:.2f}" if floor is not None else "n/a"
            over_floor_cell = f"x{over_floor:.2f}" if over_floor is not None else "n/a"
            busy = [med(workload, who, "server_busy") for who in (client, "official")]
            busy_cell = " / ".join(f"{b:.0%}" if b is not None else "n/a" for b in busy)
            rows.append(
                f"| {label} | {CLIENTS[client][0]} | {ours:.3g} {unit} | {official:.3g} {unit} "
                f"| x{ratio:.2f} | {target} | {'met' if met else '**not met**'} | {floor_cell} "
                f"| {over_floor_cell} | {busy_cell} |"
            )
    if not rows:
        return []
    return [
        "## Targets (issue #14)",
        "",
        "Ours and official: medians over the runs. Ratio: the median over the repetitions "
        "of ours / official in the same repetition. Floor's ratio: the floor client's "
        "(our transport with no SDK logic), what this transport allows without a change "
        "below the SDK; ours ÷ floor: what the SDK adds to it. Server busy: the fake "
        "server's CPU busy fraction while serving ours / the official SDK (near 100%, the "
        "server sets the pace).",
        "",
        "| target | client | ours | official | ratio | target | status | floor's ratio "
        "| ours ÷ floor | server busy |",
        "|---|---|---:|---:|---:|---|---|---:|---:|---:|",
        *rows,
        "",
    ]


def _profile_section(profile: dict[str, Any]) -> list[str]:
    total = profile["busy_s"] or 1.0
    lines = [
        "## Profile: ours (`serve()`) at the concurrent workload",
        "",
        f"pyinstrument, whole main thread, {profile['calls']} calls at "
        f"{profile['concurrency']} concurrent: {profile['total_s']:.2f} s sampled, of which "
        f"{profile['idle_s']:.2f} s blocked in epoll (idle, left out); the shares below are "
        f"of the {profile['busy_s']:.2f} s busy. The full tree is in `{profile['path']}` "
        "(git-ignored; regenerate with `bench/profile_client.py`). "
        "Self time by library; C functions are "
        "charged to their Python caller, except socket calls and OpenSSL:",
        "",
        "| group | self time | share |",
        "|---|---:|---:|",
    ]
    for name, seconds in profile["groups"][:20]:
        lines.append(f"| {name} | {seconds * 1e3:.0f} ms | {seconds / total:.0%} |")
    ours = sum(seconds for name, seconds in profile["groups"] if name.startswith("ours:"))
    lines.append(
        f"| *all of ours (`signalwire_relay_trio/*`)* | {ours * 1e3:.0f} ms | {ours / total:.0%} |"
    )
    lines += ["", "Top functions by self time:", "", "| function | share |", "|---|---:|"]
    for name, seconds in profile["top_functions"][:15]:
        lines.append(f"| `{name}` | {seconds / total:.1%} |")
    lines.append("")
    memory = profile.get("memory")
    if memory:
        lines += [
            "## Memory: what one idle call holds in ours (`serve()`)",
            "",
            f"tracemalloc over the idle workload ({memory['per']} parked calls): memory "
            "allocated while the calls were offered and answered and still held once they "
            f"were parked, per call: **{memory['bytes_per_unit'] / 1024:.2f} KB** of Python "
            "objects (RSS adds allocator overhead). By the library that allocated it "
            "(`json` = decoded frames that are kept):",
            "",
            "| allocated by | bytes/call |",
            "|---|---:|",
        ]
        for name, size in memory["groups"][:12]:
            if size >= 1:
                lines.append(f"| {name} | {size:.0f} |")
        lines += [
            "",
            "Top allocation sites:",
            "",
            "| allocated at | bytes/call | blocks/call |",
            "|---|---:|---:|",
        ]
        for site, size, count in memory["top"][:15]:
            lines.append(f"| `{site}` | {size:.0f} | {count:.1f} |")
        lines.append("")
    return lines


# -- profile ------------------------------------------------------------------------------


def run_profile(bench: Bench, client: str = "trio", workload: str = "concurrent") -> dict[str, Any]:
    cfg = bench.counts[workload]
    path = OUT / f"profile_{client}_{workload}.txt"
    with Pair(bench, client, f"profile-{client}") as pair:
        pair.server_cmd(
            {
                "cmd": "flow",
                "calls": cfg["warmup"],
                "concurrency": cfg.get("concurrency", 1),
                "plays": bench.plays,
            },
            60,
        )
        pair.client_cmd("profile-start", 30)
        pair.server_cmd(
            {
                "cmd": "flow",
                "calls": cfg["calls"],
                "concurrency": cfg.get("concurrency", 1),
                "plays": bench.plays,
            },
            300,
        )
        reply = pair.client_cmd(f"profile-stop {path}", 120)
    summary = reply["summary"]
    summary.update(
        {
            "path": str(path.relative_to(ROOT)),
            "calls": cfg["calls"],
            "concurrency": cfg.get("concurrency", 1),
            "client": client,
        }
    )
    (OUT / f"profile_{client}_{workload}_summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def run_memory_profile(bench: Bench, client: str = "trio") -> dict[str, Any]:
    """tracemalloc over the idle workload: what one parked call holds, by source line."""
    cfg = bench.counts["idle"]
    with Pair(bench, client, f"memory-{client}") as pair:
        pair.server_cmd(
            {"cmd": "flow", "calls": cfg["warmup"], "concurrency": 1, "plays": bench.plays}, 60
        )
        pair.client_cmd("tracemalloc-start", 30)
        pair.server_cmd(
            {"cmd": "park", "calls": cfg["calls"], "concurrency": cfg["concurrency"]}, 300
        )
        time.sleep(0.5)
        reply = pair.client_cmd(f"tracemalloc-stop {cfg['calls']}", 120)
        pair.server_cmd({"cmd": "unpark"}, 60)
    reply["client"] = client
    (OUT / f"memory_{client}_idle.json").write_text(json.dumps(reply, indent=1))
    return reply


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one run, no scale")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per (client, workload); default 5 (quick: 1)"
    )
    parser.add_argument(
        "--scale-runs", type=int, default=1, help="runs of the scale workload (default 1)"
    )
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help=f"comma list of {', '.join(CLIENTS)}"
    )
    parser.add_argument(
        "--workloads",
        default=None,
        help=f"comma list of {', '.join(WORKLOADS)} (default: all; quick: all but scale)",
    )
    parser.add_argument(
        "--plays",
        type=int,
        default=None,
        help="TTS plays per call in the call flow (default 1; 0 if the fake cannot play)",
    )
    parser.add_argument(
        "--tts-seconds", type=float, default=0.0, help="simulated TTS duration (default 0)"
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "yes", "no"),
        default="auto",
        help="profile our client at the concurrent workload (auto: not with --quick)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="report file (default: bench/RESULTS.md for the full bench, "
        "bench/out/RESULTS-partial.md for --quick or a subset)",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.quick:
        args.scale_runs = min(args.scale_runs, 1)
    if args.workloads is None:
        args.workloads = ",".join(w for w in WORKLOADS if not (args.quick and w == "scale"))
    if args.output is None:
        full = (
            not args.quick
            and args.clients == ",".join(CLIENTS)
            and args.workloads == ",".join(WORKLOADS)
        )
        args.output = str(BENCH / "RESULTS.md" if full else OUT / "RESULTS-partial.md")
    for name in args.clients.split(","):
        if name not in CLIENTS:
            parser.error(f"unknown client {name!r}")
    for name in args.workloads.split(","):
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(
        [
            os.path.relpath(PYTHON, ROOT),
            os.path.relpath(__file__, ROOT),
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    started = time.monotonic()
    bench = Bench(args)
    clients = args.clients.split(",")
    workloads = args.workloads.split(",")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    errors: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        bench.prepare()
        print(
            f"bench: clients {clients}, workloads {workloads}, {args.runs} runs, "
            f"plays per call {bench.plays}",
            flush=True,
        )
        for rep in range(max(args.runs, args.scale_runs)):
            for workload in workloads:
                if rep >= (args.scale_runs if workload == "scale" else args.runs):
                    continue
                order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
                for client in order:
                    t0 = time.monotonic()
                    try:
                        metrics = bench.run_one(client, workload, rep)
                    except BenchError as exc:
                        errors.append(f"{workload}/{client} run {rep + 1}: {exc}")
                        print(
                            f"FAILED {workload}/{client} run {rep + 1}:\n{exc}",
                            file=sys.stderr,
                            flush=True,
                        )
                        continue
                    metrics["rep"] = rep
                    results.setdefault(workload, {}).setdefault(client, []).append(metrics)
                    brief = ", ".join(
                        f"{k}={v:.3g}"
                        for k, v in metrics.items()
                        if k in RATIO_METRICS or k == "server_busy"
                    )
                    print(
                        f"[{time.monotonic() - started:5.0f}s] {workload:10s} {client:8s} "
                        f"run {rep + 1} "
                        f"({time.monotonic() - t0:.1f}s): {brief}",
                        flush=True,
                    )
        profile = None
        if args.profile == "yes" or (
            args.profile == "auto" and not args.quick and "trio" in clients
        ):
            try:
                profile = run_profile(bench)
                print(f"profile written to {profile['path']}", flush=True)
                profile["memory"] = run_memory_profile(bench)
            except BenchError as exc:
                errors.append(f"profile: {exc}")
                print(f"FAILED profile:\n{exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench failed:\n{exc}", file=sys.stderr)
        return 1
    finally:
        _kill_all()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(
        json.dumps({"command": command, "results": results, "errors": errors}, indent=1)
    )
    report = render(bench, results, errors, command, started, profile)
    Path(args.output).write_text(report, encoding="utf-8")
    print(f"wrote {args.output} ({time.monotonic() - started:.0f} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
