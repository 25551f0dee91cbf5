"""Checking what a control API request carries: a JSON object body and its fields.

Every check raises :class:`BadInput` naming the field, which the control API
turns into ``400 {"error": ..., "field": ...}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

__all__ = ["MAX_WAIT", "BadInput", "Fields", "parse_body"]

JSON = dict[str, Any]

#: The longest a control request may wait (``timeout`` fields), in seconds.
MAX_WAIT = 300.0


class BadInput(Exception):
    """A control request's body (or one of its fields) is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_json(self) -> JSON:
        body: JSON = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


def parse_body(data: bytes) -> JSON:
    """The body as a JSON object; an empty body is ``{}``."""
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise BadInput("the body is not UTF-8") from None
    except ValueError as exc:
        raise BadInput(f"malformed JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise BadInput(f"the body must be a JSON object, not {type(value).__name__}")
    return value


class Fields:
    """The fields of one request body, taken one by one; unknown ones are refused."""

    def __init__(self, body: JSON, known: Collection[str]) -> None:
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise BadInput(
                f"unknown field {unknown[0]!r} (expected some of {sorted(known)})", unknown[0]
            )
        self._body = body

    def string(self, key: str, *, default: str | None = None, empty: bool = False) -> str:
        """A string field; required unless ``default`` is given."""
        value = self._body.get(key)
        if value is None:
            if default is None:
                raise BadInput(f"{key} is required", key)
            return default
        if not isinstance(value, str):
            raise BadInput(f"{key} must be a string, not {type(value).__name__}", key)
        if not value and not empty:
            raise BadInput(f"{key} must not be empty", key)
        return value

    def optional_string(self, key: str) -> str | None:
        value = self._body.get(key)
        return None if value is None else self.string(key)

    def choice(self, key: str, choices: Collection[str]) -> str:
        value = self.string(key)
        if value not in choices:
            raise BadInput(f"{key} must be one of {sorted(choices)}, not {value!r}", key)
        return value

    def number(self, key: str, *, default: float | None = None, maximum: float = math.inf) -> float:
        """A finite number in ``[0, maximum]``; required unless ``default`` is given."""
        value = self._body.get(key)
        if value is None:
            if default is None:
                raise BadInput(f"{key} is required", key)
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"{key} must be a number, not {type(value).__name__}", key)
        number = float(value)
        if not math.isfinite(number) or number < 0 or number > maximum:
            raise BadInput(f"{key} must be between 0 and {maximum:g}, not {value!r}", key)
        return number

    def strings(self, key: str) -> list[str]:
        """An optional array of strings (``[]`` when absent)."""
        value = self._body.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BadInput(f"{key} must be an array of strings", key)
        return value
