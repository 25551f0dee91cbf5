"""Typed builders for what a call sends, and the coercion of the reference's dicts.

Every command accepts a builder from this module or the dict the official SDK takes.
Both become the nested wire form here, once, at the edge. Builders validate when
they are made, so a bad value fails where it was written rather than as a server
error later. Dicts go through the same builders, so they get the same checks; keys
this release does not know are passed through, so newer server options still work.
Nothing here imports trio.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

# The ringtone country codes the server knows (§5.2 of the protocol notes).
# fmt: off
RINGTONES = frozenset((
    "at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es", "fi",
    "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no", "nz", "ph",
    "pl", "pt", "ru", "se", "sg", "th", "uk", "us", "tw", "ve", "za",
))
# fmt: on
_DTMF = frozenset("0123456789*#ABCDabcd")
_DIRECTIONS = ("listen", "speak", "both")


# --- field rules -----------------------------------------------------------------
class _Rule:
    """One field check, usable as an attrs validator and on a bare value."""

    __slots__ = ("_test",)

    def __init__(self, test: Callable[[str, Any], None]) -> None:
        self._test = test

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
        self._test(f"{type(inst).__name__}.{attr.name}", value)

    def check(self, where: str, value: Any) -> None:
        self._test(where, value)


def _text(
    *, optional: bool = False, choices: Collection[str] = (), chars: Collection[str] = ()
) -> _Rule:
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

    return _Rule(test)


def _number(
    *, optional: bool = True, integer: bool = False, positive: bool = False, top: float = math.inf
) -> _Rule:
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

    return _Rule(test)


def _shape(ok: Callable[[Any], bool], expected: str) -> _Rule:
    """A type check for an optional field: None passes, anything else must satisfy `ok`."""

    def test(where: str, value: Any) -> None:
        if value is not None and not ok(value):
            raise TypeError(f"{where} must be {expected}, got {value!r}")

    return _Rule(test)


def _is_header(pair: object) -> bool:
    return isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)


_FLAG = _shape(lambda v: isinstance(v, bool), "True or False")
_STRINGS = _shape(
    lambda v: isinstance(v, tuple) and all(isinstance(s, str) and s for s in v),
    "a list of non-empty strings",
)
_HEADERS = _shape(
    lambda v: isinstance(v, tuple) and all(_is_header(h) and h[0] for h in v),
    "a mapping of header names to string values",
)
_SECONDS = _number()
_REQUIRED_TEXT = _text()
_OPT_TEXT = _text(optional=True)
_DIRECTION = _text(optional=True, choices=_DIRECTIONS)
_DTMF_TEXT = _text(optional=True, chars=_DTMF)


def _to_tuple(value: Iterable[Any] | str | None) -> Any:
    """Freeze a list so the builder stays hashable; a lone string is a list of one."""
    if value is None or isinstance(value, tuple):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        return value  # the field's rule names the field in its error
    return tuple(value)


def _to_headers(value: Mapping[str, str] | Iterable[Mapping[str, str]] | None) -> Any:
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


def _headers_wire(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


_WIRE = "wire"  # metadata key: how a field's value is written on the wire
_AS_LIST = {_WIRE: list}
_AS_HEADERS = {_WIRE: _headers_wire}


# --- media -----------------------------------------------------------------------
@attrs.frozen
class Tts:
    """Text to speech; `voice` names an engine voice (e.g. ``"Polly.Joanna"``)."""

    text: str = attrs.field(validator=_text())
    language: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    gender: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    voice: str | None = attrs.field(default=None, validator=_OPT_TEXT)


@attrs.frozen
class Audio:
    """An audio file the server fetches over http(s)."""

    url: str = attrs.field(validator=_text())


@attrs.frozen
class Silence:
    """A pause of `duration` seconds."""

    duration: float = attrs.field(validator=_number(optional=False, positive=True))


@attrs.frozen
class Ringtone:
    """A country's ringback tone; `name` is a code from `RINGTONES`."""

    name: str = attrs.field(validator=_text(choices=sorted(RINGTONES)))
    duration: float | None = attrs.field(default=None, validator=_number(positive=True))


