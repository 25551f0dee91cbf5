"""Call commands that are not actions: hold, denoise, transfer, connect, refer, queues...

Events follow the sample frames: ``calling.call.hold`` ``{state: hold |
unhold}``, ``calling.call.denoise`` ``{denoised}``, ``calling.call.connect``
``connecting`` -> new leg (``created``/``ringing``/``answered``, with
``tag`` and ``peer``) -> ``connected`` (or ``failed``), ``disconnected`` on
``calling.disconnect`` or when the leg hangs up; ``calling.call.refer``
``inProgress`` -> ``success``; ``calling.call.queue`` ``enqueue`` /
``leave`` / ``dequeue``; ``calling.conference`` ``participant-join`` /
``participant-leave``; ``calling.call.echo`` ``echoing``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import trio

from ._commands import CommandContext, Reject, ack, command, device_groups
from ._frames import new_node_id
from ._world import DIAL_OUTCOMES, FakeCall

if TYPE_CHECKING:
    from ._server import FakeRelay

__all__ = ["dequeue_call", "run_connect"]

JSON = dict[str, Any]

#: A dial outcome -> the ``failed_reason`` of a connect that got no answer.
FAILED_REASONS = {
    "busy": "busy",
    "no_answer": "no_answer",
    "failure": "error",
    "decline": "decline",
}


def _ids(call: FakeCall) -> JSON:
    return {"node_id": call.node_id, "call_id": call.call_id}


# -- hold, denoise, echo, transfer ----------------------------------------------


@command("calling.hold", "calling.unhold")
async def _hold(ctx: CommandContext) -> JSON:
    call = ctx.call
    hold = ctx.entry.method == "calling.hold"

    def report() -> None:
        call.held = hold
        call.emit("calling.call.hold", {**_ids(call), "state": "hold" if hold else "unhold"})

    ctx.after_reply(report)
    return ack("Call on hold" if hold else "Call off hold")


@command("calling.denoise", "calling.denoise.stop")
async def _denoise(ctx: CommandContext) -> JSON:
    call = ctx.call
    on = ctx.entry.method == "calling.denoise"

    def report() -> None:
        call.denoised = on
        call.emit("calling.call.denoise", {**_ids(call), "denoised": on})

    ctx.after_reply(report)
    return ack("Denoiser on" if on else "Denoiser off", call_id=call.call_id)


@command("calling.echo")
async def _echo(ctx: CommandContext) -> JSON:
    call = ctx.call
    ctx.after_reply(lambda: call.emit("calling.call.echo", {**_ids(call), "state": "echoing"}))
    return ack("Echoing", call_id=call.call_id)


@command("calling.transfer")
async def _transfer(ctx: CommandContext) -> JSON:
    call = ctx.call
    dest = ctx.params.get("dest")
    if not isinstance(dest, str) or not dest:
        raise Reject("400", "Missing dest")

    def leave() -> None:
        for op in list(call.operations.values()):
            op.abandon("transfer")
        call.transferred_to = dest
        call.session = None  # control left this client: no more events for it

    ctx.after_reply(leave)
    return ack("Transferring", call_id=call.call_id)


# -- connect / disconnect ----------------------------------------------------------


def _peer_info(leg: FakeCall) -> JSON:
    info: JSON = {"call_id": leg.call_id, "node_id": leg.node_id}
    if leg.tag is not None:
        info["tag"] = leg.tag
    info["device"] = leg.device
    return info


def _connect_event(call: FakeCall, state: str, **extra: Any) -> None:
    call.emit("calling.call.connect", {**_ids(call), "connect_state": state, **extra})


def _bridge(call: FakeCall, leg: FakeCall) -> None:
    call.peer = leg

    def leg_gone() -> None:  # the leg hung up: the original call stays up
        if call.peer is leg:
            call.peer = None
            _connect_event(call, "disconnected", peer=_peer_info(leg))

    def call_gone() -> None:  # the original ended: the bridged leg goes with it
        if call.peer is leg:
            call.peer = None
            leg.end("hangup")

    leg.end_hooks.append(leg_gone)
    call.end_hooks.append(call_gone)


async def run_connect(
    fake: FakeRelay, call: FakeCall, tag: str | None, groups: list[list[JSON]]
) -> None:
    """Ring the device groups in series (parallel within a group) and bridge the winner."""
    last = "no_answer"
    for group in groups:
        node_id = new_node_id()
        legs = []
        for device in group:
            leg = FakeCall(
                fake,
                direction="outbound",
                device=device,
                node_id=node_id,
                tag=tag,
                session=call.session,
            )
            leg.peer = call
            fake.calls[leg.call_id] = leg
            legs.append(leg)
            leg.emit("calling.call.state", leg.call_params())
        for leg in legs:
            leg.set_state("ringing")
        plan = sorted(((*fake.dial_plan(leg.device), leg) for leg in legs), key=lambda p: p[1])
        start = trio.current_time()
        for outcome, ring_time, leg in plan:
            await trio.sleep_until(start + ring_time)
            if call.ended:  # the caller left while we were ringing
                for other in legs:
                    other.end("cancel", via_ending=False)
                return
            if leg.state != "ringing":
                continue
            reason = DIAL_OUTCOMES[outcome]
            if reason is not None:
                leg.end(reason, via_ending=False)
                last = outcome
                continue
            leg.set_state("answered")
            for other in legs:
                if other is not leg:
                    other.end("cancel", via_ending=False)
            _bridge(call, leg)
            _connect_event(call, "connected", peer=_peer_info(leg))
            return
    if not call.ended:
        _connect_event(call, "failed", failed_reason=FAILED_REASONS.get(last, last))


@command("calling.connect")
async def _connect(ctx: CommandContext) -> JSON:
    call = ctx.call
    groups = device_groups(ctx.params.get("devices"))
    tag = ctx.params.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise Reject("400", "Invalid tag")
    if call.peer is not None and not call.peer.ended:
        raise Reject("409", "Call is already connected")

    def begin() -> None:
        _connect_event(call, "connecting")
        ctx.fake.spawn(run_connect, ctx.fake, call, tag, groups)

    ctx.after_reply(begin)
    return ack("Connecting")


@command("calling.disconnect")
async def _disconnect(ctx: CommandContext) -> JSON:
    call = ctx.call
    leg = call.peer
    if leg is None or leg.ended or leg.peer is not call:
        raise Reject("400", "Call is not connected")

    def unbridge() -> None:
        call.peer = None
        leg.peer = None
        _connect_event(call, "disconnected", peer=_peer_info(leg))

    ctx.after_reply(unbridge)
    return ack("Disconnecting")


# -- refer ----------------------------------------------------------------------------------


@command("calling.refer")
async def _refer(ctx: CommandContext) -> JSON:
    call = ctx.call
    device = ctx.params.get("device")
    params = device.get("params") if isinstance(device, dict) else None
    target = params.get("to", params.get("uri")) if isinstance(params, dict) else None
    if not isinstance(target, str):
        raise Reject("400", "Missing device.params.to")

    async def refer() -> None:
        await trio.sleep(ctx.fake.timings.event_gap)
        if call.ended:
            return
        state = str(call.scripted("refer_state"))
        notify = "200" if state == "success" else "500"
        final = {"sip_refer_response_code": "202", "sip_notify_response_code": notify}
        event = {**_ids(call), "state": state, "sip_refer_to": target, **final}
        call.emit("calling.call.refer", event)

    def begin() -> None:
        event = {**_ids(call), "state": "inProgress", "sip_refer_to": target}
        call.emit("calling.call.refer", event)
        ctx.fake.spawn(refer)

    ctx.after_reply(begin)
    return ack("Starting SIP REFER")


# -- queues -----------------------------------------------------------------------------------


def _microseconds(fake: FakeRelay) -> int:
    return int(fake.timestamp() * 1_000_000)


def _queue_event(call: FakeCall, entry: JSON, status: str) -> None:
    call.emit("calling.call.queue", {"status": status, **entry, **_ids(call)})


def _leave_queue(call: FakeCall) -> JSON | None:
    entry = call.queue_entry
    if entry is None:
        return None
    call.queue_entry = None
    members = call.fake.queues.get(entry["name"], [])
    if call in members:
        members.remove(call)
    return entry


def _forget_queue_entry(call: FakeCall) -> None:
    _leave_queue(call)


@command("calling.queue.enter", needs_control_id=True)
async def _queue_enter(ctx: CommandContext) -> JSON:
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
            "enqueue_ts": _microseconds(fake),
            "dequeue_ts": 0,
            "leave_ts": 0,
        }
        if ctx.params.get("status_url") is not None:
            entry["status_url"] = ctx.params["status_url"]
        entry["control_id"] = control_id
        call.queue_entry = entry
        call.end_hooks.append(lambda: _forget_queue_entry(call))
        _queue_event(call, entry, "enqueue")

    ctx.after_reply(enter)
    return ack("Entering Queue", call_id=call.call_id, control_id=control_id)


@command("calling.queue.leave", needs_control_id=True)
async def _queue_leave(ctx: CommandContext) -> JSON:
    call = ctx.call
    entry = call.queue_entry
    if entry is None or entry["control_id"] != ctx.params["control_id"]:
        raise Reject("400", "Queue entry not found")

    def leave() -> None:
        if _leave_queue(call) is not None:
            _queue_event(call, {**entry, "leave_ts": _microseconds(call.fake)}, "leave")

    ctx.after_reply(leave)
    return ack("Leaving Queue", call_id=call.call_id, control_id=entry["control_id"])


def dequeue_call(call: FakeCall) -> None:
    """An agent takes ``call`` out of its queue (``FakeCall.dequeue``)."""
    entry = _leave_queue(call)
    if entry is None:
        raise AssertionError(f"call {call.call_id} is not in a queue")
    dequeued = {**entry, "position": 0, "size": 0, "dequeue_ts": _microseconds(call.fake)}
    _queue_event(call, dequeued, "dequeue")


# -- conferences ----------------------------------------------------------------------------


def _conference_event(call: FakeCall, conference: JSON, status: str, params: JSON) -> None:
    event = {
        **_ids(call),
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


@command("calling.join_conference")
async def _join_conference(ctx: CommandContext) -> JSON:
    call, fake = ctx.call, ctx.fake
    name = ctx.params.get("name")
    if not isinstance(name, str) or not name:
        raise Reject("400", "Missing name")
    conference = fake.conferences.setdefault(
        name, {"name": name, "conference_id": str(uuid.uuid4()), "participants": {}}
    )

    def join() -> None:
        conference["participants"][call.call_id] = dict(ctx.params)
        call.end_hooks.append(lambda: conference["participants"].pop(call.call_id, None))
        _conference_event(call, conference, "participant-join", ctx.params)

    ctx.after_reply(join)
    return ack(
        "Joining conference", call_id=call.call_id, conference_id=conference["conference_id"]
    )


@command("calling.leave_conference")
async def _leave_conference(ctx: CommandContext) -> JSON:
    call = ctx.call
    conference_id = ctx.params.get("conference_id")
    found = [c for c in ctx.fake.conferences.values() if c["conference_id"] == conference_id]
    if not found or call.call_id not in found[0]["participants"]:
        raise Reject("400", "Conference not found")
    conference = found[0]

    def leave() -> None:
        params = conference["participants"].pop(call.call_id, {})
        _conference_event(call, conference, "participant-leave", params)

    ctx.after_reply(leave)
    return ack("Leaving conference", call_id=call.call_id)
