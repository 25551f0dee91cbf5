"""Builders or the reference's dicts in, the nested wire form out: what commands send.

Every command accepts a typed builder or the dict the official SDK takes. Both
become the wire form here, once, at the edge: a builder is written by the cattrs
function generated for its class (``_wire_shape``); a dict is first read into the
same builder, so it gets the same checks, and keys this release does not know are
passed through, so newer server options still work. The builders live in
``_media_builders``, ``_device_builders``, ``_input_builders`` and
``_pay_builders``; they are re-exported here, the typed-model layer's one import.
Nothing here imports trio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from ._device_builders import Device, Phone, RtpDevice, Sip, TapDevice, WebRTC, WsDevice
from ._field_rules import FLAG, HEADERS, SECONDS, headers_to_wire, to_headers
from ._input_builders import (
    DetectConfig,
    DigitDetect,
    Digits,
    FaxDetect,
    MachineDetect,
    RecordAudio,
    Speech,
    TapAudio,
)
from ._media_builders import RINGTONES, Audio, MediaItem, Ringtone, Silence, Tts
from ._pay_builders import PayAction, PayParameter, PayPrompt, PayPromptAction
from ._wire_shape import WireShape, wire_shape

__all__ = [
    "RINGTONES",
    "Audio",
    "DetectConfig",
    "Device",
    "DigitDetect",
    "Digits",
    "FaxDetect",
    "MachineDetect",
    "MediaItem",
    "PayAction",
    "PayParameter",
    "PayPrompt",
    "PayPromptAction",
    "Phone",
    "RecordAudio",
    "Ringtone",
    "RtpDevice",
    "Silence",
    "Sip",
    "Speech",
    "TapAudio",
    "TapDevice",
    "Tts",
    "WebRTC",
    "WsDevice",
    "collect_config_to_wire",
    "collect_to_wire",
    "detect_to_wire",
    "device_to_wire",
    "devices_to_wire",
    "drop_none",
    "media_to_wire",
    "pay_parameters_to_wire",
    "pay_prompts_to_wire",
    "record_audio_to_wire",
    "refer_device_to_wire",
    "tap_device_to_wire",
    "tap_to_wire",
]

_DeviceLike: TypeAlias = Device | Mapping[str, Any]


def drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of `mapping` without its None values (None means "not sent")."""
    return {k: v for k, v in mapping.items() if v is not None}


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


@attrs.frozen
class _TypedFamily:
    """Builders sent as ``{"type", "params"}`` objects, one wire type per builder class.

    `passed_through` names wire types with no builder here (connect-only bridges,
    Agora): their dicts are sent as given, without None values.
    """

    what: str
    by_class: dict[type, tuple[str, WireShape[Any]]]
    by_type: dict[str, WireShape[Any]]
    passed_through: frozenset[str]

    @classmethod
    def of(
        cls, what: str, builders: Mapping[str, type[Any]], passed_through: Iterable[str] = ()
    ) -> _TypedFamily:
        by_type: dict[str, WireShape[Any]] = {
            kind: wire_shape(builder) for kind, builder in builders.items()
        }
        by_class = {shape.cls: (kind, shape) for kind, shape in by_type.items()}
        return cls(what, by_class, by_type, frozenset(passed_through))

    def to_wire(self, item: object) -> dict[str, Any]:
        """One ``{"type", "params"}`` wire object from a builder or either dict form."""
        built = self.by_class.get(type(item))
        if built is not None:
            kind, shape = built
            return {"type": kind, "params": shape.write(item)}
        if isinstance(item, Mapping):
            kind, params = _split_typed(item, self.what)
            typed = self.by_type.get(kind)
            if typed is not None:
                return {"type": kind, "params": typed.validate(params, f"{self.what} {kind!r}")}
            if kind in self.passed_through:
                return {"type": kind, "params": drop_none(params)}
            known = ", ".join(sorted([*self.by_type, *self.passed_through]))
            raise ValueError(f"unknown {self.what} type {kind!r}; expected one of {known}")
        names = ", ".join(shape.cls.__name__ for shape in self.by_type.values())
        raise TypeError(f"a {self.what} must be {names} or a dict, got {type(item).__name__}")


_MEDIA = _TypedFamily.of(
    "media item", {"tts": Tts, "audio": Audio, "silence": Silence, "ringtone": Ringtone}
)
_DEVICES = _TypedFamily.of(
    "device", {"phone": Phone, "sip": Sip, "webrtc": WebRTC}, ("agora", "call", "queue")
)
_DETECTS = _TypedFamily.of(
    "detect", {"machine": MachineDetect, "fax": FaxDetect, "digit": DigitDetect}
)
_TAPS = _TypedFamily.of("tap", {"audio": TapAudio})
_TAP_DEVICES = _TypedFamily.of("tap device", {"rtp": RtpDevice, "ws": WsDevice})