# --- devices ---------------------------------------------------------------------
@attrs.frozen
class Phone:
    """A PSTN leg; numbers in E.164, `timeout` is the ring time in seconds."""

    to_number: str = attrs.field(validator=_text())
    from_number: str = attrs.field(validator=_text())
    timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    max_duration: float | None = attrs.field(default=None, validator=_number(positive=True))
    call_state_url: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    call_state_events: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_tuple, validator=_STRINGS, metadata=_AS_LIST
    )


@attrs.frozen
class Sip:
    """A SIP leg; `from_` is ``from`` on the wire, `headers` a mapping or {name, value} list."""

    to: str = attrs.field(validator=_text())
    from_: str = attrs.field(validator=_text())
    from_name: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    headers: tuple[tuple[str, str], ...] | None = attrs.field(
        default=None, converter=_to_headers, validator=_HEADERS, metadata=_AS_HEADERS
    )
    codecs: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_tuple, validator=_STRINGS, metadata=_AS_LIST
    )
    webrtc_media: bool | None = attrs.field(default=None, validator=_FLAG)
    session_timeout: int | None = attrs.field(default=None, validator=_number(integer=True))
    timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    max_duration: float | None = attrs.field(default=None, validator=_number(positive=True))
    call_state_url: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    call_state_events: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_tuple, validator=_STRINGS, metadata=_AS_LIST
    )


@attrs.frozen
class WebRTC:
    """A WebRTC leg addressed by resource; `from_` is ``from`` on the wire."""

    to: str = attrs.field(validator=_text())
    from_: str = attrs.field(validator=_text())
    timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    headers: tuple[tuple[str, str], ...] | None = attrs.field(
        default=None, converter=_to_headers, validator=_HEADERS, metadata=_AS_HEADERS
    )


# --- collect, record, detect -----------------------------------------------------
@attrs.frozen
class Digits:
    """DTMF input: up to `max` digits, ended early by a `terminators` key."""

    max: int = attrs.field(validator=_number(optional=False, integer=True, positive=True))
    digit_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    terminators: str | None = attrs.field(default=None, validator=_DTMF_TEXT)


@attrs.frozen
class Speech:
    """Speech recognition; `hints` are phrases the recogniser should expect."""

    end_silence_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    speech_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    language: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    hints: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_tuple, validator=_STRINGS, metadata=_AS_LIST
    )
    model: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    engine: str | None = attrs.field(default=None, validator=_OPT_TEXT)


@attrs.frozen
class RecordAudio:
    """The ``record.audio`` settings; every field left None uses the server default."""

    beep: bool | None = attrs.field(default=None, validator=_FLAG)
    format: str | None = attrs.field(
        default=None, validator=_text(optional=True, choices=("mp3", "wav"))
    )
    stereo: bool | None = attrs.field(default=None, validator=_FLAG)
    direction: str | None = attrs.field(default=None, validator=_DIRECTION)
    initial_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    end_silence_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    terminators: str | None = attrs.field(default=None, validator=_DTMF_TEXT)
    input_sensitivity: float | None = attrs.field(default=None, validator=_SECONDS)


@attrs.frozen
class MachineDetect:
    """Answering-machine detection; None leaves the server's tuning in place."""

    initial_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    end_silence_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    machine_ready_timeout: float | None = attrs.field(default=None, validator=_SECONDS)
    machine_voice_threshold: float | None = attrs.field(default=None, validator=_SECONDS)
    machine_words_threshold: float | None = attrs.field(default=None, validator=_SECONDS)
    detect_interruptions: bool | None = attrs.field(default=None, validator=_FLAG)
    detect_message_end: bool | None = attrs.field(default=None, validator=_FLAG)


@attrs.frozen
class FaxDetect:
    """Fax tone detection: ``CED`` (answering fax, the default) or ``CNG`` (calling fax)."""

    tone: str | None = attrs.field(
        default=None, validator=_text(optional=True, choices=("CED", "CNG"))
    )


@attrs.frozen
class DigitDetect:
    """DTMF detection, limited to `digits` when given."""

    digits: str | None = attrs.field(default=None, validator=_DTMF_TEXT)


