"""How a typed builder is written to the wire and read back from a wire-keyed dict.

Writing goes through the package's one cattrs converter: each builder class gets
an unstructure function generated once, which leaves None fields off the wire
(None means "not sent"), renames ``from_``/``for_`` to the wire's ``from``/``for``
and applies the hook a field declares with `sent_as` (a tuple sent as a list,
header pairs as {name, value} objects). It is also registered on the converter,
so ``converter.unstructure(builder)`` gives the same dict.

Reading a user's dict is a key lookup rather than cattrs structuring on purpose:
the builder's validators must see each value as given (the converter's lenient
event hooks would accept ``"5"`` for 5), keys the builder does not know are kept
so they can be passed through, and a None value counts as absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, cast

import attrs
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from ._convert import converter

__all__ = ["SENT_AS_LIST", "WireShape", "sent_as", "wire_shape"]

B = TypeVar("B", bound=attrs.AttrsInstance)

_HOOK_KEY = "signalwire_relay_trio.sent_as"


def sent_as(hook: Callable[[Any], Any]) -> dict[str, Any]:
    """attrs field metadata: the field's value goes on the wire as ``hook(value)``."""
    return {_HOOK_KEY: hook}


SENT_AS_LIST = sent_as(list)


def _wire_key(field: attrs.Attribute[Any]) -> str:
    """``from_`` is ``from`` on the wire: the underscore only dodges the keyword."""
    return field.name.rstrip("_")


@attrs.frozen
class WireShape(Generic[B]):
    """One builder class's wire form; make it with `wire_shape`, which caches it."""

    cls: type[B]
    write: Callable[[B], dict[str, Any]]
    attr_names: dict[str, str]  # wire key -> attribute name
    required: tuple[tuple[str, str], ...]  # (attribute, wire key) of fields without a default

    @classmethod
    def generate(cls, builder: type[B]) -> WireShape[B]:
        fields = attrs.fields(builder)
        overrides = {
            field.name: override(
                rename=_wire_key(field),
                omit_if_default=field.default is None,
                unstruct_hook=field.metadata.get(_HOOK_KEY, identity),
            )
            for field in fields
        }
        # The overrides are keyword arguments named after attributes; mypy cannot tell
        # them from the function's own boolean options, hence the cast.
        make = cast("Callable[..., Callable[[B], dict[str, Any]]]", make_dict_unstructure_fn)
        write = make(builder, converter, **overrides)
        converter.register_unstructure_hook(builder, write)
        required = tuple(
            (field.name, _wire_key(field)) for field in fields if field.default is attrs.NOTHING
        )
        names = {_wire_key(field): field.name for field in fields}
        return cls(builder, write, names, required)

    def read(self, params: Mapping[str, Any], what: str) -> tuple[B, dict[str, Any]]:
        """The builder made from wire-keyed `params`, and the keys it does not know.

        Raises ValueError naming the missing keys, or whatever the builder's
        validators raise for a bad value.
        """
        kwargs: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, value in params.items():
            if value is None:
                continue
            name = self.attr_names.get(key)
            if name is None:
                unknown[key] = value
            else:
                kwargs[name] = value
        missing = [key for name, key in self.required if name not in kwargs]
        if missing:
            raise ValueError(f"{what} is missing {', '.join(map(repr, missing))}: {dict(params)!r}")
        return self.cls(**kwargs), unknown

    def validate(self, params: Mapping[str, Any], what: str) -> dict[str, Any]:
        """`params` checked by the builder and written back; unknown keys pass through."""
        built, unknown = self.read(params, what)
        out = self.write(built)
        if unknown:
            out.update(unknown)
        return out


_SHAPES: dict[type, WireShape[Any]] = {}


def wire_shape(builder: type[B]) -> WireShape[B]:
    """The wire form of a builder class, generated on first use."""
    shape = _SHAPES.get(builder)
    if shape is None:
        shape = _SHAPES[builder] = WireShape.generate(builder)
    return shape
