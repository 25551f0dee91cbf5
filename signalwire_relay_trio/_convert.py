"""The one private cattrs converter, with the lenient hooks the RELAY wire needs.

The server (and the SDKs that inspired the fake one) are sloppy: numbers come as
strings (``"500"``, ``"2"``), booleans as ``"true"``, and a null stands for an
absent field. These hooks accept all of that, but refuse values that cannot mean
anything (a list where a string belongs), so a broken event is rejected with a
message naming the field instead of being smuggled through as ``"[1, 2]"``.

Also here, because they are about the wire rather than any one model:
``WireModel`` (a class generated once, able to read attributes from nested wire
objects), ``WireEnum`` (string enums that tolerate unknown values), and
``scrub`` (wire data rendered without credentials).

Everything here is pure Python: no trio, no I/O. Structuring functions are
generated once per class so the hot path does no reflection; so are the
builders' unstructuring functions, made in ``_wire_shape`` with this converter.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

__all__ = [
    "REDACTED",
    "SECRET_KEYS",
    "FieldError",
    "StructureFn",
    "WireEnum",
    "WireModel",
    "converter",
    "describe_structure_error",
    "make_structure_fn",
    "scrub",
    "scrubbed_repr",
    "secret_repr",
    "to_bool",
    "to_float",
    "to_int",
    "to_object",
    "to_str",
    "to_str_list",
]

T = TypeVar("T")
E = TypeVar("E", bound="WireEnum")

#: A generated structuring function: ``fn(mapping, cls) -> instance``.
StructureFn = Callable[[Mapping[str, Any], type[T]], T]

#: The converter: events are structured with it (``WireModel``, unknown keys
#: ignored) and the typed builders unstructured (``_wire_shape`` generates and
#: registers a hook per builder class).
converter = cattrs.Converter(forbid_extra_keys=False)


class WireEnum(str, enum.Enum):
    """A string enum whose unknown values map to ``UNKNOWN`` instead of raising.

    Subclasses must define an ``UNKNOWN`` member. Members compare equal to their
    wire strings and format as them (``f"{CallState.ENDED}" == "ended"``), like
    Python 3.11's ``StrEnum``, which 3.10 lacks.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            member = cls._value2member_map_.get(value.lower())
            if member is not None:
                return member
        return cls.__members__.get("UNKNOWN")

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


def _kind(value: object) -> str:
    """A JSON-ish name for a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def to_str(value: object, _type: object = None) -> str:
    """A string; numbers are accepted and rendered (``404`` -> ``"404"``)."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_kind(value)}")


def to_int(value: object, _type: object = None) -> int:
    """An integer; accepts numeric strings and floats (a fraction is truncated)."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    raise ValueError(f"expected an integer, got {_kind(value)}")


def to_float(value: object, _type: object = None) -> float:
    """A number; accepts numeric strings (``"1.5"`` -> ``1.5``)."""
    if type(value) is float:
        return value
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    raise ValueError(f"expected a number, got {_kind(value)}")


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}


def to_bool(value: object, _type: object = None) -> bool:
    """A boolean; accepts ``"true"``/``"false"`` (any case) and 0/1."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        word = _BOOL_WORDS.get(value.strip().lower())
        if word is not None:
            return word
        raise ValueError(f"expected a boolean, got {value!r}")
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean, got {_kind(value)}")


def to_object(value: object, _type: object = None) -> dict[str, Any]:
    """A JSON object, returned as is (no copy: events are read-only views)."""
    if type(value) is dict:
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"expected an object, got {_kind(value)}")


def to_str_list(value: object, _type: object = None) -> list[str]:
    """A list of strings; null means empty, a lone string means one item."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        if type(value) is list and all(type(item) is str for item in value):
            return value
        return [to_str(item) for item in value]
    raise ValueError(f"expected an array of strings, got {_kind(value)}")


_BASE_HOOKS: dict[Any, Callable[[object, object], Any]] = {
    str: to_str,
    int: to_int,
    float: to_float,
    bool: to_bool,
    dict[str, Any]: to_object,
    list[str]: to_str_list,
}


def _enum_hook(cls: type[E]) -> Callable[[object, object], E]:
    """A fast enum lookup: a dict hit on the hot path, ``_missing_`` otherwise."""
    table: dict[str, E] = {member.value: member for member in cls}

    def structure(value: object, _type: object = None) -> E:
        if type(value) is str:
            member = table.get(value)
            if member is not None:
                return member
            return cls(value)
        return cls(to_str(value))

    return structure


def _base_hook(tp: Any) -> Callable[[object, object], Any] | None:
    try:
        hook = _BASE_HOOKS.get(tp)
    except TypeError:  # an unhashable typing construct: not one of ours
        return None
    if hook is None and isinstance(tp, type) and issubclass(tp, WireEnum):
        hook = _enum_hook(tp)
    return hook


def _optional_arg(tp: Any) -> Any:
    """``X`` for ``X | None`` (either spelling), else ``None``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(tp)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def _is_lenient(tp: Any) -> bool:
    inner = _optional_arg(tp)
    return _base_hook(tp if inner is None else inner) is not None


