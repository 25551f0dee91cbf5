"""``python -m signalwire_relay_trio run``: every mode, in subprocesses, with signals.

The fake RELAY server runs on a thread of the test process (loopback only);
the command line reaches it with ``--url``. Every child is killed at the end
of its test, whatever happened.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from cli_apps import answer_and_wait  # noqa: F401  (imported by the child; checked here)
from subprocesses import Proc, ThreadedFake, cli_env

from signalwire_relay_trio._fake_run import FakeScript, run_fake
from signalwire_relay_trio.testing import FakeCall

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals and --workers are Unix")

#: Without the ``metrics`` extra the drain tests still run, without a scrape.
METRICS = importlib.util.find_spec("prometheus_client") is not None


@pytest.fixture
def spawn() -> Iterator[type[Proc]]:
    started: list[Proc] = []

    class Tracked(Proc):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield Tracked
    for proc in started:
        proc.kill()


@pytest.fixture
def threaded_fake() -> Iterator[ThreadedFake]:
    with ThreadedFake(contexts=("office",)) as fake:
        yield fake


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text: str = reply.read().decode()
        return text


def metrics_port(proc: Proc) -> int:
    (line,) = proc.wait_for_line(r"metrics .*at http://127\.0\.0\.1:\d+/metrics")
    match = re.search(r":(\d+)/metrics", line)
    assert match is not None
    return int(match.group(1))


# -- --fake -------------------------------------------------------------------------------------


def test_fake_presses_digits_and_exits_zero(spawn: type[Proc]) -> None:
    proc = spawn(["run", "cli_apps:press_echo", "--fake", "--press", "123"])
    assert proc.wait(60) == 0, proc.log
    out = "\n".join(proc.out)
    assert "caller  presses '123'" in out
    assert "collect: digit '123'" in out
    assert "handler finished without error" in out


def test_fake_exits_one_with_the_handlers_error(spawn: type[Proc]) -> None:
    proc = spawn(["run", "cli_apps:failing", "--fake"])
    assert proc.wait(60) == 1
    assert "handler failed: ValueError('the handler broke on purpose')" in "\n".join(proc.out)
    assert "ValueError: the handler broke on purpose" in proc.log  # serve() logged it


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("uses_an_ended_call", "handler failed: CallEndedError"),
        ("never_returns", "failed: the handler was still running 10 s after the caller hung up"),
        ("press_echo", "handler failed: AssertionError"),  # nobody pressed anything
    ],
)
def test_fake_verdicts(handler: str, expected: str) -> None:
    import cli_apps

    out = io.StringIO()
    assert run_fake(getattr(cli_apps, handler), handler, FakeScript(), out) == 1
    assert expected in out.getvalue(), out.getvalue()


def test_fake_a_handler_ended_by_the_callers_hang_up_is_a_normal_end() -> None:
    import cli_apps

    out = io.StringIO()
    script = FakeScript(hangup_after=5)
    assert run_fake(cli_apps.press_echo, "press_echo", script, out) == 0, out.getvalue()
    assert "5.00s  caller  hangs up" in out.getvalue()
    assert "the call ended under it after the caller hung up" in out.getvalue()


def test_fake_message_is_delivered_to_a_message_handler(spawn: type[Proc]) -> None:
    proc = spawn(["run", "cli_apps:echo_text", "--fake", "--messages", "--say", "ping"])
    assert proc.wait(60) == 0, proc.log
    out = "\n".join(proc.out)
    assert "texts the 'office' number: 'ping'" in out
    assert "messaging.state: delivered" in out
    assert "messaging.send" in out


def test_fake_in_real_time_over_loopback() -> None:
    import cli_apps

    out = io.StringIO()
    script = FakeScript(real_time=True, press="123")
    assert run_fake(cli_apps.press_echo, "press_echo", script, out) == 0, out.getvalue()
    assert "(real time)" in out.getvalue()


# -- the environment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "named"),
    [
        ({}, "SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN are not set"),
        ({"SIGNALWIRE_PROJECT_ID": "p"}, "SIGNALWIRE_API_TOKEN is not set"),
    ],
)
def test_a_missing_credential_exits_2_naming_it(
    spawn: type[Proc], present: dict[str, str], named: str
) -> None:
    env = {k: v for k, v in cli_env().items() if not k.startswith("SIGNALWIRE_")}
    proc = spawn(["run", "cli_apps:answer_and_wait", "--context", "office"], env={**env, **present})
    assert proc.wait(30) == 2
    assert named in proc.log
    assert "Traceback" not in proc.log


def test_refused_credentials_exit_3(spawn: type[Proc], threaded_fake: ThreadedFake) -> None:
    env = cli_env(SIGNALWIRE_API_TOKEN="wrong-token")
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn(args, env=env)
    assert proc.wait(30) == 3
    assert "credentials were refused" in proc.log
    assert "wrong-token" not in proc.log


# -- one process --------------------------------------------------------------------------------


def answered_call(fake: ThreadedFake) -> FakeCall:
    call = fake.run(fake.fake.inbound_call, "office")
    fake.run(call.wait_for_state, "answered")
    return call


def test_sigterm_drains_an_active_call_then_exits_zero(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--log-level", "debug", *(["--metrics-port", "0"] if METRICS else [])])
    proc.wait_for_line("serving calls on office")
    call = answered_call(threaded_fake)

    if METRICS:
        text = scrape(metrics_port(proc))  # during the call
        assert "signalwire_relay_active_calls 1.0" in text
        assert 'signalwire_relay_connection_state{state="connected"} 1.0' in text
        assert "signalwire_relay_calls_total 1.0" in text

    proc.signal(signal.SIGTERM)
    proc.wait_for_line(r"draining: no new calls; waiting up to 30 s for 1 active calls")
    proc.signal(signal.SIGTERM)  # as systemd may send one too: still the same drain
    proc.wait_for_line("SIGTERM while draining: already draining")
    threaded_fake.wait_until(lambda: bool(threaded_fake.fake.journal.all("signalwire.unreceive")))
    assert proc.popen.poll() is None  # still up: the call is not over
    assert not call.ended
    threaded_fake.run(call.hangup)
    assert proc.wait(15) == 0, proc.log
    assert "drained" in proc.log
    assert call.end_reason == "hangup"  # the caller's; nobody cut the call


def test_a_drain_timeout_closes_with_the_call_still_up(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--drain-timeout", "0.5"])
    proc.wait_for_line("serving calls on office")
    answered_call(threaded_fake)
    proc.signal(signal.SIGINT)  # Ctrl+C drains too
    assert proc.wait(15) == 0, proc.log
    assert "1 calls still active after 0.5 s" in proc.log


def test_a_second_signal_stops_at_once(spawn: type[Proc], threaded_fake: ThreadedFake) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn(args)
    proc.wait_for_line("serving calls on office")
    answered_call(threaded_fake)
    proc.signal(signal.SIGINT)
    proc.wait_for_line("draining")
    proc.signal(signal.SIGINT)
    assert proc.wait(15) == 1
    assert "again: stopping without waiting" in proc.log


def test_messages_mode_serves_inbound_messages(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    args = ["run", "cli_apps:echo_text", "--messages", "--context", "office"]
    proc = spawn([*args, "--url", threaded_fake.url])
    proc.wait_for_line("serving messages on office")
    (session,) = threaded_fake.call(lambda: threaded_fake.fake.sessions)
    params = {
        "message_id": "6b2b2a3e-0000-4000-8000-000000000001",
        "context": "office",
        "direction": "inbound",
        "from_number": "+15559870001",
        "to_number": "+15551230000",
        "body": "ping",
        "message_state": "received",
    }
    threaded_fake.call(lambda: session.emit("messaging.receive", params, context="office"))
    threaded_fake.wait_until(lambda: bool(threaded_fake.fake.journal.all("messaging.send")))
    (send,) = threaded_fake.call(lambda: threaded_fake.fake.journal.all("messaging.send"))
    assert send.params["body"] == "PING" and send.params["to_number"] == "+15559870001"
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0, proc.log


# -- workers ------------------------------------------------------------------------------------


def test_two_workers_drain_on_sigterm_and_metrics_cover_both(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--workers", "2", *(["--metrics-port", "0"] if METRICS else [])])
    threaded_fake.wait_until(lambda: threaded_fake.subscribers("office") == 2)
    calls = [answered_call(threaded_fake), answered_call(threaded_fake)]
    if METRICS:  # the fake offers calls round-robin: one call on each worker's connection
        text = scrape(metrics_port(proc))
        assert 'signalwire_relay_active_calls{worker="0"} 1.0' in text
        assert 'signalwire_relay_active_calls{worker="1"} 1.0' in text
        assert 'signalwire_relay_worker_up{worker="1"} 1.0' in text

    proc.signal(signal.SIGTERM)
    proc.wait_for_line(r"\[worker \d\] .*draining: no new calls", count=2)
    threaded_fake.wait_until(
        lambda: len(threaded_fake.fake.journal.all("signalwire.unreceive")) == 2
    )
    assert proc.popen.poll() is None and not any(call.ended for call in calls)
    for call in calls:
        threaded_fake.run(call.hangup)
    assert proc.wait(20) == 0, proc.log
    proc.wait_for_line(r"worker \d drained and exited", count=2)
    assert "all 2 workers drained" in proc.log


def test_a_worker_that_dies_is_restarted(spawn: type[Proc], threaded_fake: ThreadedFake) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--workers", "2"])
    threaded_fake.wait_until(lambda: threaded_fake.subscribers("office") == 2)
    line, _ = proc.wait_for_line(r"worker \d started \(pid \d+\)", count=2)
    match = re.search(r"worker (\d) started \(pid (\d+)\)", line)
    assert match is not None
    index, pid = match.groups()
    os.kill(int(pid), signal.SIGKILL)
    proc.wait_for_line(rf"worker {index} died \(signal SIGKILL\); restarting in 0\.5 s")
    proc.wait_for_line(r"worker \d started \(pid \d+\)", count=3)
    threaded_fake.wait_until(lambda: threaded_fake.subscribers("office") == 2)
    proc.signal(signal.SIGINT)
    assert proc.wait(20) == 0, proc.log


def test_workers_stop_when_the_credentials_are_refused(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    env = cli_env(SIGNALWIRE_API_TOKEN="wrong-token")
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--workers", "2"], env=env)
    assert proc.wait(30) == 3, proc.log
    assert "cannot serve" in proc.log


def test_a_worker_drains_and_exits_when_its_supervisor_is_killed(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--workers", "1"])
    (line,) = proc.wait_for_line(r"worker 0 started \(pid \d+\)")
    threaded_fake.wait_until(lambda: threaded_fake.subscribers("office") == 1)
    proc.popen.kill()  # no chance to pass anything on
    proc.wait()
    threaded_fake.wait_until(lambda: bool(threaded_fake.fake.journal.all("signalwire.unreceive")))
    pid = int(line.rsplit("pid ", 1)[1].rstrip(")"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the orphan is not our child: poll for it to go
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the worker outlived its supervisor")


def test_a_taken_metrics_port_is_reported_without_a_traceback(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    if not METRICS:
        pytest.skip("needs the metrics extra")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url"]
        for extra in ([], ["--workers", "1"]):
            proc = spawn([*args, threaded_fake.url, "--metrics-port", port, *extra])
            assert proc.wait(30) == 1
            assert "address already in use" in proc.log.lower(), proc.log
            assert "Traceback" not in proc.log


def test_a_stop_while_a_worker_is_still_starting_is_a_drain(
    spawn: type[Proc], threaded_fake: ThreadedFake
) -> None:
    """The worker cannot handle SIGTERM before its loop runs: the signal waits for it."""
    args = ["run", "cli_apps:answer_and_wait", "--context", "office", "--url", threaded_fake.url]
    proc = spawn([*args, "--workers", "1"])
    proc.wait_for_line(r"worker 0 started")  # spawned; still importing
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.log
    assert "worker 0 drained and exited" in proc.log
