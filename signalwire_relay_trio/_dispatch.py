"""The reader's work on one frame: settle a reply, route an event, answer a request.

:class:`FrameDispatcher` runs inside the reader task, synchronously, for
every frame of a read; it never blocks and never raises. The session (sans
I/O) parses the frame and builds every reply; the registry decides where an
event goes; the call, dial, message or inbound dispatch it belongs to
applies it.
"""

from __future__ import annotations

import logging

from ._connection_events import ConnectionEvents
from ._errors import RemoteProtocolError
from ._events import RelayEvent, parse_event
from ._inbound import Inbound
from ._link import Link
from ._protocol import (
    DisconnectRequest,
    EventNotice,
    PingRequest,
    Reply,
    UnknownRequest,
    describe_frame,
)
from ._registry import CallRegistry
from ._routing import RouteKind
from ._transport import TransportClosed

__all__ = ["FrameDispatcher"]

logger = logging.getLogger("signalwire_relay_trio")

# What _handle_event returns for an event its route did not need parsed.
_UNPARSED = object()


class FrameDispatcher:
    """Acts on each frame the link reads."""

    def __init__(
        self,
        link: Link,
        registry: CallRegistry,
        inbound: Inbound,
        subscribers: ConnectionEvents,
    ) -> None:
        self._link = link
        self._session = link.session
        self._registry = registry
        self._inbound = inbound
        self._subscribers = subscribers
        self.events_received = 0

    def handle_frame(self, text: str) -> None:
        """Act on one frame. Never raises: a bad frame is logged and skipped."""
        try:
            message = self._session.receive(text)
        except RemoteProtocolError as exc:
            logger.warning("skipping a malformed frame (%s): %s", exc, describe_frame(text))
            return
        except Exception:  # whatever a hostile frame finds: the reader must live on
            logger.exception("skipping a frame that could not be parsed: %s", describe_frame(text))
            return
        try:
            if message is None:
                return
            kind = type(message)
            if kind is Reply:
                assert isinstance(message, Reply)
                self._link.settle(message)
            elif kind is EventNotice:
                assert isinstance(message, EventNotice)
                self.events_received += 1
                if not message.duplicate:
                    try:
                        event = self._handle_event(message)
                        if self._subscribers.wants(message.event_type):
                            if event is _UNPARSED:
                                event = _parse(message)
                            if isinstance(event, RelayEvent):
                                self._subscribers.deliver(event)
                    except Exception:
                        logger.exception("error while routing a %s event", message.event_type)
                self._link.send_frame(self._session.ack(message.request_id))
            elif kind is PingRequest:
                assert isinstance(message, PingRequest)
                self._link.send_frame(self._session.reply_to_ping(message))
            elif kind is DisconnectRequest:
                assert isinstance(message, DisconnectRequest)
                self._link.send_frame(self._session.ack(message.request_id))
                self._link.server_disconnect(message.restart)
            else:
                assert isinstance(message, UnknownRequest)
                logger.warning("server sent an unknown request %r", message.method)
                self._link.send_frame(self._session.reply_unknown(message))
        except TransportClosed:
            pass  # the next read reports it
        except Exception:
            logger.exception("error while handling a frame: %s", describe_frame(text))

    def _handle_event(self, notice: EventNotice) -> RelayEvent | object | None:
        """Route and apply an event; returns it parsed (None: malformed) or ``_UNPARSED``."""
        route = self._registry.route(notice.event_type, notice.params)
        kind = route.kind
        if kind is RouteKind.SESSION:
            if notice.event_type == "calling.error":
                logger.warning("calling.error from the server: %s", notice.params.get("message"))
            return _UNPARSED
        if kind is RouteKind.UNKNOWN or (
            kind is RouteKind.UNROUTABLE and notice.event_type != "messaging.state"
        ):
            if not self._subscribers.wants(notice.event_type):
                logger.debug("dropping %s event (%s)", notice.event_type, kind.value)
            return _UNPARSED
        event = _parse(notice)
        if event is None:
            return None
        if kind is RouteKind.CALL:
            if route.call is not None:
                route.call._deliver(event)
        elif kind is RouteKind.NEW_CALL:
            self._inbound.offer_call(event)
        elif kind is RouteKind.DIAL_LEG or kind is RouteKind.DIAL:
            if route.dial is not None:
                route.dial.deliver(event)
        elif kind is RouteKind.MESSAGE:
            if route.message is not None:
                self._registry.message_state(route.message, event)
        elif kind is RouteKind.NEW_MESSAGE:
            self._inbound.offer_message(event)
        else:  # an unroutable messaging.state: it may have beaten messaging.send's reply
            self._registry.keep_early_message_event(event)
        return event


def _parse(notice: EventNotice) -> RelayEvent | None:
    try:
        return parse_event(notice.payload)
    except ValueError as exc:
        logger.warning("skipping a malformed %s event: %s", notice.event_type, exc)
        return None