# --- tap -------------------------------------------------------------------------
@attrs.frozen
class TapAudio:
    """What to tap: ``listen`` (heard by the caller), ``speak`` (said by them) or ``both``."""

    direction: str = attrs.field(default="both", validator=_text(choices=_DIRECTIONS))


@attrs.frozen
class RtpDevice:
    """Send tapped media as RTP to `addr`:`port`; `ptime` is the packet time in ms."""

    addr: str = attrs.field(validator=_text())
    port: int = attrs.field(
        validator=_number(optional=False, integer=True, positive=True, top=65535)
    )
    codec: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    ptime: int | None = attrs.field(default=None, validator=_number(integer=True, positive=True))


def _ws_uri_test(where: str, value: Any) -> None:
    _REQUIRED_TEXT.check(where, value)
    if not value.startswith(("ws://", "wss://")):
        raise ValueError(f"{where} must be a ws:// or wss:// URI, got {value!r}")


@attrs.frozen
class WsDevice:
    """Send tapped media over a WebSocket; `rate` is the sample rate in Hz."""

    uri: str = attrs.field(validator=_Rule(_ws_uri_test))
    codec: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    rate: int | None = attrs.field(default=None, validator=_number(integer=True, positive=True))


# --- pay -------------------------------------------------------------------------
@attrs.frozen
class PayPromptAction:
    """One step of a custom pay prompt: ``Say`` a text or ``Play`` an audio URL."""

    type: str = attrs.field(validator=_text(choices=("Say", "Play")))
    phrase: str = attrs.field(validator=_text())


# The planned name. The package root cannot export it: API.md's PayAction is the action
# class that call.pay() returns, so the root should export PayPromptAction only.
PayAction = PayPromptAction


def _to_pay_actions(value: Iterable[PayPromptAction | Mapping[str, Any]]) -> Any:
    raw: object = value
    if isinstance(raw, (PayPromptAction, Mapping)):
        raw = (raw,)
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        return raw
    actions: list[object] = []
    for item in raw:
        if isinstance(item, Mapping):
            item, extra = _build(PayPromptAction, item, "pay prompt action")
            if extra:
                raise ValueError(f"pay prompt action has unknown keys {sorted(extra)}")
        actions.append(item)
    return tuple(actions)


def _pay_actions_test(where: str, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(a, PayPromptAction) for a in value):
        raise TypeError(f"{where} must be a list of PayPromptAction or dicts, got {value!r}")
    if not value:
        raise ValueError(f"{where} must hold at least one action")


def _attempts_test(where: str, value: Any) -> None:
    if value is None or (isinstance(value, str) and value):
        return
    _number(integer=True, positive=True).check(where, value)


@attrs.frozen
class PayPrompt:
    """A custom prompt for one pay step; `for_` (``for`` on the wire) names the step."""

    for_: str = attrs.field(validator=_text())
    actions: tuple[PayPromptAction, ...] = attrs.field(
        converter=_to_pay_actions,
        validator=_Rule(_pay_actions_test),
        metadata={_WIRE: lambda acts: [{"type": a.type, "phrase": a.phrase} for a in acts]},
    )
    card_type: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    error_type: str | None = attrs.field(default=None, validator=_OPT_TEXT)
    attempts: str | int | None = attrs.field(
        default=None, validator=_Rule(_attempts_test), metadata={_WIRE: str}
    )


@attrs.frozen
class PayParameter:
    """A name/value pair handed to the payment connector."""

    name: str = attrs.field(validator=_text())
    value: str = attrs.field(validator=_text())


MediaItem: TypeAlias = Tts | Audio | Silence | Ringtone
Device: TypeAlias = Phone | Sip | WebRTC
DetectConfig: TypeAlias = MachineDetect | FaxDetect | DigitDetect
TapDevice: TypeAlias = RtpDevice | WsDevice
_DeviceLike: TypeAlias = Device | Mapping[str, Any]


# --- wire specs --------------------------------------------------------------------
@attrs.frozen
class _Spec:
    """How one builder class maps to the wire, computed once from its attrs fields."""

    type: str | None
    fields: tuple[tuple[str, str, Callable[[Any], Any] | None], ...]  # attr, key, conv
    names: dict[str, str]  # wire key -> attr name
    required: tuple[tuple[str, str], ...]  # (attr, key) without a default


