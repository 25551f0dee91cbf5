"""Import direction, checked on the source with ``ast`` (STYLE.md, "Layout").

* The sans-I/O core never imports trio, trio_websocket or wsproto, and reaches only
  other core modules inside the package, so trio cannot creep in through a neighbour.
* The trio layer is one ordered stack (``TRIO_LAYER``, ARCHITECTURE.md): a module
  imports only the core and the modules below it, type-only imports included.
* No import cycle anywhere in the package, ``testing/`` included.
* The fake server in ``testing/`` never imports the client's ``_protocol`` or
  ``_routing``: one shared bug must not be able to hide on both sides.
* No module of the package imports trio_websocket: it is a test-only dependency
  (the tests' independent WebSocket oracle), absent from an installed package.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
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
    "_params",
    "_json",
    "_shared_values",
]
CORE_MODULES = {f"{PACKAGE}.{name}" for name in CORE}
# The trio layer, bottom to top: each module may import the core and those before it.
TRIO_LAYER = [
    "_groups",
    "_socket",
    "_state",
    "_tls",
    "_transport",
    "_requests",
    "_link",
    "_hosts",
    "_subscriptions",
    "_actions",
    "_action_kinds",
    "_call_tasks",
    "_call_base",
    "_call_media",
    "_one_shot",
    "_call",
    "_message",
    "_connection_events",
    "_registry",
    "_dial",
    "_inbound",
    "_dispatch",
    "_connection",
    "_open",
    "_client",
]
# Above the trio layer: the package's face, the command line and the metrics.
PUBLIC = [
    "__init__",
    "__main__",
    "_demo",
    "_cli",
    "_runner",
    "_workers",
    "_fake_run",
    "_metrics_http",
    "metrics",
]
IO_LIBRARIES = {"trio", "trio_websocket", "wsproto"}
CLIENT_ONLY = {f"{PACKAGE}._protocol", f"{PACKAGE}._routing", f"{PACKAGE}._framing"}
TEST_ONLY_LIBRARIES = {"trio_websocket"}


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


def offending_imports(directory: Path, is_offending: Callable[[str], bool]) -> dict[str, list[str]]:
    """Per module under ``directory`` (named from the package), the imports it should not have."""
    paths = sorted(directory.rglob("*.py"))
    assert paths, f"no modules under {directory}"
    found = {
        str(path.relative_to(PACKAGE_DIR)): sorted(filter(is_offending, imports_of(path)))
        for path in paths
    }
    return {path: names for path, names in found.items() if names}


def test_testing_package_never_imports_the_client_protocol() -> None:
    offending = offending_imports(
        PACKAGE_DIR / "testing", lambda name: is_within(name, CLIENT_ONLY)
    )
    assert not offending, f"the fake server shares client protocol code: {offending}"


def test_no_package_module_imports_a_test_only_library() -> None:
    """trio_websocket is only in the ``test`` extra: no module (fake included) may need it."""
    offending = offending_imports(PACKAGE_DIR, lambda name: is_within(name, TEST_ONLY_LIBRARIES))
    assert not offending, f"modules import a test-only library: {offending}"


@pytest.mark.parametrize("position", range(len(TRIO_LAYER)))
def test_trio_layer_imports_point_down(position: int) -> None:
    """A module of the trio layer imports the core and the modules below it, nothing above."""
    name = TRIO_LAYER[position]
    allowed = CORE_MODULES | {f"{PACKAGE}.{below}" for below in TRIO_LAYER[:position]}
    inside = {n for n in imports_of(PACKAGE_DIR / f"{name}.py") if n.startswith(PACKAGE + ".")}
    offending = sorted(n for n in inside if not is_within(n, allowed))
    assert not offending, f"{name}.py reaches up to {offending}"


def test_every_package_module_is_placed_in_a_layer() -> None:
    """A new module must be given its place, or the rule above would not see it."""
    placed = set(CORE) | set(TRIO_LAYER) | set(PUBLIC)
    modules = {path.stem for path in PACKAGE_DIR.glob("*.py")}
    assert modules == placed


def package_import_graph() -> dict[str, set[str]]:
    """Module name -> the package modules it imports (names of submodules resolved).

    ``from . import _module`` loads the package first, but only to reach the
    submodule: it is not an edge to the package's ``__init__``.
    """
    paths = {module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found = imports_of(path)
        edges = {other for other in paths if other != name and other in found}
        for package in list(edges):
            children = {n for n in found if n.rpartition(".")[0] == package}
            if children and children <= paths.keys():
                edges.discard(package)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_the_package() -> None:
    """Type-only and function-level imports count: a cycle is a cycle."""
    graph = package_import_graph()
    # A package imports its own submodules; only imports between modules form cycles.
    for name in graph:
        graph[name] = {other for other in graph[name] if not other.startswith(name + ".")}
    assert find_cycle(graph) is None
