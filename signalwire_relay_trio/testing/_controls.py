"""What every action command shares: starting its operation, and the generic controls.

An action's handler builds its :class:`FakeOperation` (the constructor
checks the params) and returns :func:`start_operation`; the operation starts
right after the ack. ``calling.<kind>.stop/pause/resume/volume`` and
``calling.collect.start_input_timers`` all go to :func:`control`;
:data:`CONTROLS` says which control each kind takes.
"""

from __future__ import annotations

from typing import Any

from ._dispatch import CommandContext, Reject, ack, number_param_signed
from ._operation import FakeOperation

__all__ = ["CONTROLS", "PAUSE_BEHAVIORS", "control", "start_operation"]

JSON = dict[str, Any]


def start_operation(ctx: CommandContext, op: FakeOperation, message: str, **extra: Any) -> JSON:
    """Acknowledge ``op`` and start it right after the ack; 409 if its control_id runs."""
    running = ctx.call.operations.get(op.control_id)
    if running is not None and not running.done:
        raise Reject("409", "control_id already in use")
    ctx.after_reply(op.start)
    return ack(message, call_id=ctx.call.call_id, control_id=op.control_id, **extra)


#: The ``<kind>`` of ``calling.<kind>.<control>`` -> the operation kinds it may address.
_CONTROL_KINDS: dict[str, tuple[str, ...]] = {
    "play": ("play",),
    "record": ("record",),
    "play_and_collect": ("play_and_collect",),
    "collect": ("collect", "play_and_collect"),
    "detect": ("detect",),
    "tap": ("tap",),
    "stream": ("stream",),
    "send_fax": ("send_fax",),
    "receive_fax": ("receive_fax",),
    "pay": ("pay",),
    "transcribe": ("transcribe",),
    "ai": ("ai",),
}

#: Each kind -> the controls (``calling.<kind>.<control>``) it takes.
CONTROLS: dict[str, tuple[str, ...]] = {
    "play": ("stop", "pause", "resume", "volume"),
    "record": ("stop", "pause", "resume"),
    "play_and_collect": ("stop", "pause", "resume", "volume"),
    "collect": ("stop", "start_input_timers"),
    "detect": ("stop",),
    "tap": ("stop",),
    "stream": ("stop",),
    "send_fax": ("stop",),
    "receive_fax": ("stop",),
    "pay": ("stop",),
    "transcribe": ("stop",),
    "ai": ("stop",),
}

_MESSAGES = {
    "stop": "Stopping",
    "pause": "Paused",
    "resume": "Resumed",
    "volume": "Volume set",
    "start_input_timers": "Started input timers",
}

PAUSE_BEHAVIORS = ("silence", "skip")


async def control(ctx: CommandContext) -> JSON:
    """Any ``calling.<kind>.<control>``: checked now, applied right after the ack."""
    method = ctx.entry.method
    assert method is not None
    kind, _, name = method.removeprefix("calling.").rpartition(".")
    op = ctx.call.operations.get(ctx.params["control_id"])
    # A finished operation is gone for the server too: tolerant clients treat 404 as "done".
    if op is None or op.done or op.kind not in _CONTROL_KINDS[kind]:
        raise Reject("404", "Operation not found")
    if name == "stop":
        ctx.after_reply(op.stop)
    elif name == "pause":
        behavior = ctx.params.get("behavior")
        if kind == "record":
            behavior = behavior or "silence"
        if behavior is not None and behavior not in PAUSE_BEHAVIORS:
            raise Reject("400", "Invalid behavior")
        ctx.after_reply(lambda: op.pause(behavior))
    elif name == "resume":
        ctx.after_reply(op.resume)
    elif name == "volume":
        volume = number_param_signed(ctx.params, "volume")
        ctx.after_reply(lambda: op.set_volume(volume))
    else:
        ctx.after_reply(op.start_input_timers)
    return ack(_MESSAGES[name], call_id=ctx.call.call_id, control_id=op.control_id)
