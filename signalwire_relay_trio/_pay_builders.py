"""What ``call.pay()`` sends besides its plain options: custom prompts and connector parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._field_rules import OPTIONAL_TEXT, Rule, number_rule, text_rule
from ._wire_shape import sent_as, wire_shape

__all__ = ["PayAction", "PayParameter", "PayPrompt", "PayPromptAction"]


@attrs.frozen
class PayPromptAction:
    """One step of a custom pay prompt: ``Say`` a text or ``Play`` an audio URL."""

    type: str = attrs.field(validator=text_rule(choices=("Say", "Play")))
    phrase: str = attrs.field(validator=text_rule())


# The planned name. The package root cannot export it: API.md's PayAction is the action
# class that call.pay() returns, so the root should export PayPromptAction only.
PayAction = PayPromptAction

_ACTION = wire_shape(PayPromptAction)


def _to_actions(value: Iterable[PayPromptAction | Mapping[str, Any]]) -> Any:
    """A tuple of actions from builders or wire dicts; a lone action is a list of one."""
    raw: object = value
    if isinstance(raw, (PayPromptAction, Mapping)):
        raw = (raw,)
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        return raw  # the field's rule names the field in its error
    actions: list[object] = []
    for item in raw:
        if isinstance(item, Mapping):
            item, unknown = _ACTION.read(item, "pay prompt action")
            if unknown:
                raise ValueError(f"pay prompt action has unknown keys {sorted(unknown)}")
        actions.append(item)
    return tuple(actions)


def _check_actions(where: str, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(a, PayPromptAction) for a in value):
        raise TypeError(f"{where} must be a list of PayPromptAction or dicts, got {value!r}")
    if not value:
        raise ValueError(f"{where} must hold at least one action")


def _actions_to_wire(actions: tuple[PayPromptAction, ...]) -> list[dict[str, Any]]:
    return [_ACTION.write(action) for action in actions]


_POSITIVE_INTEGER = number_rule(integer=True, positive=True)


def _check_attempts(where: str, value: Any) -> None:
    """The server takes attempts as a string; a positive integer is sent as one."""
    if value is None or (isinstance(value, str) and value):
        return
    _POSITIVE_INTEGER.check(where, value)


@attrs.frozen
class PayPrompt:
    """A custom prompt for one pay step; `for_` (``for`` on the wire) names the step."""

    for_: str = attrs.field(validator=text_rule())
    actions: tuple[PayPromptAction, ...] = attrs.field(
        converter=_to_actions, validator=Rule(_check_actions), metadata=sent_as(_actions_to_wire)
    )
    card_type: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    error_type: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    attempts: str | int | None = attrs.field(
        default=None, validator=Rule(_check_attempts), metadata=sent_as(str)
    )


@attrs.frozen
class PayParameter:
    """A name/value pair handed to the payment connector."""

    name: str = attrs.field(validator=text_rule())
    value: str = attrs.field(validator=text_rule())