def _lenient_factory(tp: Any) -> Callable[[object, object], Any]:
    inner = _optional_arg(tp)
    if inner is None:
        hook = _base_hook(tp)
        assert hook is not None
        return hook
    base = _base_hook(inner)
    assert base is not None

    def structure_optional(value: object, _type: object = None) -> Any:
        return None if value is None else base(value, inner)

    return structure_optional


converter.register_structure_hook_factory(_is_lenient, _lenient_factory)


def make_structure_fn(cls: type[T], **overrides: Any) -> StructureFn[T]:
    """Generate the structuring function for an attrs class, once.

    ``overrides`` maps attribute names to a wire key (a plain string, as
    ``override(rename=...)``) or to a full cattrs ``override``. Unknown keys are
    ignored; errors are detailed so ``describe_structure_error`` can name the
    failing field.
    """
    resolved = {
        name: override(rename=spec) if isinstance(spec, str) else spec
        for name, spec in overrides.items()
    }
    # The overrides are keyword arguments named after attributes; mypy cannot tell
    # them from the function's own boolean options, hence the cast.
    make = cast("Callable[..., StructureFn[T]]", make_dict_structure_fn)
    return make(
        cls,
        converter,
        _cattrs_forbid_extra_keys=False,
        _cattrs_detailed_validation=True,
        **resolved,
    )