def _spec(cls: type, type_name: str | None) -> _Spec:
    fields = tuple((a.name, a.name.rstrip("_"), a.metadata.get(_WIRE)) for a in attrs.fields(cls))
    required = tuple(
        (a.name, a.name.rstrip("_")) for a in attrs.fields(cls) if a.default is attrs.NOTHING
    )
    return _Spec(type_name, fields, {key: name for name, key, _ in fields}, required)


_MEDIA: dict[str, type] = {"tts": Tts, "audio": Audio, "silence": Silence, "ringtone": Ringtone}
_DEVICES: dict[str, type] = {"phone": Phone, "sip": Sip, "webrtc": WebRTC}
_DETECTS: dict[str, type] = {"machine": MachineDetect, "fax": FaxDetect, "digit": DigitDetect}
_TAPS: dict[str, type] = {"audio": TapAudio}
_TAP_DEVICES: dict[str, type] = {"rtp": RtpDevice, "ws": WsDevice}
# Device kinds with no builder here (connect-only bridges, Agora): passed through as given.
_OTHER_DEVICES = frozenset({"agora", "call", "queue"})

_SPECS: dict[type, _Spec] = {
    cls: _spec(cls, name)
    for registry in (_MEDIA, _DEVICES, _DETECTS, _TAPS, _TAP_DEVICES)
    for name, cls in registry.items()
}
_SPECS.update(
    (cls, _spec(cls, None))
    for cls in (Digits, Speech, RecordAudio, PayPromptAction, PayPrompt, PayParameter)
)


def _params(obj: Any, spec: _Spec) -> dict[str, Any]:
    """The wire dict of a builder's fields, leaving out the ones that are None."""
    out: dict[str, Any] = {}
    for name, key, conv in spec.fields:
        value = getattr(obj, name)
        if value is not None:
            out[key] = value if conv is None else conv(value)
    return out


def _build(cls: type, params: Mapping[str, Any], what: str) -> tuple[Any, dict[str, Any]]:
    """Make `cls` from wire-keyed `params`; keys it does not know come back apart."""
    spec = _SPECS[cls]
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        name = spec.names.get(key)
        if name is None:
            extra[key] = value
        else:
            kwargs[name] = value
    missing = [key for name, key in spec.required if name not in kwargs]
    if missing:
        raise ValueError(f"{what} is missing {', '.join(map(repr, missing))}: {dict(params)!r}")
    return cls(**kwargs), extra


