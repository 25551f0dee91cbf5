"""An SMS auto-reply: answer every inbound text with a fixed message.

The handler takes a second argument, the connection, to send the reply::

    python -m signalwire_relay_trio run examples.sms_autoreply:handler --messages --fake
    python -m signalwire_relay_trio run examples.sms_autoreply:handler --messages --context office
"""

from __future__ import annotations

import logging

from signalwire_relay_trio import Message, MessageState, RelayConnection

REPLY = "Thanks for your message! We are open 9-5, Monday to Friday, and will reply soon."

logger = logging.getLogger("sms_autoreply")


async def handler(message: Message, relay: RelayConnection) -> MessageState:
    """Reply to ``message``; return how the reply ended (delivered, undelivered, failed)."""
    logger.info("text from %s: %r", message.from_number, message.body)
    # Reply from the number they texted, on the context the message came in on.
    reply = await relay.send_message(
        to_number=message.from_number,
        from_number=message.to_number,
        body=REPLY,
        context=message.context,
    )
    # send_message() returns once the service accepted the message; wait() follows
    # it to its final state.
    final = await reply.wait(timeout=60)
    logger.info("reply to %s: %s", message.from_number, final.message_state)
    return reply.state
