"""The JSON codec seam (``_json``): orjson when present, read and written as json would.

The standard library is the reference: every fixture frame decodes to the
same value either way, and what orjson refuses is handed to json, so the
same input reads, and the same errors are raised, as before.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from signalwire_relay_trio import _json
from signalwire_relay_trio._errors import RemoteProtocolError
from signalwire_relay_trio._protocol import Credentials, RelaySession

FRAMES = sorted((Path(__file__).parent / "fixtures" / "frames").glob("*.json"))


@pytest.fixture
def stdlib_codec(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``_json`` as a process without orjson builds it (then the real one again)."""
    monkeypatch.setitem(sys.modules, "orjson", None)
    yield importlib.reload(_json)
    monkeypatch.undo()
    importlib.reload(_json)


def test_the_default_codec_is_orjson_on_cpython() -> None:
    if sys.implementation.name == "cpython":
        assert _json.CODEC == "orjson"


def test_without_orjson_the_standard_library_does_it_all(stdlib_codec: Any) -> None:
    assert stdlib_codec.CODEC == "json"
    assert stdlib_codec.decode(b'{"a":[1,"\xc3\xa9"]}') == {"a": [1, "é"]}
    assert stdlib_codec.encode({"a": "é", "b": [1.5, None]}) == '{"a":"é","b":[1.5,null]}'


@pytest.mark.parametrize("path", FRAMES, ids=lambda p: p.stem)
def test_fixture_frames_decode_as_json_decodes_them(path: Path) -> None:
    text = path.read_text()
    expected = json.loads(text)
    assert _json.decode(text) == expected
    assert _json.decode(text.encode()) == expected
    assert json.loads(_json.encode(expected)) == expected


def test_requests_are_compact_and_unescaped() -> None:
    frame = {"jsonrpc": "2.0", "id": "x", "params": {"text": "Grüß dich", "n": [1, 2.5, True]}}
    text = _json.encode(frame)
    assert text == json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NaN", "nan"),  # not JSON, but json reads it: so do we
        ('"\\ud800"', "\ud800"),  # a lone surrogate
        ("1e400", float("inf")),
    ],
)
def test_what_orjson_refuses_to_read_is_read_as_json_reads_it(text: str, expected: Any) -> None:
    value = _json.decode(text)
    if expected == "nan":
        assert value != value
    else:
        assert value == expected


def test_nesting_beyond_the_limit_raises_recursion_error_as_json_does() -> None:
    with pytest.raises(RecursionError):
        _json.decode("[" * 100_000 + "]" * 100_000)


def test_bad_utf8_and_bad_json_raise_value_errors() -> None:
    with pytest.raises(ValueError):
        _json.decode(b'{"a":"\xff"}')
    with pytest.raises(ValueError):
        _json.decode('{"a":')


def test_what_orjson_refuses_to_write_is_written_or_refused_as_json_does() -> None:
    assert _json.encode({1: "one"}) == '{"1":"one"}'  # json turns keys into strings
    assert _json.encode(2**70) == str(2**70)

    @dataclasses.dataclass
    class Point:
        x: int

    for value in (Point(1), datetime.datetime(2026, 1, 1), object()):
        with pytest.raises(TypeError):
            _json.encode({"value": value})


def test_a_malformed_frame_is_still_a_protocol_error() -> None:
    session = RelaySession(Credentials(project="p-1", token="t-1"))
    for text in ("NaN]", b"\xff\xfe", "[" * 100_000):
        with pytest.raises(RemoteProtocolError):
            session.receive(text)
