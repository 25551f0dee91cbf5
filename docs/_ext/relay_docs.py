"""Local Sphinx extension for the signalwire_relay_trio docs.

Two things Sphinx does not do out of the box:

* **Offline-safe intersphinx** (``relay_intersphinx_policy``): each inventory
  of ``intersphinx_mapping`` is fetched once into a local cache and handed to
  intersphinx as a file; one that cannot be fetched is dropped (policy
  ``auto``), stops the build (``require``), or is never tried (``off``).
  ``docs/conf.py`` explains why.
* **Constants without a docstring** show none, rather than the docstring of
  their type (autodoc would print ``str``'s for every event type name).
* **``.. autoall:: module``**: documents every name of ``module.__all__``
  (classes with their members, functions, data), so a name added to the
  package shows up in the reference without editing a page. ``:exclude:``
  skips names documented elsewhere; ``:optional:`` renders nothing when the
  module itself does not exist (yet), instead of failing the build;
  ``:module-docstring:`` shows the module's docstring first.
* **``.. command-help:: ARGS``**: the output of ``python ARGS`` (a ``--help``),
  run at build time, so the CLI page shows the options the code has.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import os
import shlex
import subprocess
import sys
import time
import typing
import urllib.request
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

_POLICIES = ("auto", "require", "off")
_CACHE_DAYS = 7


# -- intersphinx ---------------------------------------------------------------


def _fetch(url: str, target: Path, timeout: float) -> Path:
    request = urllib.request.Request(url, headers={"User-Agent": "sphinx (relay_docs)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read()
    if not data.startswith(b"# Sphinx inventory version"):
        raise ValueError(f"{url} is not a Sphinx inventory")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _local_inventory(name: str, base_url: str, cache: Path, timeout: float) -> Path:
    """A fresh local copy of ``base_url``'s objects.inv (cached for a week)."""
    target = cache / f"{name}.inv"
    if target.is_file() and time.time() - target.stat().st_mtime < _CACHE_DAYS * 86400:
        return target
    try:
        return _fetch(base_url.rstrip("/") + "/objects.inv", target, timeout)
    except Exception:
        if target.is_file():  # stale beats nothing
            return target
        raise


def _resolve_intersphinx(app: Sphinx, config: Config) -> None:
    policy = config.relay_intersphinx_policy
    if policy not in _POLICIES:
        raise ConfigError(
            f"SIGNALWIRE_DOCS_INTERSPHINX must be one of {', '.join(_POLICIES)}, got {policy!r}"
        )
    mapping: dict[str, Any] = dict(config.intersphinx_mapping)
    if policy == "off":
        logger.info("intersphinx: off (SIGNALWIRE_DOCS_INTERSPHINX=off); no external links")
        config.intersphinx_mapping = {}
        return
    cache = Path(config.relay_intersphinx_cache)
    timeout = float(config.intersphinx_timeout or 10)
    resolved: dict[str, Any] = {}
    missing: list[str] = []
    with concurrent.futures.ThreadPoolExecutor() as pool:
        futures = {
            name: pool.submit(_local_inventory, name, entry[0], cache, timeout)
            for name, entry in mapping.items()
        }
        for name, future in futures.items():
            try:
                resolved[name] = (mapping[name][0], str(future.result()))
            except Exception as exc:
                missing.append(f"{name} ({mapping[name][0]}): {exc}")
    if missing and policy == "require":
        raise ConfigError("intersphinx inventories unavailable:\n  " + "\n  ".join(missing))
    for line in missing:
        logger.info("intersphinx: no inventory for %s; its references stay unlinked", line)
    config.intersphinx_mapping = resolved


# -- autoall ---------------------------------------------------------------------


