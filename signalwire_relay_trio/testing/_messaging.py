"""Messaging: ``messaging.send``, the ``messaging.state`` events after it, inbound messages.

The states of a sent message go out one by one on the fake's clock, after
the ``messaging.send`` reply and ``timings.message_state_gap`` apart, as the
real service sends them: ``queued``, ``initiated``, ``sent``, then
``delivered`` — or what ``fake.message_outcome(to_number)`` says
(:data:`MESSAGE_OUTCOMES`). A client that registers the message only once
the reply arrived (the official SDK does) sees every state.
"""

from __future__ import annotations

from typing import Any

import trio

from ._dispatch import CommandContext, Reject, ack, required_string
from ._frames import new_id
from ._world import Controller

__all__ = ["MESSAGE_OUTCOMES", "inbound_message_params", "send_message"]

JSON = dict[str, Any]

#: Outcome -> the states a sent message goes through, and the ``reason`` of the last one.
MESSAGE_OUTCOMES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "delivered": (("queued", "initiated", "sent", "delivered"), None),
    "undelivered": (("queued", "initiated", "sent", "undelivered"), "carrier_rejected"),
    "failed": (("queued", "initiated", "failed"), "unreachable_destination"),
}


def _string_list(params: JSON, key: str) -> list[Any]:
    value = params.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Reject("400", f"Invalid {key}: expected an array of strings")
    return value


async def send_message(ctx: CommandContext) -> JSON:
    params = ctx.params
    to_number = required_string(params, "to_number")
    from_number = required_string(params, "from_number")
    media = _string_list(params, "media")
    if not params.get("body") and not media:
        raise Reject("400", "Missing body or media")
    context = params.get("context") or ctx.session.protocol
    message_id = new_id()
    tags = _string_list(params, "tags")
    state: JSON = {
        "message_id": message_id,
        "context": context,
        "direction": "outbound",
        "tags": [*tags, "message", "outbound", "MMS" if media else "SMS", context, "relay-client"],
        "from_number": from_number,
        "to_number": to_number,
        "body": params.get("body", ""),
        "media": media,
        "segments": 1,
    }
    outcome = ctx.fake.message_outcome(to_number)
    gap = ctx.fake.timings.message_state_gap
    ctx.start_soon(_report_states, ctx.session, state, outcome, gap)
    return ack("Message accepted", message_id=message_id)


async def _report_states(session: Controller, state: JSON, outcome: str, gap: float) -> None:
    """Send the message's states, ``gap`` seconds apart, the first ``gap`` after the reply."""
    states, reason = MESSAGE_OUTCOMES[outcome]
    for message_state in states:
        await trio.sleep(gap)
        event = {**state, "message_state": message_state}
        if reason is not None and message_state == states[-1]:
            event["reason"] = reason
        session.emit("messaging.state", event, context=state["context"])


def inbound_message_params(
    *,
    context: str,
    from_number: str,
    to_number: str,
    body: str,
    media: list[str],
    tags: list[str],
) -> JSON:
    """The params of a ``messaging.receive`` event for a new inbound message."""
    return {
        "message_id": new_id(),
        "context": context,
        "direction": "inbound",
        "tags": [
            *tags,
            "message",
            "inbound",
            "MMS" if media else "SMS",
            context,
            from_number,
            to_number,
            "relay-client",
        ],
        "from_number": from_number,
        "to_number": to_number,
        "body": body,
        "media": media,
        "segments": 1,
        "message_state": "received",
    }
