"""JSON-RPC frame building for the fake server.

The fake deliberately shares no code with the client (``_protocol`` and
friends): it writes and reads frames with plain :mod:`json`, so one bug cannot
hide on both sides of the wire.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

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

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
dumps = _encoder.encode


class JsonRpcError(Exception):
    """Raised by a handler to answer with a JSON-RPC ``error`` object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def new_id() -> str:
    """A fresh request id (a UUID v4 string, as the real server uses)."""
    return str(uuid.uuid4())


def new_node_id() -> str:
    """A node id in the current server's ``<uuid>@<region>`` form."""
    return f"{uuid.uuid4()}@us-east"


def result_text(frame_id: Any, result: JSON) -> str:
    return dumps({"jsonrpc": "2.0", "id": frame_id, "result": result})


def error_text(frame_id: Any, code: int, message: str) -> str:
    return dumps({"jsonrpc": "2.0", "id": frame_id, "error": {"code": code, "message": message}})


def request_frame(method: str, params: JSON) -> JSON:
    """A server-to-client request with a fresh id."""
    return {"jsonrpc": "2.0", "id": new_id(), "method": method, "params": params}
