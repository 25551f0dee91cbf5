"""The runner's command loop for the trio clients (ours, the façade, the floor).

Commands, one per stdin line; each is answered with one JSON line:

* ``stats`` — a :func:`_benchlib.snapshot` (CPU so far, RSS now and peak);
* ``rpc N`` — N sequential RPC round trips, timed in the client;
* ``profile-start`` / ``profile-stop PATH`` — pyinstrument, if asked for;
* ``tracemalloc-start`` / ``tracemalloc-stop N`` — where the memory allocated
  in between (and still held) went, per allocation site, divided by N;
* ``exit`` — leave (the client closes its connection and exits).
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from _benchlib import emit, parse_command, snapshot, summarize_ms

RoundTrip = Callable[[], Awaitable[Any]]


async def _lines(stream: trio.abc.ReceiveStream) -> Any:
    buffer = b""
    while True:
        while b"\n" not in buffer:
            data = await stream.receive_some(4096)
            if not data:
                return
            buffer += data
        line, buffer = buffer.split(b"\n", 1)
        yield line.decode()


async def time_round_trips(round_trip: RoundTrip, count: int) -> dict[str, Any]:
    before = snapshot()
    durations = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        await round_trip()
        durations.append(clock() - start)
    after = snapshot()
    return {"rtt_ms": summarize_ms(durations), "cpu": after["cpu"] - before["cpu"]}


#: (substring of a frame's file path, group name), first match wins.
_GROUPS = (
    ("site-packages/wsproto/", "wsproto (WebSocket framing)"),
    ("site-packages/trio/_ssl", "trio.SSLStream"),
    ("/ssl.py", "ssl (stdlib)"),
    ("site-packages/trio/", "trio (scheduling, I/O)"),
    ("/json/", "json"),
    ("/uuid.py", "uuid"),
    ("site-packages/cattrs/", "cattrs"),
    ("site-packages/attr", "attrs"),
    ("<cattrs generated", "cattrs"),
    ("<attrs generated", "attrs"),
    ("/bench/", "bench handler and harness"),
)


def _group(path: str) -> str:
    if path.startswith(("<attrs generated", "<cattrs generated")):  # charge the class's owner
        owner = path.rstrip(">").split()[-1]
        if owner.startswith("trio."):
            return "trio (scheduling, I/O)"
        if owner.startswith("signalwire_relay_trio."):
            return f"ours: {owner.split('.')[1]} (attrs/cattrs generated)"
    if "signalwire_relay_trio/" in path:  # ours, by module (maybe the bench's snapshot copy)
        module = path.split("signalwire_relay_trio/", 1)[1].removesuffix(".py")
        return f"ours: {module}"
    for needle, name in _GROUPS:
        if needle in path:
            return name
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/lib/python3" in path:  # the rest of the standard library, by module
        module = path.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib " + module.split("/", 1)[0].removesuffix(".py")
    if path.startswith("<frozen"):
        return "stdlib " + path.strip("<>").split()[-1]
    return f"other ({path or '?'})"


#: Time blocked in epoll: pyinstrument samples wall time, and this is not CPU.
IDLE_GROUP = "idle (blocked in epoll)"


def summarize_profile(profiler: Any) -> dict[str, Any]:
    """Self time by library group and the top functions by self time.

    ``busy_s`` is the sampled time minus the time blocked in epoll: the
    shares in the report are of ``busy_s``.
    """
    root = profiler.last_session.root_frame(trim_stem=False)
    groups: dict[str, float] = {}
    functions: dict[str, float] = {}
    stack = [root] if root is not None else []
    total = root.time if root is not None else 0.0
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        own = frame.time - sum(child.time for child in frame.children)
        if frame.is_synthetic:  # "[self]"-style leaves: the parent's own time
            if frame.parent is None:
                continue
            frame = frame.parent
        if own <= 0:
            continue
        path = frame.file_path or ""
        group = _group(path)
        if path == "<built-in>":  # C functions: name the OS and OpenSSL, else charge the caller
            name = frame.function or ""
            if "SSL" in name or "MemoryBIO" in name:
                group = "OpenSSL (C)"
            elif name.startswith(("epoll.", "select.")):
                group = IDLE_GROUP
            elif name.startswith("socket."):
                group = "OS calls (socket, epoll)"
            else:
                caller = frame.parent
                while caller is not None and (caller.file_path or "<built-in>") == "<built-in>":
                    caller = caller.parent
                group = _group(caller.file_path or "") if caller is not None else group
        groups[group] = groups.get(group, 0.0) + own
        if group == IDLE_GROUP:
            continue
        label = f"{frame.function} ({frame.file_path_short or path}:{frame.line_no})"
        functions[label] = functions.get(label, 0.0) + own
    top = sorted(functions.items(), key=lambda item: -item[1])[:20]
    idle = groups.pop(IDLE_GROUP, 0.0)
    return {
        "total_s": total,
        "idle_s": idle,
        "busy_s": total - idle,
        "groups": sorted(([name, t] for name, t in groups.items()), key=lambda item: -item[1]),
        "top_functions": [[name, t] for name, t in top],
    }


def held_memory(
    before: tracemalloc.Snapshot | None, after: tracemalloc.Snapshot, per: int
) -> dict[str, Any]:
    """Bytes allocated since ``before`` and still held, by source line, per unit of ``per``."""
    assert before is not None, "tracemalloc-start first"
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    total = sum(stat.size_diff for stat in diff)
    groups: dict[str, float] = {}
    for stat in diff:
        group = _group(stat.traceback[0].filename)
        groups[group] = groups.get(group, 0.0) + stat.size_diff / per
    top = []
    for stat in sorted(diff, key=lambda stat: -stat.size_diff)[:25]:
        frame = stat.traceback[0]
        path = frame.filename
        for marker, keep in (
            ("site-packages/", ""),
            ("signalwire_relay_trio/", "signalwire_relay_trio/"),
            ("/lib/python3.11/", ""),
        ):
            if marker in path:
                path = keep + path.split(marker, 1)[1]
                break
        top.append([f"{path}:{frame.lineno}", stat.size_diff / per, stat.count_diff / per])
    return {
        "bytes_per_unit": total / per,
        "groups": sorted(([name, size] for name, size in groups.items()), key=lambda g: -g[1]),
        "top": top,
        "per": per,
    }


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


async def command_loop(round_trip: RoundTrip) -> None:
    """Answer the runner's commands until ``exit`` (or stdin closes)."""
    profiler = None
    memory_before: tracemalloc.Snapshot | None = None
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async for line in _lines(stdin):
        name, args = parse_command(line)
        if name == "exit":
            return
        if name == "stats":
            emit(snapshot())
        elif name == "rpc":
            emit(await time_round_trips(round_trip, int(args[0])))
        elif name == "profile-start":
            from pyinstrument import Profiler  # bench-only dependency

            # The whole thread, not one task: the reader, writer and every
            # handler task are all part of the client's cost.
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            emit({"ok": True})
        elif name == "profile-stop":
            assert profiler is not None, "profile-start first"
            profiler.stop()
            _write_text(args[0], profiler.output_text(unicode=True, color=False, show_all=False))
            emit({"ok": True, "path": args[0], "summary": summarize_profile(profiler)})
        elif name == "tracemalloc-start":
            tracemalloc.start(1)
            memory_before = tracemalloc.take_snapshot()
            emit({"ok": True})
        elif name == "tracemalloc-stop":
            emit(held_memory(memory_before, tracemalloc.take_snapshot(), int(args[0])))
            tracemalloc.stop()
        else:
            emit({"error": f"unknown command {line!r}"})