class AutoAll(SphinxDirective):
    """``.. autoall:: package.module``: autodoc every name in its ``__all__``."""

    required_arguments = 1
    option_spec = {
        "exclude": directives.unchanged,
        "optional": directives.flag,
        "module-docstring": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = isinstance(exc, ModuleNotFoundError) and exc.name == module_name
            if "optional" in self.options and missing:
                logger.info("autoall: %s does not exist; nothing to document", module_name)
                return []
            raise self.error(f"autoall: cannot import {module_name}: {exc!r}") from exc
        excluded = set((self.options.get("exclude") or "").split())
        lines: list[str] = []
        if "module-docstring" in self.options:
            lines += [f".. automodule:: {module_name}", "   :no-inherited-members:", ""]
        for name in module.__all__:
            if name in excluded:
                continue
            obj = getattr(module, name)
            target = f"{module_name}.{name}"
            if inspect.isclass(obj):
                lines += [f".. autoclass:: {target}", "   :members:", ""]
            elif inspect.isroutine(obj):
                lines += [f".. autofunction:: {target}", ""]
            else:
                lines += [f".. autodata:: {target}", ""]
        content = StringList(lines, source=self.get_source_info()[0])
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, content, container)
        return container.children


# -- data docstrings ---------------------------------------------------------------


def _drop_type_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """A constant has no docstring of its own: do not show its type's (``str``'s...)."""
    if what == "data" and getattr(obj, "__doc__", None) == getattr(type(obj), "__doc__", None):
        lines.clear()


# -- signatures and bases ---------------------------------------------------------


def _hide_constructor(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """Objects the library makes for you show no constructor (``relay_hide_signature``)."""
    if what in ("class", "exception") and name in app.config.relay_hide_signature:
        return "", None
    return None


def _is_public(cls: type) -> bool:
    module = getattr(cls, "__module__", "")
    private_module = any(part.startswith("_") for part in module.split("."))
    return not private_module and not cls.__name__.startswith("_") and cls is not object


def _public_bases(app: Sphinx, name: str, obj: type, options: Any, bases: list[Any]) -> None:
    """Show public ancestors only: a private helper class gives way to its own bases."""

    def public(base: Any) -> list[Any]:
        origin = typing.get_origin(base) or base  # Action[PlayEvent] -> Action
        if origin is typing.Generic or origin is object or not isinstance(origin, type):
            return []
        if _is_public(origin):
            return [base]
        return [b for parent in origin.__bases__ for b in public(parent)]

    shown: list[Any] = []
    for base in bases:
        shown += [b for b in public(base) if b not in shown]
    bases[:] = shown


# -- command-line help -------------------------------------------------------------


class CommandHelp(SphinxDirective):
    """``.. command-help:: -m signalwire_relay_trio run --help``: the output, run now.

    The CLI's options are documented by the CLI itself, so this page can never
    list an option the code does not have (or miss one it does).
    """

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        args = shlex.split(self.arguments[0])
        env = {**os.environ, "COLUMNS": "88", "PYTHONPATH": str(Path(self.env.srcdir).parent)}
        try:
            done = subprocess.run(
                [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env
            )
        except subprocess.TimeoutExpired as exc:
            raise self.error(f"command-help: {args} did not finish") from exc
        if done.returncode != 0:
            raise self.error(f"command-help: {args} exited {done.returncode}: {done.stderr}")
        shown = "$ python " + " ".join(args) + "\n" + done.stdout.rstrip()
        block = nodes.literal_block(shown, shown)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.intersphinx")
    app.setup_extension("sphinx.ext.autodoc")
    app.add_config_value("relay_intersphinx_policy", "auto", "env", [str])
    app.add_config_value("relay_intersphinx_cache", "_build/intersphinx", "env", [str])
    # intersphinx normalises its mapping at config-inited, priority 800: run first.
    app.connect("config-inited", _resolve_intersphinx, priority=400)
    app.add_directive("autoall", AutoAll)
    app.add_directive("command-help", CommandHelp)
    app.connect("autodoc-process-docstring", _drop_type_docstring)
    app.add_config_value("relay_hide_signature", frozenset(), "env", [frozenset, set, list])
    app.connect("autodoc-process-signature", _hide_constructor)
    app.connect("autodoc-process-bases", _public_bases)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
