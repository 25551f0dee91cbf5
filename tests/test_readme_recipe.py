"""The README's "Testing your app" recipe, run verbatim as a user would run it.

The code block is cut out of README.md, written into a fresh directory with
nothing but ``trio_mode = true`` in a ``pytest.ini``, and run by pytest in a
subprocess (with a deadline), next to a copy whose handler raises: the recipe
must pass in well under a second, and the broken copy must fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
PLUGIN = "signalwire_relay_trio.testing._plugin"


def readme_testing_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Testing your app")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def recipe() -> str:
    """The first Python block of the testing section: a whole test module."""
    return re.findall(r"```python\n(.*?)```", readme_testing_section(), re.S)[0]


def run_pytest(directory: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, ET.Element]]:
    """Run pytest in ``directory`` as a fresh project would; returns its junit test cases."""
    report = directory / "report.xml"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    if not installed:  # a bare checkout: the entry point is not there, name the plugin
        args += ["-p", PLUGIN]
    repo = str(README.parent)
    env = {"PYTHONPATH": repo, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        args, cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    cases = {case.get("name", ""): case for case in ET.parse(report).getroot().iter("testcase")}
    return done, cases


BROKEN = """
from signalwire_relay_trio.testing import serving


async def handle(call):
    await call.answer()
    raise RuntimeError("the handler broke")


async def test_broken_handler(fake_relay, relay, autojump_clock):
    async with serving(relay, handle):
        caller = await fake_relay.inbound_call(context="office")
        await caller.wait_for_state("ended")
"""


def test_the_readme_recipe_passes_fast_and_a_raising_handler_fails(tmp_path: Path) -> None:
    section = readme_testing_section()
    assert "trio_mode = true" in section
    code = recipe()
    assert "from signalwire_relay_trio.testing import serving" in code
    assert "async with serving(relay, handle)" in code
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n", encoding="utf-8")
    (tmp_path / "test_recipe.py").write_text(code, encoding="utf-8")
    (tmp_path / "test_broken.py").write_text(BROKEN, encoding="utf-8")

    done, cases = run_pytest(tmp_path)

    assert set(cases) == {"test_menu", "test_broken_handler"}, done.stdout + done.stderr
    menu = cases["test_menu"]
    assert menu.find("failure") is None and menu.find("error") is None, done.stdout
    seconds = float(menu.get("time", "nan"))
    print(f"README recipe: {seconds * 1000:.1f} ms (setup, call and teardown)")
    assert seconds < 0.5
    failure = cases["test_broken_handler"].find("failure")
    assert failure is not None, done.stdout
    assert "RuntimeError: the handler broke" in (failure.get("message", "") + (failure.text or ""))
    assert done.returncode == 1  # one test failed: the broken one


def test_without_trio_mode_the_recipe_does_not_pass(tmp_path: Path) -> None:
    """What the README warns about: trio_mode is what makes the async fixtures work."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_recipe.py").write_text(recipe(), encoding="utf-8")
    done, cases = run_pytest(tmp_path)
    assert done.returncode != 0
    menu = cases["test_menu"]
    error = menu.find("error")
    assert error is not None, done.stdout
    assert "async fixture" in (error.get("message", "") + (error.text or ""))
