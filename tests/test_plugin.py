"""The pytest plugin: found with or without the entry point, never registered twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_pytest(*args: str, autoload: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:  # as in a checkout never pip-installed: no entry point is loaded
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        args = ("-p", "pytest_trio.plugin", *args)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("autoload", [True, False], ids=["entry-point", "bare-checkout"])
def test_the_fixtures_are_found_either_way(autoload: bool) -> None:
    done = run_pytest("tests/test_serving.py", "-k", "marker or stops_serving", autoload=autoload)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_an_unknown_marker_option_is_an_error_naming_it(tmp_path: Path) -> None:
    test = tmp_path / "test_marker.py"
    test.write_text(
        "import pytest\n\n"
        "@pytest.mark.fake_relay(contexs=['office'])\n"
        "async def test_typo(fake_relay):\n"
        "    pass\n",
        encoding="utf-8",
    )
    done = run_pytest(str(test), "-o", "trio_mode=true", autoload=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unknown @pytest.mark.fake_relay option(s) ['contexs']" in done.stdout


def test_the_marker_is_registered(pytestconfig: pytest.Config) -> None:
    markers = pytestconfig.getini("markers")
    assert any(line.startswith("fake_relay(**options)") for line in markers)
