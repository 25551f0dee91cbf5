"""JSON for the wire: orjson where it is installed, the standard library otherwise.

Every frame the client reads or writes goes through here, so this is the
one seam for the JSON codec. orjson reads a RELAY event frame about 3x
faster than :mod:`json` and writes a request about 10x faster
(``bench/json_micro.py``); at 200 concurrent calls that is about a tenth of
the client's CPU per call.

The standard library stays the reference: what orjson refuses to read (NaN,
nesting beyond 1024 levels, a lone surrogate, a number beyond a double) or
to write (a non-string key, an integer beyond 64 bits, a dataclass, a
datetime) is handed to :mod:`json`, so such input reads, and such errors
are raised, as before. Two documented differences remain, both on input no
server sends: orjson reads an integer beyond 64 bits as a float, and writes
NaN and infinities as ``null`` where :mod:`json` wrote tokens that are not
JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["CODEC", "decode", "encode"]

_std_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_std_decode = json.JSONDecoder().decode


def _std_decode_any(data: str | bytes) -> Any:
    return _std_decode(data if isinstance(data, str) else data.decode("utf-8"))


def _make_codec() -> tuple[str, Callable[[Any], str], Callable[[str | bytes], Any]]:
    try:
        import orjson
    except ImportError:  # not CPython, or not installed: the standard library alone
        return "json", _std_encode, _std_decode_any

    dumps = orjson.dumps
    loads = orjson.loads
    refused = orjson.JSONDecodeError
    # Passed through (so refused, so handed to json) to raise as json always did.
    options = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def encode(value: Any) -> str:
        try:
            return dumps(value, option=options).decode()
        except TypeError:
            return _std_encode(value)

    def decode(data: str | bytes) -> Any:
        try:
            return loads(data)
        except refused:
            return _std_decode_any(data)

    return "orjson", encode, decode


#: ``"orjson"`` or ``"json"``: the codec of this process. ``encode(value)`` gives
#: compact JSON text, not ASCII-escaped; ``decode(str or bytes)`` raises
#: ValueError (or RecursionError) where json would.
CODEC, encode, decode = _make_codec()
