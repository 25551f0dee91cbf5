"""Loading the sample frames in tests/fixtures/frames for the sans-I/O tests.

Each fixture file is a JSON array of steps. A step is either
``{"from": "client" | "server", "frame": {...}}`` or
``{"from": ..., "action": "open" | "close"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FRAMES_DIR = Path(__file__).parent / "fixtures" / "frames"

# Credential values the fixtures use; the scrubbing tests look for them.
FIXTURE_PROJECT = "748b9ce8-8303-4a38-a7ff-b1bcb33e2128"
FIXTURE_TOKEN = "PTexampleexampleexampleexampleexampleexample0000"


def fixture_names() -> list[str]:
    """Every fixture file name (``dial-sequence.json``...), sorted."""
    names = sorted(path.name for path in FRAMES_DIR.glob("*.json"))
    assert names, f"no fixtures found in {FRAMES_DIR}"
    return names


def load_steps(name: str) -> list[dict[str, Any]]:
    """The steps of one fixture file; ``name`` may omit the ``.json`` suffix."""
    if not name.endswith(".json"):
        name += ".json"
    steps = json.loads((FRAMES_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(steps, list), name
    return steps


def frames_from(name: str, side: str) -> list[dict[str, Any]]:
    """The frames one side (``"client"`` or ``"server"``) sends in a fixture, in order."""
    return [step["frame"] for step in load_steps(name) if "frame" in step and step["from"] == side]


def first_frame(name: str, side: str, **match: Any) -> dict[str, Any]:
    """The first frame from ``side`` whose top-level keys equal ``match``."""
    for frame in frames_from(name, side):
        if all(frame.get(key) == value for key, value in match.items()):
            return frame
    raise LookupError(f"no {side} frame matching {match!r} in {name}")


def events_from(name: str) -> list[dict[str, Any]]:
    """The ``signalwire.event`` frames the server sends in a fixture."""
    return [
        frame for frame in frames_from(name, "server") if frame.get("method") == "signalwire.event"
    ]


def dumps(frame: Any) -> str:
    """A frame as the text of one WebSocket message."""
    return json.dumps(frame)


def with_id(frame: dict[str, Any], request_id: str) -> dict[str, Any]:
    """A copy of ``frame`` carrying ``request_id``: fixture replies rewritten to our ids."""
    copy = dict(frame)
    copy["id"] = request_id
    return copy
