"""Sphinx configuration for the signalwire_relay_trio documentation.

Build it (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the package from this checkout, installed or not

import signalwire_relay_trio  # noqa: E402

project = "signalwire_relay_trio"
author = "signalwire_relay_trio developers"
copyright = "signalwire_relay_trio developers"
release = signalwire_relay_trio.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
    "relay_docs",  # docs/_ext/relay_docs.py: offline-safe intersphinx, `autoall`
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"signalwire_relay_trio {release}"
html_static_path: list[str] = []

# -- autodoc ---------------------------------------------------------------
# Public classes have their __module__ set to the package they are exported
# from, so they are documented (and cross-referenced) as
# ``signalwire_relay_trio.Call``, never by their private module.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
# Defaults as values (``reconnect=True``), not as the expression that made them.
autodoc_preserve_defaults = False
autodoc_class_signature = "mixed"
autodoc_default_options = {
    # Members come from private mixins too (Call's media commands, the actions'
    # pause/resume); those of these public or foreign classes are documented on
    # their own page or not ours, so they are not repeated on every subclass.
    "inherited-members": (
        "object,str,int,Enum,ReprEnum,Exception,BaseException,TooSlowError,"
        "RelayError,RelayEvent,Action"
    ),
}
# Objects the library makes for you: no constructor signature (``relay_docs``).
relay_hide_signature = {
    f"signalwire_relay_trio.{name}"
    for name in [
        "Call",
        "Message",
        "RelayConnection",
        "EventStream",
        "ActionStart",
        "Action",
        "PlayAction",
        "RecordAction",
        "CollectAction",
        "StandaloneCollectAction",
        "DetectAction",
        "TapAction",
        "StreamAction",
        "FaxAction",
        "PayAction",
        "TranscribeAction",
        "AIAction",
    ]
} | {
    f"signalwire_relay_trio.testing.{name}"
    for name in ("FakeRelay", "FakeCall", "Journal", "FakeOperation")
}

# -- intersphinx ------------------------------------------------------------
# Links into the docs of trio, attrs, cattrs, pytest and Python.
#
# The catch: CI (and many build machines) have no internet, and Sphinx turns
# an inventory it cannot fetch into a *warning* ("failed to reach any of the
# inventories"), which ``-W`` makes fatal. Timeouts or
# ``intersphinx_disabled_reftypes`` do not change that, and the inventories
# cannot be vendored (they are other projects' build products, and they go
# stale). So ``relay_docs`` resolves each inventory *before* intersphinx
# loads anything (on ``config-inited``):
#
# * it downloads ``objects.inv`` once (short timeout) into
#   ``docs/_build/intersphinx/`` and keeps it for a week, then points
#   intersphinx at that local file, with the site URL below as the link
#   target: online, every link works exactly as with a plain mapping;
# * an inventory it cannot get is dropped from the mapping with an info line
#   (not a warning). Its references then render as plain code, unlinked;
#   they cannot fail the build because the build is not nitpicky.
#
# ``SIGNALWIRE_DOCS_INTERSPHINX`` chooses the policy: ``auto`` (the default,
# as above; ``.ci/run`` uses it, so CI passes offline and links when online),
# ``require`` (a missing inventory stops the build: use it for a published
# site, so it never ships without its links) or ``off`` (no network at all).
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", None),
    "trio": ("https://trio.readthedocs.io/en/stable/", None),
    "attrs": ("https://www.attrs.org/en/stable/", None),
    "cattrs": ("https://catt.rs/en/stable/", None),
    "pytest": ("https://docs.pytest.org/en/stable/", None),
}
relay_intersphinx_policy = os.environ.get("SIGNALWIRE_DOCS_INTERSPHINX", "auto")
relay_intersphinx_cache = str(DOCS / "_build" / "intersphinx")
intersphinx_timeout = 10
