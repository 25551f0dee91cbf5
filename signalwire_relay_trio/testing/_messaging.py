"""Messaging: ``messaging.send`` and the ``messaging.state`` events that follow it."""

from __future__ import annotations

import uuid
from typing import Any

from ._dispatch import CommandContext, Reject, ack, required_string

__all__ = ["send_message"]

JSON = dict[str, Any]


async def send_message(ctx: CommandContext) -> JSON:
    params = ctx.params
    to_number = required_string(params, "to_number")
    from_number = required_string(params, "from_number")
    media = params.get("media", [])
    if not params.get("body") and not media:
        raise Reject("400", "Missing body or media")
    context = params.get("context") or ctx.session.protocol
    message_id = str(uuid.uuid4())
    tags = params.get("tags") or []
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

    def deliver() -> None:
        for message_state in ("queued", "initiated", "sent", "delivered"):
            event = {**state, "message_state": message_state}
            ctx.session.emit("messaging.state", event, context=context)

    ctx.after_reply(deliver)
    return ack("Message accepted", message_id=message_id)
