"""Queues and conferences: ``calling.queue.enter/leave``, ``calling.join/leave_conference``.

Events: ``calling.call.queue`` ``enqueue`` / ``leave`` (and ``dequeue``, from
``FakeCall.dequeue``); ``calling.conference`` ``participant-join`` /
``participant-leave``, and the conference-wide ``conference-start`` (first
join) and ``conference-end`` (last one out), which carry no ``call_id``.
"""

from __future__ import annotations

import uuid
from typing import Any

from ._dispatch import CommandContext, Reject, ack
from ._world import FakeCall, microseconds

__all__ = ["enter_queue", "join_conference", "leave_conference", "leave_queue"]

JSON = dict[str, Any]


# -- queues -----------------------------------------------------------------------------------


def _forget_queue_entry(call: FakeCall) -> None:
    call.leave_queue()


async def enter_queue(ctx: CommandContext) -> JSON:
    call, fake = ctx.call, ctx.fake
    name = ctx.params.get("queue_name")
    if not isinstance(name, str) or not name:
        raise Reject("400", "Missing queue_name")
    if call.queue_entry is not None:
        raise Reject("409", "Call is already in a queue")
    control_id = ctx.params["control_id"]

    def enter() -> None:
        members = fake.queues.setdefault(name, [])
        members.append(call)
        entry: JSON = {
            "id": str(uuid.uuid4()),
            "name": name,
            "position": len(members),
            "size": len(members),
            "avg_time": 0,
            "enqueue_ts": microseconds(fake),
            "dequeue_ts": 0,
            "leave_ts": 0,
        }
        if ctx.params.get("status_url") is not None:
            entry["status_url"] = ctx.params["status_url"]
        entry["control_id"] = control_id
        call.queue_entry = entry
        call.end_hooks.append(lambda: _forget_queue_entry(call))
        call.emit_queue_event(entry, "enqueue")

    ctx.after_reply(enter)
    return ack("Entering Queue", call_id=call.call_id, control_id=control_id)


async def leave_queue(ctx: CommandContext) -> JSON:
    call = ctx.call
    entry = call.queue_entry
    if entry is None or entry["control_id"] != ctx.params["control_id"]:
        raise Reject("400", "Queue entry not found")

    def leave() -> None:
        if call.leave_queue() is not None:
            call.emit_queue_event({**entry, "leave_ts": microseconds(call.fake)}, "leave")

    ctx.after_reply(leave)
    return ack("Leaving Queue", call_id=call.call_id, control_id=entry["control_id"])


# -- conferences ----------------------------------------------------------------------------


def _conference_event(call: FakeCall, conference: JSON, status: str, params: JSON) -> None:
    event = {
        **call.ids(),
        "name": conference["name"],
        "conference_id": conference["conference_id"],
        "status": status,
        "size": len(conference["participants"]),
        "muted": bool(params.get("muted", False)),
        "hold": False,
        "start_on_join": bool(params.get("start_on_enter", True)),
        "end_on_leave": bool(params.get("end_on_exit", False)),
        "coaching": bool(params.get("coach")),
    }
    call.emit("calling.conference", event)


def _conference_status(call: FakeCall, conference: JSON, status: str) -> None:
    """A conference-wide status: about the conference, not one participant (no call_id)."""
    event = {
        "name": conference["name"],
        "conference_id": conference["conference_id"],
        "status": status,
        "size": len(conference["participants"]),
    }
    call.emit("calling.conference", event)


def _leave(
    call: FakeCall, conference: JSON, conferences: dict[str, JSON], *, announce: bool
) -> None:
    """Take ``call`` out (``participant-leave`` if ``announce``); the last one out ends it."""
    params = conference["participants"].pop(call.call_id, None)
    if params is None:
        return
    if announce:
        _conference_event(call, conference, "participant-leave", params)
    if not conference["participants"]:
        conferences.pop(conference["name"], None)
        _conference_status(call, conference, "conference-end")


async def join_conference(ctx: CommandContext) -> JSON:
    call, fake = ctx.call, ctx.fake
    name = ctx.params.get("name")
    if not isinstance(name, str) or not name:
        raise Reject("400", "Missing name")
    conference = fake.conferences.setdefault(
        name, {"name": name, "conference_id": str(uuid.uuid4()), "participants": {}}
    )

    def join() -> None:
        if not conference["participants"]:
            _conference_status(call, conference, "conference-start")
        conference["participants"][call.call_id] = dict(ctx.params)
        call.end_hooks.append(lambda: _leave(call, conference, fake.conferences, announce=False))
        _conference_event(call, conference, "participant-join", ctx.params)

    ctx.after_reply(join)
    return ack(
        "Joining conference", call_id=call.call_id, conference_id=conference["conference_id"]
    )


async def leave_conference(ctx: CommandContext) -> JSON:
    call = ctx.call
    conference_id = ctx.params.get("conference_id")
    found = [c for c in ctx.fake.conferences.values() if c["conference_id"] == conference_id]
    if not found or call.call_id not in found[0]["participants"]:
        raise Reject("400", "Conference not found")
    conference = found[0]

    def leave() -> None:
        _leave(call, conference, ctx.fake.conferences, announce=True)

    ctx.after_reply(leave)
    return ack("Leaving conference", call_id=call.call_id)
