"""The standalone fake (``python -m signalwire_relay_trio.testing``) and ``start_fake_relay``."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from signalwire_relay_trio import Call, open_relay
from signalwire_relay_trio.testing import (
    ControlAPIError,
    FakeRelayServer,
    RelayControl,
    serving,
    start_fake_relay,
)

pytest.importorskip("trustme")

START_KEYS = {"url", "host", "ca_file", "project", "token", "control_url", "contexts"}


def start_standalone(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "signalwire_relay_trio.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the process prints it once it listens
        return process, json.loads(line)
    except BaseException:
        process.kill()
        process.wait(10)
        raise


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, err


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def answer(call: Call) -> None:
    await call.answer()
    await call.wait_for_ended()


async def test_the_standalone_fake_over_wss_with_its_control_api(tmp_path: Path) -> None:
    ca_file = tmp_path / "relay-ca.pem"
    process, start = await trio.to_thread.run_sync(
        start_standalone, "--tls", "--ca-file", str(ca_file), "--context", "sales"
    )
    try:
        assert set(start) == START_KEYS
        assert start["url"].startswith("wss://127.0.0.1:")
        assert start["host"] == start["url"].removeprefix("wss://")
        assert start["control_url"] == f"https://{start['host']}/control"
        assert start["ca_file"] == str(ca_file) and ca_file.exists()
        assert (start["project"], start["token"], start["contexts"]) == (
            "test-project",
            "test-token",
            ["sales"],
        )
        control = RelayControl.from_start_line(json.dumps(start))
        assert control.env["SIGNALWIRE_SPACE"] == start["host"]
        assert control.env["SIGNALWIRE_RELAY_CA_FILE"] == str(ca_file)
        context = ssl.create_default_context(cafile=str(ca_file))
        with trio.fail_after(20):
            async with (
                open_relay(
                    project="test-project",
                    token="test-token",
                    url=start["url"],
                    contexts=["sales"],
                    ssl_context=context,
                ) as relay,
                serving(relay, answer),
            ):
                call_id = await trio.to_thread.run_sync(control.inbound_call, "sales")
                await trio.to_thread.run_sync(control.wait_for_state, call_id, "answered", 5)
                await trio.to_thread.run_sync(control.hangup, call_id)
                await trio.to_thread.run_sync(control.wait_for_state, call_id, "ended", 5)
        entries = await trio.to_thread.run_sync(control.journal, "calling.answer", call_id)
        assert [e["direction"] for e in entries] == ["received", "sent"]
        assert (await trio.to_thread.run_sync(control.call, call_id))["state"] == "ended"
    finally:
        code, err = await trio.to_thread.run_sync(stop, process)
    assert code == 0, err
    assert "test-token" not in err
    assert ca_file.exists()  # a chosen --ca-file stays
    assert port_is_closed(int(start["host"].rpartition(":")[2]))


def test_a_temporary_ca_file_is_removed_at_exit_and_plain_ws_works() -> None:
    process, start = start_standalone("--tls")
    ca_file = Path(start["ca_file"])
    assert ca_file.exists()
    assert stop(process)[0] == 0
    assert not ca_file.exists()
    process, start = start_standalone("--timing", "tts_min=0.01")
    try:
        assert start["url"].startswith("ws://") and start["ca_file"] is None
        control = RelayControl.from_start_line(json.dumps(start))
        assert control.control_url.startswith("http://")
        assert control.sessions() == []
        with pytest.raises(ControlAPIError) as refused:
            control.request("GET", "/nowhere")
        assert refused.value.status == 404
    finally:
        assert stop(process)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls", "--tls-cert", "c", "--tls-key", "k"], "drop --tls-cert"),
        (["--ca-file", "x.pem"], "--ca-file goes with --tls"),
        (["--timing", "warp=1"], "unknown timing"),
        (["--timing", "tts_min=-1"], "seconds must be >= 0"),
    ],
)
def test_bad_command_lines_are_refused(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "signalwire_relay_trio.testing", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and message in done.stderr


def test_tls_without_trustme_says_how_to_get_it() -> None:
    code = (
        "import sys; sys.modules['trustme'] = None\n"
        "from signalwire_relay_trio.testing.__main__ import main\n"
        "sys.exit(main(['--tls', '--port', '0']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "pip install 'signalwire-relay-trio[test]'" in done.stderr
    assert done.stdout == ""


# -- start_fake_relay: a thread, cleaned up whatever happens --------------------------------


def fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fake-relay"]


def test_start_fake_relay_cleans_up_even_when_the_block_fails() -> None:
    before = fake_threads()
    with pytest.raises(ZeroDivisionError), start_fake_relay(tls=True) as server:
        assert isinstance(server, FakeRelayServer) and server.running
        ca_file = Path(server.ca_file or "")
        assert ca_file.exists()
        assert server.url == f"wss://{server.host}" and server.host.startswith("127.0.0.1:")
        assert server.env == {
            "SIGNALWIRE_PROJECT_ID": "test-project",
            "SIGNALWIRE_API_TOKEN": "test-token",
            "SIGNALWIRE_SPACE": server.host,
            "SIGNALWIRE_RELAY_CA_FILE": str(ca_file),
        }
        assert fake_threads() != before
        raise ZeroDivisionError
    assert not server.running
    assert fake_threads() == before
    assert not ca_file.exists()
    assert port_is_closed(server.port)
    with pytest.raises(RuntimeError, match="closed"):
        server.sessions()
    server.close()  # idempotent


def test_start_fake_relay_reports_errors_and_timeouts() -> None:
    with start_fake_relay(contexts=["office"], timings={"tts_min": 0.01}) as server:
        assert server.ca_file is None and "SIGNALWIRE_RELAY_CA_FILE" not in server.env
        with pytest.raises(ControlAPIError, match="no session is subscribed") as caught:
            server.inbound_call("office", timeout=0)
        assert caught.value.status == 409
        with pytest.raises(ControlAPIError) as caught:
            server.press("no-such-call", "1")
        assert caught.value.status == 404 and caught.value.body == {
            "error": "no call 'no-such-call'"
        }
        with pytest.raises(ValueError, match="timings"):
            start_fake_relay(timings={"warp": 1.0}).close()


def test_the_fake_relay_server_fixture(fake_relay_server: FakeRelayServer) -> None:
    assert fake_relay_server.running and fake_relay_server.url.startswith("wss://")
    assert os.path.exists(fake_relay_server.ca_file or "")
    assert fake_relay_server.journal() == []


@pytest.mark.fake_relay(tls=False, contexts=["sales"], project="acme", token="s3cret")
def test_the_marker_configures_the_server_fixture(fake_relay_server: FakeRelayServer) -> None:
    assert fake_relay_server.url.startswith("ws://") and fake_relay_server.ca_file is None
    assert fake_relay_server.env["SIGNALWIRE_PROJECT_ID"] == "acme"
    assert fake_relay_server.contexts == ("sales",)
