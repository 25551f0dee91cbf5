"""Import direction, checked on the source with ``ast`` (STYLE.md, "Layout").

* The sans-I/O core never imports trio, trio_websocket or wsproto, and reaches only
  other core modules inside the package, so trio cannot creep in through a neighbour.
* The fake server in ``testing/`` never imports the client's ``_protocol`` or
  ``_routing``: one shared bug must not be able to hide on both sides.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "signalwire_relay_trio"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

CORE = [
    "_protocol",
    "_routing",
    "_config",
    "_errors",
    "_constants",
    "_events",
    "_convert",
    "_event_base",
    "_call_events",
    "_messaging_events",
    "_models",
    "_field_rules",
    "_wire_shape",
    "_media_builders",
    "_device_builders",
    "_input_builders",
    "_pay_builders",
    "_framing",
]
CORE_MODULES = {f"{PACKAGE}.{name}" for name in CORE}
IO_LIBRARIES = {"trio", "trio_websocket", "wsproto"}
CLIENT_ONLY = {f"{PACKAGE}._protocol", f"{PACKAGE}._routing", f"{PACKAGE}._framing"}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every absolute module name an import statement in ``source`` may load.

    ``from X import y`` yields both ``X`` and ``X.y``, since ``y`` may be a submodule.
    Relative imports are resolved against ``module``. Imports anywhere count,
    including inside functions and ``if TYPE_CHECKING:`` blocks.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                keep = len(parts) - (node.level - 1)
                assert keep > 0, f"relative import escapes the package in {module}"
                base = ".".join(parts[:keep])
                if node.module:
                    base = f"{base}.{node.module}"
            else:
                assert node.module is not None
                base = node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def imports_of(path: Path) -> set[str]:
    return imported_names(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


def is_within(name: str, targets: set[str]) -> bool:
    return any(name == target or name.startswith(target + ".") for target in targets)


# -- the checker checks what it should -------------------------------------------------


def test_checker_sees_every_form_of_import() -> None:
    source = "\n".join(
        [
            "import trio",
            "import trio_websocket as tw",
            "from wsproto.events import Ping",
            "import os.path",
            "def later():",
            "    from trio import lowlevel",
            "from ._errors import RelayError",
            "from . import _convert",
        ]
    )
    found = imported_names(source, f"{PACKAGE}._protocol")
    assert {"trio", "trio_websocket", "wsproto.events", "os.path", "trio.lowlevel"} <= found
    assert f"{PACKAGE}._errors" in found
    assert f"{PACKAGE}._convert" in found


def test_checker_resolves_imports_from_the_testing_package() -> None:
    sources = {
        "from .._protocol import RelaySession": f"{PACKAGE}._protocol",
        "from .. import _routing": f"{PACKAGE}._routing",
        f"from {PACKAGE} import _protocol": f"{PACKAGE}._protocol",
        f"import {PACKAGE}._routing": f"{PACKAGE}._routing",
        f"from {PACKAGE}._protocol import scrub": f"{PACKAGE}._protocol",
    }
    for source, expected in sources.items():
        found = imported_names(source, f"{PACKAGE}.testing._session")
        assert is_within(expected, found), source
        assert any(is_within(name, CLIENT_ONLY) for name in found), source
    init = imported_names("from .._routing import EventRouter", f"{PACKAGE}.testing", True)
    assert f"{PACKAGE}._routing" in init
    harmless = imported_names("from ._frames import new_node_id", f"{PACKAGE}.testing._session")
    assert not any(is_within(name, CLIENT_ONLY) for name in harmless)


# -- the package ------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_no_io_library(name: str) -> None:
    path = PACKAGE_DIR / f"{name}.py"
    assert path.is_file(), f"{path} is missing"
    offending = sorted(n for n in imports_of(path) if n.split(".")[0] in IO_LIBRARIES)
    assert not offending, f"{name}.py imports {offending}"


@pytest.mark.parametrize("name", CORE)
def test_core_module_reaches_only_core_modules(name: str) -> None:
    """A core module importing _connection (say) would bring trio in by the back door."""
    path = PACKAGE_DIR / f"{name}.py"
    inside = {n for n in imports_of(path) if n == PACKAGE or n.startswith(PACKAGE + ".")}
    offending = sorted(n for n in inside if not is_within(n, CORE_MODULES))
    # "from ._errors import RelayError" also yields "..._errors.RelayError": within _errors.
    assert not offending, f"{name}.py reaches {offending}"


def test_testing_package_never_imports_the_client_protocol() -> None:
    testing = PACKAGE_DIR / "testing"
    paths = sorted(testing.rglob("*.py"))
    assert paths, f"no modules under {testing}"
    offending = {
        str(path.relative_to(PACKAGE_DIR)): sorted(
            name for name in imports_of(path) if is_within(name, CLIENT_ONLY)
        )
        for path in paths
    }
    offending = {path: names for path, names in offending.items() if names}
    assert not offending, f"the fake server shares client protocol code: {offending}"