def _coerce(cls: type, params: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Validate a wire-keyed dict through its builder; unknown keys pass through."""
    obj, extra = _build(cls, params, what)
    out = _params(obj, _SPECS[cls])
    if extra:
        out.update(extra)
    return out


def _split_typed(item: Mapping[str, Any], what: str) -> tuple[str, Mapping[str, Any]]:
    """Read ``{"type", "params"}`` or the flat ``{"type", **params}`` form."""
    kind = item.get("type")
    if kind is None:
        raise ValueError(f"{what} has no 'type': {dict(item)!r}")
    if not isinstance(kind, str):
        raise TypeError(f"{what} 'type' must be a string, got {kind!r}")
    if "params" not in item:
        return kind, {k: v for k, v in item.items() if k != "type"}
    params = item["params"]
    if len(item) != 2:
        others = sorted(k for k in item if k not in ("type", "params"))
        raise ValueError(f"{what} {kind!r} mixes 'params' with top-level keys {others}")
    if not isinstance(params, Mapping):
        raise TypeError(f"{what} {kind!r}: 'params' must be a dict, got {params!r}")
    return kind, params


def _typed(
    item: object, registry: Mapping[str, type], what: str, other: Collection[str] = ()
) -> dict[str, Any]:
    """One ``{"type", "params"}`` wire object from a builder or either dict form."""
    spec = _SPECS.get(type(item))
    if spec is not None and spec.type is not None and registry.get(spec.type) is type(item):
        return {"type": spec.type, "params": _params(item, spec)}
    if isinstance(item, Mapping):
        kind, params = _split_typed(item, what)
        cls = registry.get(kind)
        if cls is not None:
            return {"type": kind, "params": _coerce(cls, params, f"{what} {kind!r}")}
        if kind in other:
            return {"type": kind, "params": drop_none(params)}
        known = ", ".join(sorted([*registry, *other]))
        raise ValueError(f"unknown {what} type {kind!r}; expected one of {known}")
    names = ", ".join(cls.__name__ for cls in registry.values())
    raise TypeError(f"a {what} must be {names} or a dict, got {type(item).__name__}")


def _flat(item: object, cls: type, what: str) -> dict[str, Any]:
    if type(item) is cls:
        return _params(item, _SPECS[cls])
    if isinstance(item, Mapping):
        return _coerce(cls, item, what)
    raise TypeError(f"{what} must be {cls.__name__} or a dict, got {type(item).__name__}")


def _items(value: object, single: tuple[type, ...], what: str) -> Iterable[Any]:
    """Let a lone item stand for a list of one."""
    if isinstance(value, single):
        return (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    return value


# --- coercion: the functions Call uses ---------------------------------------------
def drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of `mapping` without its None values (None means "not sent")."""
    return {k: v for k, v in mapping.items() if v is not None}


_MEDIA_SINGLE = (Mapping, Tts, Audio, Silence, Ringtone)


def media_to_wire(
    media: Iterable[MediaItem | Mapping[str, Any]] | MediaItem | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The ``play`` list: builders or dicts, nested or flat, one item or many.

    Raises ValueError for an empty list, a dict without ``type``, an unknown type or
    a missing required field, and TypeError for something that is not a media item.
    """
    out = [_typed(item, _MEDIA, "media item") for item in _items(media, _MEDIA_SINGLE, "media")]
    if not out:
        raise ValueError("media must hold at least one item")
    return out


def device_to_wire(device: Device | Mapping[str, Any]) -> dict[str, Any]:
    """One device object; ``agora``/``call``/``queue`` dicts are passed through."""
    return _typed(device, _DEVICES, "device", _OTHER_DEVICES)


_DEVICE_SINGLE = (Mapping, Phone, Sip, WebRTC)


def devices_to_wire(
    devices: _DeviceLike | Iterable[_DeviceLike | Iterable[_DeviceLike]],
) -> list[list[dict[str, Any]]]:
    """The device matrix: serial groups of devices that ring in parallel.

    A lone device becomes ``[[d]]``; in a list, each inner list is a parallel group
    and each bare device a group of its own (as the JS SDK reads it), so a flat list
    ``[A, B]`` tries A, then B. Raises ValueError when the matrix or a group is empty.
    """
    matrix: list[list[dict[str, Any]]] = []
    for entry in _items(devices, _DEVICE_SINGLE, "devices"):
        if isinstance(entry, _DEVICE_SINGLE):
            matrix.append([device_to_wire(entry)])
            continue
        group = [device_to_wire(d) for d in _items(entry, (), "a device group")]
        if not group:
            raise ValueError(f"device group {len(matrix)} is empty")
        matrix.append(group)
    if not matrix:
        raise ValueError("devices must hold at least one device")
    return matrix


def refer_device_to_wire(device: Sip | Mapping[str, Any]) -> dict[str, Any]:
    """The SIP REFER target: a Sip builder, or a dict needing only ``to`` (or ``uri``).

    REFER sends no ``from``, and the reference documents ``uri`` where frames use
    ``to``; either key is passed through as given.
    """
    if isinstance(device, Sip):
        return device_to_wire(device)
    if not isinstance(device, Mapping):
        raise TypeError(f"a refer device must be Sip or a dict, got {type(device).__name__}")
    kind, params = _split_typed(device, "refer device")
    if kind != "sip":
        raise ValueError(f"a refer device must be of type 'sip', got {kind!r}")
    out = drop_none(params)
    if not out.get("to") and not out.get("uri"):
        raise ValueError(f"refer device is missing 'to': {dict(device)!r}")
    if "headers" in out:
        pairs = _to_headers(out["headers"])
        _HEADERS.check("refer device 'headers'", pairs)
        out["headers"] = _headers_wire(pairs)
    return {"type": "sip", "params": out}


_COLLECT_FLAGS = (
    ("initial_timeout", _SECONDS),
    ("partial_results", _FLAG),
    ("continuous", _FLAG),
    ("send_start_of_input", _FLAG),
    ("start_input_timers", _FLAG),
)


def collect_to_wire(
    *,
    digits: Digits | Mapping[str, Any] | None = None,
    speech: Speech | Mapping[str, Any] | None = None,
    initial_timeout: float | None = None,
    partial_results: bool | None = None,
    continuous: bool | None = None,
    send_start_of_input: bool | None = None,
    start_input_timers: bool | None = None,
) -> dict[str, Any]:
    """The collect config (flattened into ``calling.collect``, nested in play_and_collect).

    Raises ValueError when neither `digits` nor `speech` is given.
    """
    if digits is None and speech is None:
        raise ValueError("collect needs digits, speech or both")
    out: dict[str, Any] = {}
    if digits is not None:
        out["digits"] = _flat(digits, Digits, "collect digits")
    if speech is not None:
        out["speech"] = _flat(speech, Speech, "collect speech")
    values = (initial_timeout, partial_results, continuous, send_start_of_input, start_input_timers)
    for (key, rule), value in zip(_COLLECT_FLAGS, values, strict=True):
        if value is not None:
            rule.check(f"collect {key}", value)
            out[key] = value
    return out


_COLLECT_KEYS = frozenset(("digits", "speech", *(key for key, _ in _COLLECT_FLAGS)))


def collect_config_to_wire(collect: Digits | Speech | Mapping[str, Any]) -> dict[str, Any]:
    """play_and_collect's `collect`: the reference's dict, or a Digits/Speech alone."""
    if isinstance(collect, Digits):
        return collect_to_wire(digits=collect)
    if isinstance(collect, Speech):
        return collect_to_wire(speech=collect)
    if not isinstance(collect, Mapping):
        raise TypeError(f"collect must be Digits, Speech or a dict, got {type(collect).__name__}")
    known = {k: v for k, v in collect.items() if k in _COLLECT_KEYS}
    out = collect_to_wire(**known)
    out.update((k, v) for k, v in collect.items() if k not in _COLLECT_KEYS and v is not None)
    return out


def record_audio_to_wire(audio: RecordAudio | Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``record.audio`` object; None gives ``{}`` (the server's defaults)."""
    if audio is None:
        return {}
    return _flat(audio, RecordAudio, "record audio")


def detect_to_wire(detect: DetectConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The ``detect`` object: a builder, or ``{"type", "params"}`` (or its flat form)."""
    return _typed(detect, _DETECTS, "detect")


def tap_to_wire(tap: TapAudio | Mapping[str, Any]) -> dict[str, Any]:
    """The ``tap`` object; a dict without ``direction`` gets ``both``, as TapAudio() does."""
    return _typed(tap, _TAPS, "tap")


def tap_device_to_wire(device: TapDevice | Mapping[str, Any]) -> dict[str, Any]:
    """Where tapped media goes: an RTP or WebSocket endpoint."""
    return _typed(device, _TAP_DEVICES, "tap device")


def pay_prompts_to_wire(
    prompts: Iterable[PayPrompt | Mapping[str, Any]] | PayPrompt | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """``calling.pay`` prompts: PayPrompt builders or dicts keyed as on the wire."""
    return [
        _flat(p, PayPrompt, "pay prompt") for p in _items(prompts, (PayPrompt, Mapping), "prompts")
    ]


def pay_parameters_to_wire(
    parameters: Mapping[str, str] | Iterable[PayParameter | Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``calling.pay`` parameters: ``{name: value}`` or a list of PayParameter/{name, value}."""
    if isinstance(parameters, Mapping):
        if set(parameters) == {"name", "value"}:
            raise ValueError("put a single {'name', 'value'} parameter in a list")
        return [_params(PayParameter(k, v), _SPECS[PayParameter]) for k, v in parameters.items()]
    return [_flat(p, PayParameter, "pay parameter") for p in _items(parameters, (), "parameters")]
