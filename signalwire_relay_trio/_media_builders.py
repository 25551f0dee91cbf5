"""What a call plays: text to speech, audio files, silence and ringtones."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from ._field_rules import OPTIONAL_TEXT, number_rule, text_rule

__all__ = ["RINGTONES", "Audio", "MediaItem", "Ringtone", "Silence", "Tts"]

# The ringtone country codes the server knows (§5.2 of the protocol notes).
# fmt: off
RINGTONES = frozenset((
    "at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es", "fi",
    "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no", "nz", "ph",
    "pl", "pt", "ru", "se", "sg", "th", "uk", "us", "tw", "ve", "za",
))
# fmt: on


@attrs.frozen
class Tts:
    """Text to speech; `voice` names an engine voice (e.g. ``"Polly.Joanna"``)."""

    text: str = attrs.field(validator=text_rule())
    language: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    gender: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)
    voice: str | None = attrs.field(default=None, validator=OPTIONAL_TEXT)


@attrs.frozen
class Audio:
    """An audio file the server fetches over http(s)."""

    url: str = attrs.field(validator=text_rule())


@attrs.frozen
class Silence:
    """A pause of `duration` seconds."""

    duration: float = attrs.field(validator=number_rule(optional=False, positive=True))


@attrs.frozen
class Ringtone:
    """A country's ringback tone; `name` is a code from `RINGTONES`."""

    name: str = attrs.field(validator=text_rule(choices=sorted(RINGTONES)))
    duration: float | None = attrs.field(default=None, validator=number_rule(positive=True))


MediaItem: TypeAlias = Tts | Audio | Silence | Ringtone
