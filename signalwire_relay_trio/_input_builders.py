"""What a call listens for: collect (digits, speech), record, detect and tap settings."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from ._field_rules import (
    DIRECTIONS,
    DTMF_TEXT,
    FLAG,
    OPTIONAL_DIRECTION,
    OPTIONAL_TEXT,
    SECONDS,
    STRINGS,
    number_rule,
    text_rule,
    to_tuple,
)
from ._wire_shape import SENT_AS_LIST

__all__ = [
    "DetectConfig",
    "DigitDetect",
    "Digits",
    "FaxDetect",
    "MachineDetect",
    "RecordAudio",
    "Speech",
    "TapAudio",
]


@attrs.frozen
class Digits:
    """DTMF input: up to `max` digits, ended early by a `terminators` key."""

    max: int = attrs.field(validator=number_rule(optional=False, integer=True, positive=True))
    digit_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    terminators: str | None = attrs.field(default=None, validator=DTMF_TEXT)


@attrs.frozen
class Speech:
    """Speech recognition; `hints` are phrases the recogniser should expect."""

    end_silence_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    speech_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    language: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    hints: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_tuple, validator=STRINGS, metadata=SENT_AS_LIST
    )
    model: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    engine: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)


@attrs.frozen
class RecordAudio:
    """The ``record.audio`` settings; every field left None uses the server default."""

    beep: bool | None = attrs.field(default=None, validator=FLAG)
    format: str | None = attrs.field(
        default=None, validator=text_rule(optional=True, choices=("mp3", "wav"))
    )
    stereo: bool | None = attrs.field(default=None, validator=FLAG)
    direction: str | None = attrs.field(default=None, validator=OPTIONAL_DIRECTION)
    initial_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    end_silence_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    terminators: str | None = attrs.field(default=None, validator=DTMF_TEXT)
    input_sensitivity: float | None = attrs.field(default=None, validator=SECONDS)


@attrs.frozen
class MachineDetect:
    """Answering-machine detection; None leaves the server's tuning in place."""

    initial_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    end_silence_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    machine_ready_timeout: float | None = attrs.field(default=None, validator=SECONDS)
    machine_voice_threshold: float | None = attrs.field(default=None, validator=SECONDS)
    machine_words_threshold: float | None = attrs.field(default=None, validator=SECONDS)
    detect_interruptions: bool | None = attrs.field(default=None, validator=FLAG)
    detect_message_end: bool | None = attrs.field(default=None, validator=FLAG)


@attrs.frozen
class FaxDetect:
    """Fax tone detection: ``CED`` (answering fax, the default) or ``CNG`` (calling fax)."""

    tone: str | None = attrs.field(
        default=None, validator=text_rule(optional=True, choices=("CED", "CNG"))
    )


@attrs.frozen
class DigitDetect:
    """DTMF detection, limited to `digits` when given."""

    digits: str | None = attrs.field(default=None, validator=DTMF_TEXT)


@attrs.frozen
class TapAudio:
    """What to tap: ``listen`` (heard by the caller), ``speak`` (said by them) or ``both``."""

    direction: str = attrs.field(default="both", validator=text_rule(choices=DIRECTIONS))


DetectConfig: TypeAlias = MachineDetect | FaxDetect | DigitDetect
