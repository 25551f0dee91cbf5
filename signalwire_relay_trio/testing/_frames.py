"""JSON-RPC frame building for the fake server.

The fake deliberately shares no code with the client (``_protocol`` and
friends): its WebSocket framing is wsproto's and its JSON-RPC handling its own,
so one bug cannot hide on both sides of the wire. Only the JSON codec is shared
(``_json``: orjson, with :mod:`json` for what orjson refuses): reading and
writing JSON was about a seventh of the fake's CPU, and a faster fake is a
faster test suite.
"""

from __future__ import annotations

import random
from typing import Any

from .._json import encode

__all__ = [
    "AUTH_FAILED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "JsonRpcError",
    "dumps",
    "error_text",
    "new_id",
    "new_node_id",
    "request_frame",
    "result_text",
]

JSON = dict[str, Any]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTH_FAILED = -32002

#: A frame as compact JSON text: the package's JSON seam (orjson, json where orjson
#: refuses), as the client's; the framing, sessions and dispatch are the fake's own.
dumps = encode


class JsonRpcError(Exception):
    """Raised by a handler to answer with a JSON-RPC ``error`` object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


#: Random bits for ids: its own generator (seeded from the OS), so tests that
#: seed the ``random`` module never make two fakes hand out the same ids.
_random_bits = random.Random().getrandbits
#: The variant nibble of a UUID (10xx) for each hex digit of random bits.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id() -> str:
    """A fresh id: a UUID v4 string, as the real server uses.

    Made from 128 random bits without ``uuid.uuid4()`` (an OS call and an
    object per id): the fake makes several per call. Ids are not secrets.
    """
    h = f"{_random_bits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def new_node_id() -> str:
    """A node id in the current server's ``<uuid>@<region>`` form."""
    return f"{new_id()}@us-east"


def result_text(frame_id: Any, result: JSON) -> str:
    return dumps({"jsonrpc": "2.0", "id": frame_id, "result": result})


def error_text(frame_id: Any, code: int, message: str) -> str:
    return dumps({"jsonrpc": "2.0", "id": frame_id, "error": {"code": code, "message": message}})


def request_frame(method: str, params: JSON) -> JSON:
    """A server-to-client request with a fresh id."""
    return {"jsonrpc": "2.0", "id": new_id(), "method": method, "params": params}
