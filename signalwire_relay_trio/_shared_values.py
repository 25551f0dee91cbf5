"""Call facts shared between calls: one string object for a value many calls repeat.

JSON decoding makes new strings for every event; a process holding
thousands of calls would otherwise keep thousands of copies of the same few
node ids, project ids, contexts and device keys.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["same_string", "shared_device", "shared_string"]


def shared_string(value: Any) -> Any:
    """One string object for a value many calls repeat (node, project, context).

    JSON decoding makes a new string per event; a process holding thousands
    of calls would otherwise keep thousands of copies of the same few values.
    """
    return sys.intern(value) if isinstance(value, str) else value


def shared_device(device: Any) -> dict[str, Any] | None:
    """A copy of a device dict with its keys and strings shared (see :func:`shared_string`).

    JSON decoding gives every event fresh key strings too; a device is kept
    for the call's whole life, so it is worth rebuilding once.
    """
    return _shared_value(device) if isinstance(device, dict) else None


def _shared_value(value: Any, depth: int = 3) -> Any:
    """``value`` with its strings shared, down to ``depth`` levels (devices are shallow)."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict) and depth:
        return {sys.intern(key): _shared_value(item, depth - 1) for key, item in value.items()}
    return value


def same_string(value: Any, known: str | None) -> Any:
    """``known`` itself when ``value`` equals it, so the call holds one string, not two."""
    return known if value == known else value
