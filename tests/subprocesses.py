"""Helpers for tests that run the command line in a subprocess against a fake on a thread.

* :class:`Proc`: a child process whose stderr (the log) is read line by line on
  a thread, so a test can wait for a line; it is killed on exit if still running.
* :class:`ThreadedFake`: ``open_fake_relay`` on its own trio loop in a thread,
  listening on loopback; the test runs coroutines on it with :meth:`run`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio.from_thread

from signalwire_relay_trio.testing import FakeRelay, open_fake_relay

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a child: the fake's credentials, and the tests on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWIRE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    env["SIGNALWIRE_PROJECT_ID"] = "test-project"
    env["SIGNALWIRE_API_TOKEN"] = "test-token"
    env.update(extra)
    return env


class Proc:
    """``python -m signalwire_relay_trio ARGS`` with its log collected as it comes."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "signalwire_relay_trio", *args],
            cwd=ROOT,
            env=cli_env() if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.out: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 15.0, count: int = 1) -> list[str]:
        """Wait until ``count`` log lines match ``pattern`` (a regex); return them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._readers_alive()):
                    raise AssertionError(
                        f"no {count} log lines matching {pattern!r} within {timeout} s:\n{self.log}"
                    )
                self._changed.wait(min(left, 0.2))

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        code = self.popen.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


class ThreadedFake:
    """A fake RELAY server on loopback, on a trio loop of its own in a thread."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.fake: FakeRelay

    def __enter__(self) -> ThreadedFake:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to __enter__ if it happens while starting
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        async with open_fake_relay(**self._kwargs) as fake:
            self.fake = fake
            self._ready.set()
            await self._stop.wait()

    @property
    def url(self) -> str:
        return self.fake.url

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 15.0) -> T:
        """``await fn(*args)`` on the fake's loop, within ``timeout`` seconds."""

        async def bounded() -> T:
            with trio.fail_after(timeout):
                return await fn(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the fake's loop (to read its state safely)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def wait_until(self, check: Callable[[], bool], timeout: float = 15.0) -> None:
        """Poll ``check`` on the fake's loop until it is true."""
        deadline = time.monotonic() + timeout
        while not self.call(check):
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {check}")
            time.sleep(0.05)

    def subscribers(self, context: str) -> int:
        """How many connected sessions receive ``context`` (call it on the fake's loop)."""
        return sum(1 for s in self.fake.sessions if s.connected and context in s.contexts)