_DIGITS = wire_shape(Digits)
_SPEECH = wire_shape(Speech)
_RECORD_AUDIO = wire_shape(RecordAudio)
_PAY_PROMPT = wire_shape(PayPrompt)
_PAY_PARAMETER = wire_shape(PayParameter)


def _flat(item: object, shape: WireShape[Any], what: str) -> dict[str, Any]:
    """A builder sent as a plain object (no type): the builder itself or its wire dict."""
    if type(item) is shape.cls:
        return shape.write(item)
    if isinstance(item, Mapping):
        return shape.validate(item, what)
    raise TypeError(f"{what} must be {shape.cls.__name__} or a dict, got {type(item).__name__}")


def _items(value: object, single: tuple[type, ...], what: str) -> Iterable[Any]:
    """Let a lone item stand for a list of one."""
    if isinstance(value, single):
        return (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    return value


_MEDIA_SINGLE = (Mapping, Tts, Audio, Silence, Ringtone)


def media_to_wire(
    media: Iterable[MediaItem | Mapping[str, Any]] | MediaItem | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The ``play`` list: builders or dicts, nested or flat, one item or many.

    Raises ValueError for an empty list, a dict without ``type``, an unknown type or
    a missing required field, and TypeError for something that is not a media item.
    """
    out = [_MEDIA.to_wire(item) for item in _items(media, _MEDIA_SINGLE, "media")]
    if not out:
        raise ValueError("media must hold at least one item")
    return out


def device_to_wire(device: Device | Mapping[str, Any]) -> dict[str, Any]:
    """One device object; ``agora``/``call``/``queue`` dicts are passed through."""
    return _DEVICES.to_wire(device)


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
            matrix.append([_DEVICES.to_wire(entry)])
            continue
        group = [_DEVICES.to_wire(d) for d in _items(entry, (), "a device group")]
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
        return _DEVICES.to_wire(device)
    if not isinstance(device, Mapping):
        raise TypeError(f"a refer device must be Sip or a dict, got {type(device).__name__}")
    kind, params = _split_typed(device, "refer device")
    if kind != "sip":
        raise ValueError(f"a refer device must be of type 'sip', got {kind!r}")
    out = drop_none(params)
    if not out.get("to") and not out.get("uri"):
        raise ValueError(f"refer device is missing 'to': {dict(device)!r}")
    if "headers" in out:
        pairs = to_headers(out["headers"])
        HEADERS.check("refer device 'headers'", pairs)
        out["headers"] = headers_to_wire(pairs)
    return {"type": "sip", "params": out}


_COLLECT_FLAGS = (
    ("initial_timeout", SECONDS),
    ("partial_results", FLAG),
    ("continuous", FLAG),
    ("send_start_of_input", FLAG),
    ("start_input_timers", FLAG),
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
        out["digits"] = _flat(digits, _DIGITS, "collect digits")
    if speech is not None:
        out["speech"] = _flat(speech, _SPEECH, "collect speech")
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
    return _flat(audio, _RECORD_AUDIO, "record audio")


def detect_to_wire(detect: DetectConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The ``detect`` object: a builder, or ``{"type", "params"}`` (or its flat form)."""
    return _DETECTS.to_wire(detect)


def tap_to_wire(tap: TapAudio | Mapping[str, Any]) -> dict[str, Any]:
    """The ``tap`` object; a dict without ``direction`` gets ``both``, as TapAudio() does."""
    return _TAPS.to_wire(tap)


def tap_device_to_wire(device: TapDevice | Mapping[str, Any]) -> dict[str, Any]:
    """Where tapped media goes: an RTP or WebSocket endpoint."""
    return _TAP_DEVICES.to_wire(device)


def pay_prompts_to_wire(
    prompts: Iterable[PayPrompt | Mapping[str, Any]] | PayPrompt | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """``calling.pay`` prompts: PayPrompt builders or dicts keyed as on the wire."""
    return [
        _flat(p, _PAY_PROMPT, "pay prompt")
        for p in _items(prompts, (PayPrompt, Mapping), "prompts")
    ]


def pay_parameters_to_wire(
    parameters: Mapping[str, str] | Iterable[PayParameter | Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``calling.pay`` parameters: ``{name: value}`` or a list of PayParameter/{name, value}."""
    if isinstance(parameters, Mapping):
        if set(parameters) == {"name", "value"}:
            raise ValueError("put a single {'name', 'value'} parameter in a list")
        return [_PAY_PARAMETER.write(PayParameter(k, v)) for k, v in parameters.items()]
    return [_flat(p, _PAY_PARAMETER, "pay parameter") for p in _items(parameters, (), "parameters")]
