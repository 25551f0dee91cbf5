"""The checks and input converters shared by the typed builders' fields.

A builder validates when it is made, so a bad value fails where it was written,
with the builder and field in the message (``Silence.duration must be ...``),
rather than as a server error later. The same rules check the loose keyword
arguments of ``collect_to_wire`` and the headers of a REFER device dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "DIRECTIONS",
    "DTMF_TEXT",
    "FLAG",
    "HEADERS",
    "OPTIONAL_DIRECTION",
    "OPTIONAL_TEXT",
    "REQUIRED_TEXT",
    "SECONDS",
    "STRINGS",
    "Rule",
    "headers_to_wire",
    "number_rule",
    "text_rule",
    "to_headers",
    "to_tuple",
]

DIRECTIONS = ("listen", "speak", "both")
_DTMF = frozenset("0123456789*#ABCDabcd")


class Rule:
    """One field check, usable as an attrs validator and on a bare value."""

    __slots__ = ("_test",)

    def __init__(self, test: Callable[[str, Any], None]) -> None:
        self._test = test

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        self._test(f"{type(inst).__name__}.{attr.name}", value)

    def check(self, where: str, value: Any) -> None:
        """Check `value`, naming it `where` in the error."""
        self._test(where, value)


def text_rule(
    *, optional: bool = False, choices: Collection[str] = (), chars: Collection[str] = ()
) -> Rule:
    """A non-empty string, optionally one of `choices` or made of `chars` only."""

    def test(where: str, value: Any) -> None:
        if value is None:
            if optional:
                return
            raise ValueError(f"{where} is required")
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, got {value!r}")
        if not value:
            raise ValueError(f"{where} must not be empty")
        if choices and value not in choices:
            raise ValueError(f"{where} must be one of {', '.join(choices)}; got {value!r}")
        if chars and not set(value) <= set(chars):
            raise ValueError(f"{where} may only hold DTMF characters 0-9 * # A-D; got {value!r}")

    return Rule(test)


def number_rule(
    *, optional: bool = True, integer: bool = False, positive: bool = False, top: float = math.inf
) -> Rule:
    """A finite number from zero (or above it, when `positive`) up to `top`; never a bool."""
    kind = "integer" if integer else "number"
    sign = "positive" if positive else "non-negative"
    limit = "" if top == math.inf else f" up to {top:g}"

    def test(where: str, value: Any) -> None:
        if value is None:
            if optional:
                return
            raise ValueError(f"{where} is required")
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if not ok_type or isinstance(value, bool):
            raise TypeError(f"{where} must be a {kind}, got {value!r}")
        if not math.isfinite(value) or not 0 <= value <= top or (positive and value == 0):
            raise ValueError(f"{where} must be a {sign} {kind}{limit}; got {value!r}")

    return Rule(test)


def _type_rule(ok: Callable[[Any], bool], expected: str) -> Rule:
    """A type check for an optional field: None passes, anything else must satisfy `ok`."""

    def test(where: str, value: Any) -> None:
        if value is not None and not ok(value):
            raise TypeError(f"{where} must be {expected}, got {value!r}")

    return Rule(test)


def _is_header(pair: object) -> bool:
    return isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)


FLAG = _type_rule(lambda v: isinstance(v, bool), "True or False")
STRINGS = _type_rule(
    lambda v: isinstance(v, tuple) and all(isinstance(s, str) and s for s in v),
    "a list of non-empty strings",
)
HEADERS = _type_rule(
    lambda v: isinstance(v, tuple) and all(_is_header(h) and h[0] for h in v),
    "a mapping of header names to string values",
)
SECONDS = number_rule()
REQUIRED_TEXT = text_rule()
OPTIONAL_TEXT = text_rule(optional=True)
OPTIONAL_DIRECTION = text_rule(optional=True, choices=DIRECTIONS)
DTMF_TEXT = text_rule(optional=True, chars=_DTMF)


def to_tuple(value: Iterable[Any] | str | None) -> Any:
    """Freeze a list so the builder stays hashable; a lone string is a list of one."""
    if value is None or isinstance(value, tuple):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        return value  # the field's rule names the field in its error
    return tuple(value)


def to_headers(value: Mapping[str, str] | Iterable[Mapping[str, str]] | None) -> Any:
    """Headers as a mapping or the wire's list of {name, value}, kept as pairs."""
    raw: object = value
    if raw is None or isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        return raw  # the field's rule names the field in its error
    if isinstance(raw, Mapping):
        return tuple(raw.items())
    pairs: list[object] = []
    for item in raw:
        if isinstance(item, Mapping):
            pairs.append((item.get("name"), item.get("value")))
        else:
            pairs.append(tuple(item) if isinstance(item, list) else item)
    return tuple(pairs)


def headers_to_wire(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """The wire's header list, from the pairs `to_headers` keeps."""
    return [{"name": name, "value": value} for name, value in pairs]
