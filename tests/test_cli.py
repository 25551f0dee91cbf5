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
        (["run", "json:dumps"], "--context"),
    ],
)
def test_run_rejects_bad_arguments(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert message in str(info.value)
