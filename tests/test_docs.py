"""The documentation site, checked without building it (``.ci/run`` builds it with -W).

* every public name is in the API reference;
* every Python example in the guides compiles, and imports only public names;
* the tutorial's app and its test, included verbatim by the tutorial, pass.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import signalwire_relay_trio
import signalwire_relay_trio.testing

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDES = sorted(DOCS.glob("*.md"))
AUTODOC = re.compile(r"^\.\. auto(?:class|function|data|exception)::\s+([\w.]+)", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def documented_names() -> set[str]:
    names: set[str] = set()
    for page in (DOCS / "reference").glob("*.rst"):
        names.update(AUTODOC.findall(page.read_text(encoding="utf-8")))
    return names


def test_every_public_name_is_in_the_reference() -> None:
    missing = set(signalwire_relay_trio.__all__) - documented_names()
    assert not missing, f"add these to a page of docs/reference/: {sorted(missing)}"


def test_the_reference_documents_only_public_names() -> None:
    extra = documented_names() - set(signalwire_relay_trio.__all__)
    assert not extra, f"not in signalwire_relay_trio.__all__: {sorted(extra)}"


def test_the_harness_is_documented_whole() -> None:
    # docs/reference/testing.rst documents signalwire_relay_trio.testing.__all__ itself.
    page = (DOCS / "reference" / "testing.rst").read_text(encoding="utf-8")
    assert ".. autoall:: signalwire_relay_trio.testing" in page


def python_blocks() -> list[tuple[str, str]]:
    return [
        (f"{page.name}#{number}", block)
        for page in GUIDES
        for number, block in enumerate(PYTHON_BLOCK.findall(page.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize(("where", "source"), python_blocks(), ids=lambda v: str(v)[:40])
def test_python_examples_compile(where: str, source: str) -> None:
    # Snippets may await at top level, as if inside a handler.
    tree = compile(source, where, "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "signalwire_relay_trio":
            unknown = {a.name for a in node.names} - set(signalwire_relay_trio.__all__)
            assert not unknown, f"{where} imports names the package does not export: {unknown}"


def test_the_guides_have_python_examples() -> None:
    assert len(python_blocks()) >= 20


def test_tutorial_app_and_test_compile() -> None:
    for name in ("frontdesk.py", "test_frontdesk.py"):
        path = DOCS / "tutorial" / name
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.skipif(
    not hasattr(signalwire_relay_trio.testing, "serving"),
    reason="the tutorial's test uses signalwire_relay_trio.testing.serving",
)
def test_tutorial_test_passes() -> None:
    """Run the tutorial's test as a reader would: pytest in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "docs/tutorial"],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
