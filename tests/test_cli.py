"""The command line: the demo, and argument errors of ``run``."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from signalwire_relay_trio.__main__ import main
from signalwire_relay_trio._demo import run_demo


def test_demo_runs_the_ivr_and_reports_the_timeline() -> None:
    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    assert "caller chose '2'" in text
    assert "message saved: https://" in text
    assert "call state -> ended" in text
    assert "demo finished" in text


def test_demo_as_a_module_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "signalwire_relay_trio", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo finished" in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no_colon_here", "--context", "office"], "module:function"),
        (["run", "json:no_such_function", "--context", "office"], "no attribute"),
        (["run", "no_such_module_here:handler", "--context", "office"], "cannot import"),
        (["run", "json:__doc__", "--context", "office"], "not callable"),
        (["run", "json:dumps"], "--context"),
        (["run", "json:dumps", "--press", "1", "--context", "office"], "--press goes with --fake"),
        (["run", "json:dumps", "--fake", "--workers", "2"], "--workers has no meaning"),
        (["run", "json:dumps", "--workers", "0", "--context", "office"], "at least 1"),
        (["run", "json:dumps", "--metrics-port", "99999", "--context", "office"], "port"),
        (["run", "json:dumps", "--context", "office", "--url", "http://x"], "ws://"),
        (["run", "json:dumps", "--context", "office", "--host", "https://x"], "scheme"),
    ],
)
def test_run_rejects_bad_arguments(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", "p")
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", "t")
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "usage: python -m signalwire_relay_trio run" in err


def test_every_help_entry_is_described() -> None:
    import argparse

    from signalwire_relay_trio._cli import build_parser

    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:
                continue
            assert action.help and len(action.help) > 10, f"{name} {action.option_strings}"
    assert "--workers" in commands.choices["run"].format_help()