def describe_structure_error(exc: BaseException) -> tuple[str | None, BaseException]:
    """Find the first failing attribute in a cattrs error and the error behind it.

    Returns ``(dotted attribute path or None, leaf exception)``. Used to turn a
    cattrs exception group into one plain ``ValueError`` with a useful message.
    """
    path: list[str] = []
    current = exc
    while True:
        for note in getattr(current, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path.append(note.name)
                break
        inner = getattr(current, "exceptions", None)
        if not inner:
            break
        current = inner[0]
    return (".".join(path) or None), current


class FieldError(ValueError):
    """One wire field could not be structured; ``field`` is its wire key or dotted path."""

    def __init__(self, field: str, reason: object) -> None:
        super().__init__(f"field {field!r}: {reason}")
        self.field = field
        self.reason = reason


# One flattening step: (key in the nested object, key in the merged dict, fallback?).
# With fallback set the value is used only if the merged dict has none of its own.
_Leaf = tuple[str, str, bool]
_Plan = tuple[tuple[tuple[str, ...], tuple[_Leaf, ...]], ...]


def _flatten(merged: dict[str, Any], plan: _Plan) -> None:
    """Copy nested wire values (``result.params.digits``...) to flat keys of ``merged``."""
    for path, leaves in plan:
        node: Any = merged
        for depth, key in enumerate(path):
            node = node.get(key)
            if node is None:
                break
            if type(node) is not dict:
                try:
                    node = to_object(node)
                except ValueError as exc:
                    raise FieldError(".".join(path[: depth + 1]), exc) from None
        else:
            for leaf, target, fallback in leaves:
                if leaf in node and not (fallback and merged.get(target) is not None):
                    merged[target] = node[leaf]


# What a value of each field type already is when no coercion is needed.
_EXACT: dict[Any, type] = {str: str, int: int, float: float, bool: bool, dict[str, Any]: dict}

FastStructureFn = Callable[[Mapping[str, Any]], T]


def _field_reader(field: Any, spec: Any, number: int, namespace: dict[str, Any]) -> list[str]:
    """Source lines that set ``v<number>`` to one field's value, read from the dict ``o``."""
    key, hook = field.name, None
    if isinstance(spec, str):
        key = spec
    elif spec is not None:
        key, hook = spec.rename or key, spec.struct_hook
    value, call = f"v{number}", f"h{number}(v{number}, t{number})"
    namespace[f"t{number}"] = field.type
    if hook is None:
        namespace[f"h{number}"] = converter.get_structure_hook(field.type)
        inner = _optional_arg(field.type)
        exact = _EXACT.get(field.type if inner is None else inner)
        needs_hook = "True" if exact is None else f"type({value}) is not {exact.__name__}"
    else:
        namespace[f"h{number}"] = hook
        needs_hook = "True"
    default = field.default
    if default is attrs.NOTHING:
        return [f"    {value} = o[{key!r}]", f"    if {needs_hook}: {value} = {call}"]
    if default is None:
        return [
            f"    {value} = o.get({key!r})",
            f"    if {value} is not None and ({needs_hook}): {value} = {call}",
        ]
    factory = getattr(default, "factory", None)
    namespace[f"d{number}"] = default if factory is None else factory
    made = f"d{number}" if factory is None else f"d{number}()"
    return [
        f"    {value} = o.get({key!r}, NOTHING)",
        f"    {value} = {made} if {value} is NOTHING else {call}",
    ]


def _fast_structure_fn(cls: type[T], overrides: Mapping[str, Any]) -> FastStructureFn[T]:
    """A straight-line structuring function for ``cls``: the hot path of ``WireModel.build``.

    Each field is read with one lookup, and a hook is called only when the
    value is not already of the field's type (cattrs' generated function
    calls two per field). Coercions and defaults are the converter's; any
    error is left to the detailed cattrs function to report, by field.
    """
    namespace: dict[str, Any] = {"cls": cls, "NOTHING": attrs.NOTHING}
    lines = ["def build(o):"]
    resolved: Any = attrs.resolve_types(cast(Any, cls))
    fields = attrs.fields(resolved)
    for number, field in enumerate(fields):
        lines += _field_reader(field, overrides.get(field.name), number, namespace)
    arguments = ", ".join(f"{field.name}=v{number}" for number, field in enumerate(fields))
    lines.append(f"    return cls({arguments})")
    source = "\n".join(lines)
    exec(compile(source, f"<wire model {cls.__qualname__}>", "exec"), namespace)
    built: FastStructureFn[T] = namespace["build"]
    return built


@attrs.frozen
class WireModel(Generic[T]):
    """How to build one attrs class from a flat wire dict, generated once.

    Attributes may be read from nested objects: ``nested`` maps an attribute to
    the dotted wire path it always comes from (``"result.params.digits"``), and
    ``fallback`` maps an attribute to a path read only when the top-level key is
    absent. ``build`` raises only ``FieldError``.
    """

    cls: type[T]
    structure: StructureFn[T]
    plan: _Plan
    wire_names: dict[str, str]
    fast: FastStructureFn[T]

    @classmethod
    def create(
        cls,
        target: type[T],
        nested: Mapping[str, str] | None = None,
        fallback: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> WireModel[T]:
        groups: dict[tuple[str, ...], list[_Leaf]] = {}
        for attr, wire_path in (nested or {}).items():
            *parents, leaf = wire_path.split(".")
            groups.setdefault(tuple(parents), []).append((leaf, wire_path, False))
            overrides[attr] = wire_path
        for attr, wire_path in (fallback or {}).items():
            *parents, leaf = wire_path.split(".")
            groups.setdefault(tuple(parents), []).append((leaf, attr, True))
        plan = tuple((path, tuple(leaves)) for path, leaves in groups.items())
        names = {attr: wire for attr, wire in overrides.items() if isinstance(wire, str)}
        fast = _fast_structure_fn(target, overrides)
        return cls(target, make_structure_fn(target, **overrides), plan, names, fast)

    def build(self, merged: dict[str, Any]) -> T:
        """Structure ``merged`` (which may be extended with flattened keys)."""
        if self.plan:
            _flatten(merged, self.plan)
        try:
            return self.fast(merged)
        except Exception:
            pass
        try:
            return self.structure(merged, self.cls)
        except ClassValidationError as exc:
            attr, cause = describe_structure_error(exc)
            field = self.wire_names.get(attr, attr) if attr else "?"
            raise FieldError(field, cause) from cause


# --- Rendering wire data without credentials -----------------------------------------

SECRET_KEYS = frozenset(
    {
        "authorization_state",
        "token",
        "jwt_token",
        "dpop_token",
        "password",
        "post_prompt_auth_password",
        "project",
        "project_id",
        "identity",
        "payment_token",
        "authorization_bearer_token",
    }
)
REDACTED = "<redacted>"


def scrub(value: object) -> object:
    """A copy of ``value`` with credential-named keys masked, at any depth."""
    if isinstance(value, Mapping):
        return {key: REDACTED if key in SECRET_KEYS else scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def scrubbed_repr(value: object) -> str:
    """``repr`` of wire data with credentials masked (for attrs ``field(repr=...)``)."""
    return repr(scrub(value))


def secret_repr(value: object) -> str:
    """``repr`` of a secret value: only whether it is set."""
    return "None" if value is None else repr(REDACTED)
