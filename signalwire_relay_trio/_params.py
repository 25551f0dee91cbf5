"""Request params from a method's named arguments and the caller's extra keywords.

The official SDK passes unknown keyword arguments of a command into its
params, so code written for it may carry keys this library does not name.
They go on the wire as given, unless a named argument sets the same key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["merge_params", "wire_string"]


def merge_params(named: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``named`` (its None values left out) over ``extra``, checked for JSON.

    Raises ``TypeError`` naming the first extra key whose value cannot be
    sent as JSON, before anything is sent.
    """
    params: dict[str, Any] = {}
    for key, value in extra.items():
        if value is None:
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"extra argument {key}={value!r} cannot be sent as JSON: {exc}"
            ) from None
        params[key] = value
    for key, value in named.items():
        if value is not None:
            params[key] = value
    return params


def wire_string(value: object) -> str | None:
    """RELAY's pay/AI schemas type scalars as strings: ``True`` → ``"true"``, 3 → ``"3"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
