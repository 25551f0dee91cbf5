"""The call lifecycle: answer, end, pass, and how a ``calling.dial`` plays out."""

from __future__ import annotations

from typing import Any

import trio

from ._dispatch import CommandContext, ack, device_groups, required_string
from ._frames import INVALID_PARAMS, JsonRpcError, new_node_id
from ._world import DIAL_OUTCOMES, Controller, FakeCall, World

__all__ = ["answer", "dial", "end", "pass_call", "run_dial"]

JSON = dict[str, Any]


async def answer(ctx: CommandContext) -> JSON:
    call = ctx.call
    if call.state in ("created", "ringing"):
        ctx.after_reply(lambda: call.set_state("answered"))
    return ack("Answered")


async def end(ctx: CommandContext) -> JSON:
    call = ctx.call
    reason = ctx.params.get("reason", "hangup")
    if not isinstance(reason, str):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: reason must be a string")
    ctx.after_reply(lambda: call.end(reason))
    return ack("Disconnecting call")


async def pass_call(ctx: CommandContext) -> JSON:
    """``calling.pass``: the call goes to the next subscriber that has not passed it."""
    call = ctx.call
    protocol = ctx.session.protocol

    def release() -> None:
        if protocol not in call.passed_by:
            call.passed_by.append(protocol)
        call.session = None
        ctx.fake.offer_call(call)

    ctx.after_reply(release)
    return ack("Call passed", call_id=call.call_id)


# -- dialing ------------------------------------------------------------------


async def dial(ctx: CommandContext) -> JSON:
    tag = required_string(ctx.params, "tag")
    groups = device_groups(ctx.params.get("devices"))
    node_id = ctx.params.get("node_id")
    if not isinstance(node_id, str) or not node_id:
        node_id = new_node_id()
    ctx.start_soon(run_dial, ctx.fake, ctx.session, tag, groups, node_id)
    return ack("Dialing")


def _dial_event(call_or_node: str, tag: str, dial_state: str, **extra: Any) -> JSON:
    params: JSON = {"node_id": call_or_node, "tag": tag, "dial_state": dial_state}
    params.update(extra)
    return params


async def run_dial(
    fake: World, session: Controller, tag: str, groups: list[list[JSON]], node_id: str
) -> None:
    """Play out a ``calling.dial`` for ``session``; the ack was already sent.

    Serial groups are tried in order; the devices of one group ring in
    parallel and the first leg scripted to answer wins (the others in its
    group end with ``cancel``). Ring times run on trio's clock.
    """
    session.emit("calling.call.dial", _dial_event(node_id, tag, "dialing"))
    last_reason = "error"
    for group in groups:
        legs = [
            FakeCall(
                fake, direction="outbound", device=device, node_id=node_id, tag=tag, session=session
            )
            for device in group
        ]
        for leg in legs:
            fake.calls[leg.call_id] = leg
            leg.emit("calling.call.state", leg.call_params())
        for leg in legs:
            leg.set_state("ringing")
        plan = sorted(
            ((*fake.dial_plan(leg.device), leg) for leg in legs), key=lambda item: item[1]
        )
        start = trio.current_time()
        for outcome, ring_time, leg in plan:
            await trio.sleep_until(start + ring_time)
            if leg.state != "ringing":  # hung up by the client meanwhile
                last_reason = leg.end_reason or last_reason
                continue
            reason = DIAL_OUTCOMES[outcome]
            if reason is not None:
                leg.end(reason, via_ending=False)
                last_reason = reason
                continue
            leg.set_state("answered")
            for other in legs:
                if other is not leg and other.state != "ended":
                    other.end("cancel", via_ending=False)
            winner = {**leg.call_params(), "dial_winner": True}
            session.emit("calling.call.dial", _dial_event(node_id, tag, "answered", call=winner))
            fake.add_dialed_call(leg)
            return
    session.emit(
        "calling.call.dial",
        _dial_event(node_id, tag, "failed", reason=last_reason, source="outbound"),
    )
