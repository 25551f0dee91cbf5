"""Helpers shared by the bench processes (server, clients, runner).

Nothing here imports trio or asyncio, so every client can use it without
pulling in the other event loop.

The bench processes talk to the runner over pipes, one JSON object per line:
the runner writes commands on a process's stdin, the process answers on its
stdout. Diagnostics go to stderr, which the runner keeps and prints when a
process fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

#: ``from_number`` of an inbound call tells the client handler what to do:
#: ``IDLE`` parks after answering; ``play-N`` plays N TTS items, then hangs up.
IDLE = "idle"
PLAY_PREFIX = "play-"
CONTEXT = "bench"
PROJECT = "bench-project"
TOKEN = "bench-token"  # a fake's credential, not a secret


def plan_for(from_number: str | None) -> int:
    """Plays to do for a call (``-1``: park until the call ends)."""
    if from_number is None or from_number == IDLE:
        return -1
    return int(from_number[len(PLAY_PREFIX) :])


def from_number_for(plays: int) -> str:
    return IDLE if plays < 0 else f"{PLAY_PREFIX}{plays}"


def _status_kb() -> dict[str, int]:
    found: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                found[key] = int(value.split()[0])
    return found


def snapshot(**extra: Any) -> dict[str, Any]:
    """CPU seconds used so far (user + system, every thread), RSS now and at peak."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kb = _status_kb()
    result = {
        "cpu": usage.ru_utime + usage.ru_stime,
        "cpu_user": usage.ru_utime,
        "cpu_sys": usage.ru_stime,
        "process_time": time.process_time(),
        "rss_kb": kb.get("VmRSS", 0),
        "hwm_kb": kb.get("VmHWM", 0),
        "wall": time.monotonic(),
    }
    result.update(extra)
    return result


def emit(obj: dict[str, Any]) -> None:
    """Send one JSON line to the runner."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (``nan`` when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarize_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean/max of durations given in seconds, in milliseconds."""
    values = sorted(seconds)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 0.50) * 1e3,
        "p99": percentile(values, 0.99) * 1e3,
        "mean": sum(values) / len(values) * 1e3,
        "max": values[-1] * 1e3,
    }


def client_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="wss://host:port of the fake server")
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed its cert")
    parser.add_argument("--project", default=PROJECT)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--context", default=CONTEXT)
    parser.add_argument("--max-active-calls", type=int, default=20000)
    return parser


def parse_command(line: str) -> tuple[str, list[str]]:
    words = line.split()
    return (words[0], words[1:]) if words else ("", [])


def host_port(url: str) -> tuple[str, int]:
    """``("127.0.0.1", 4433)`` from ``wss://127.0.0.1:4433``."""
    rest = url.split("://", 1)[1].rstrip("/")
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    os._exit(2)
