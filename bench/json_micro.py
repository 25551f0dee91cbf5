"""The JSON codec seam, measured: orjson against the standard library on RELAY frames.

    .venv/bin/python bench/json_micro.py

Reads a call-state event frame and a reply frame, and writes a
``calling.play`` request, with each codec as ``_json`` builds it; prints
microseconds per operation (best of 5 repetitions).
"""

from __future__ import annotations

import importlib
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalwire_relay_trio import _json

STATE_EVENT = (
    '{"jsonrpc":"2.0","id":"5d3b1c9e-1a2b-4c3d-9e8f-0123456789ab","method":"signalwire.event",'
    '"params":{"event_type":"calling.call.state","event_channel":"signalwire_abc",'
    '"timestamp":1700000000.123,"project_id":"p-123","space_id":"s-1","params":{'
    '"call_id":"call-1","node_id":"n-1","tag":"t","call_state":"ended","end_reason":"hangup",'
    '"direction":"inbound","device":{"type":"phone","params":{"from_number":"+15551234567",'
    '"to_number":"+15557654321"}}}}}'
)
REPLY = (
    '{"jsonrpc":"2.0","id":"5d3b1c9e-1a2b-4c3d-9e8f-0123456789ab","result":{"code":"200",'
    '"message":"Playing","control_id":"c-1","call_id":"call-1"}}'
)
PLAY_REQUEST: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": "5d3b1c9e-1a2b-4c3d-9e8f-0123456789ab",
    "method": "calling.play",
    "params": {
        "node_id": "n-1",
        "call_id": "call-1",
        "control_id": "c-1",
        "play": [{"type": "tts", "params": {"text": "Hello"}}],
    },
}
NUMBER = 20_000


def _best_us(operation: Callable[[], object]) -> float:
    return min(timeit.repeat(operation, number=NUMBER, repeat=5)) / NUMBER * 1e6


def _measure(codec: Any) -> dict[str, float]:
    return {
        "read a call-state event": _best_us(lambda: codec.decode(STATE_EVENT)),
        "read a reply": _best_us(lambda: codec.decode(REPLY)),
        "write a calling.play request": _best_us(lambda: codec.encode(PLAY_REQUEST)),
    }


def main() -> None:
    fast = _measure(_json)
    fast_name = _json.CODEC
    sys.modules["orjson"] = None  # type: ignore[assignment]
    standard = _measure(importlib.reload(_json))
    print(f"{'operation':<30} {'json µs':>9} {fast_name + ' µs':>11} {'ratio':>7}")
    for name, slow in standard.items():
        print(f"{name:<30} {slow:>9.2f} {fast[name]:>11.2f} {fast[name] / slow:>7.2f}")


if __name__ == "__main__":
    main()
