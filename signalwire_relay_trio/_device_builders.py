"""Where a call goes (PSTN, SIP, WebRTC legs) and where its tapped media goes (RTP, WebSocket)."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ._field_rules import (
    FLAG,
    HEADERS,
    OPTIONAL_TEXT,
    REQUIRED_TEXT,
    SECONDS,
    STRINGS,
    Rule,
    headers_to_wire,
    number_rule,
    text_rule,
    to_headers,
    to_tuple,
)
from ._wire_shape import SENT_AS_LIST, sent_as

__all__ = ["Device", "Phone", "RtpDevice", "Sip", "TapDevice", "WebRTC", "WsDevice"]

_SENT_AS_HEADERS = sent_as(headers_to_wire)


@attrs.frozen
class Phone:
    """A PSTN leg; numbers in E.164, `timeout` is the ring time in seconds."""

    to_number: str = attrs.field(validator=text_rule())
    from_number: str = attrs.field(validator=text_rule())
    timeout: float | None = attrs.field(default=None, validator=SECONDS)
    max_duration: float | None = attrs.field(default=None, validator=number_rule(positive=True))
    call_state_url: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    call_state_events: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_tuple, validator=STRINGS, metadata=SENT_AS_LIST
    )


@attrs.frozen
class Sip:
    """A SIP leg; `from_` is ``from`` on the wire, `headers` a mapping or {name, value} list."""

    to: str = attrs.field(validator=text_rule())
    from_: str = attrs.field(validator=text_rule())
    from_name: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    headers: tuple[tuple[str, str], ...] | None = attrs.field(
        default=None, converter=to_headers, validator=HEADERS, metadata=_SENT_AS_HEADERS
    )
    codecs: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_tuple, validator=STRINGS, metadata=SENT_AS_LIST
    )
    webrtc_media: bool | None = attrs.field(default=None, validator=FLAG)
    session_timeout: int | None = attrs.field(default=None, validator=number_rule(integer=True))
    timeout: float | None = attrs.field(default=None, validator=SECONDS)
    max_duration: float | None = attrs.field(default=None, validator=number_rule(positive=True))
    call_state_url: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    call_state_events: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_tuple, validator=STRINGS, metadata=SENT_AS_LIST
    )


@attrs.frozen
class WebRTC:
    """A WebRTC leg addressed by resource; `from_` is ``from`` on the wire."""

    to: str = attrs.field(validator=text_rule())
    from_: str = attrs.field(validator=text_rule())
    timeout: float | None = attrs.field(default=None, validator=SECONDS)
    headers: tuple[tuple[str, str], ...] | None = attrs.field(
        default=None, converter=to_headers, validator=HEADERS, metadata=_SENT_AS_HEADERS
    )


@attrs.frozen
class RtpDevice:
    """Send tapped media as RTP to `addr`:`port`; `ptime` is the packet time in ms."""

    addr: str = attrs.field(validator=text_rule())
    port: int = attrs.field(
        validator=number_rule(optional=False, integer=True, positive=True, top=65535)
    )
    codec: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    ptime: int | None = attrs.field(
        default=None, validator=number_rule(integer=True, positive=True)
    )


def _check_ws_uri(where: str, value: Any) -> None:
    REQUIRED_TEXT.check(where, value)
    if not value.startswith(("ws://", "wss://")):
        raise ValueError(f"{where} must be a ws:// or wss:// URI, got {value!r}")


@attrs.frozen
class WsDevice:
    """Send tapped media over a WebSocket; `rate` is the sample rate in Hz."""

    uri: str = attrs.field(validator=Rule(_check_ws_uri))
    codec: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    rate: int | None = attrs.field(default=None, validator=number_rule(integer=True, positive=True))


Device: TypeAlias = Phone | Sip | WebRTC
TapDevice: TypeAlias = RtpDevice | WsDevice
