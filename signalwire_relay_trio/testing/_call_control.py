"""Call commands that are not actions: hold, denoise, echo, transfer, connect, refer...

Events follow the sample frames: ``calling.call.hold`` ``{state: hold |
unhold}``, ``calling.call.denoise`` ``{denoised}``, ``calling.call.connect``
``connecting`` -> new leg (``created``/``ringing``/``answered``, with
``tag`` and ``peer``) -> ``connected`` (or ``failed``), ``disconnected`` on
``calling.disconnect`` or when the leg hangs up; ``calling.call.refer``
``inProgress`` -> ``success``; ``calling.call.echo`` ``echoing``. Commands
with nothing to report (live transcription, AI hold, digit bindings, rooms...)
are acknowledged without events.
"""

from __future__ import annotations

from typing import Any

import trio

from ._dispatch import CommandContext, Reject, ack, device_groups
from ._frames import new_node_id
from ._world import DIAL_OUTCOMES, FakeCall, World

__all__ = [
    "acknowledge",
    "connect",
    "denoise",
    "disconnect",
    "echo",
    "hold",
    "refer",
    "run_connect",
    "transfer",
]

JSON = dict[str, Any]

#: A dial outcome -> the ``failed_reason`` of a connect that got no answer.
FAILED_REASONS = {
    "busy": "busy",
    "no_answer": "no_answer",
    "failure": "error",
    "decline": "decline",
}


# -- hold, denoise, echo, transfer ----------------------------------------------


async def hold(ctx: CommandContext) -> JSON:
    """``calling.hold`` and ``calling.unhold``."""
    call = ctx.call
    hold = ctx.entry.method == "calling.hold"

    def report() -> None:
        call.held = hold
        call.emit("calling.call.hold", {**call.ids(), "state": "hold" if hold else "unhold"})

    ctx.after_reply(report)
    return ack("Call on hold" if hold else "Call off hold")


async def denoise(ctx: CommandContext) -> JSON:
    """``calling.denoise`` and ``calling.denoise.stop``."""
    call = ctx.call
    on = ctx.entry.method == "calling.denoise"

    def report() -> None:
        call.denoised = on
        call.emit("calling.call.denoise", {**call.ids(), "denoised": on})

    ctx.after_reply(report)
    return ack("Denoiser on" if on else "Denoiser off", call_id=call.call_id)


async def echo(ctx: CommandContext) -> JSON:
    call = ctx.call
    ctx.after_reply(lambda: call.emit("calling.call.echo", {**call.ids(), "state": "echoing"}))
    return ack("Echoing", call_id=call.call_id)


async def transfer(ctx: CommandContext) -> JSON:
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
    call.emit("calling.call.connect", {**call.ids(), "connect_state": state, **extra})


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
    fake: World, call: FakeCall, tag: str | None, groups: list[list[JSON]]
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


async def connect(ctx: CommandContext) -> JSON:
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


async def disconnect(ctx: CommandContext) -> JSON:
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


async def refer(ctx: CommandContext) -> JSON:
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
        event = {**call.ids(), "state": state, "sip_refer_to": target, **final}
        call.emit("calling.call.refer", event)

    def begin() -> None:
        event = {**call.ids(), "state": "inProgress", "sip_refer_to": target}
        call.emit("calling.call.refer", event)
        ctx.fake.spawn(refer)

    ctx.after_reply(begin)
    return ack("Starting SIP REFER")


# -- acknowledged, nothing to report --------------------------------------------------


async def acknowledge(ctx: CommandContext) -> JSON:
    """A command whose effect the fake does not model: 200, echoing the ids."""
    extra: JSON = {"call_id": ctx.call.call_id}
    control_id = ctx.params.get("control_id")
    if control_id is not None:
        extra["control_id"] = control_id
    return ack("OK", **extra)
