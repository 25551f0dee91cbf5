"""Outbound dials: legs recognised by ``tag``, the winner, and no orphans.

``calling.dial`` is acknowledged with no call id (§6.2): the legs show up as
``calling.call.state`` events carrying our tag, and a final
``calling.call.dial`` names the winner or the failure. A dial abandoned by
its caller (timeout, cancellation) stays registered until that final event
so that any leg that answers afterwards is hung up at once.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import trio

from ._call import Call
from ._constants import CallState
from ._errors import ConnectionLostError, DialError, RelayError
from ._events import CallStateEvent, DialEvent, RelayEvent
from ._models import devices_to_wire, drop_none
from ._registry import CallRegistry

__all__ = ["PendingDial", "run_dial"]

logger = logging.getLogger("signalwire_relay_trio.dial")


class PendingDial:
    """One dial in flight, settled by the reader."""

    def __init__(self, registry: CallRegistry, tag: str) -> None:
        self._registry = registry
        self.tag = tag
        self.legs: dict[str, Call] = {}
        self.done = trio.Event()
        self.winner: Call | None = None
        self.reason: str | None = None
        self.abandoned = False

    def deliver(self, event: RelayEvent) -> None:
        if isinstance(event, CallStateEvent):
            self._leg_event(event)
        elif isinstance(event, DialEvent):
            self._dial_event(event)

    def _leg_event(self, event: CallStateEvent) -> None:
        call_id = event.call_id or ""
        leg = self.legs.get(call_id)
        if leg is None:
            leg = self._registry.make_call(event)
            self.legs[call_id] = leg
            if self.abandoned:
                leg.on("calling.call.state", self._hang_up_if_answered)
        leg._deliver(event)
        if self.abandoned:
            self._hang_up_if_answered(event)

    def _dial_event(self, event: DialEvent) -> None:
        state = event.dial_state
        if state == "answered":
            winner_id = event.winner_call_id
            winner = self.legs.get(winner_id or "") or self._registry.find_call(winner_id or "")
            if winner is None and isinstance(event.call, dict) and winner_id:
                winner = self._registry.make_dial_winner(winner_id, self.tag, event.call)
            self.winner = winner
            if self.abandoned and winner is not None and winner.active:
                self._hang_up(winner)
        elif state == "failed":
            self.reason = event.reason or self._last_leg_reason()
        else:
            return
        self._registry.remove_dial(self.tag)
        self.done.set()

    def _last_leg_reason(self) -> str | None:
        for leg in reversed(self.legs.values()):
            if leg.end_reason:
                return leg.end_reason
        return None

    def abandon(self) -> None:
        """The caller stopped waiting: hang up whatever answers from now on."""
        if self.done.is_set():
            if self.winner is not None and self.winner.active:
                self._hang_up(self.winner)
            return
        self.abandoned = True
        for leg in self.legs.values():
            if leg.state is CallState.ANSWERED:
                self._hang_up(leg)
            elif leg.active:
                leg.on("calling.call.state", self._hang_up_if_answered)

    def _hang_up_if_answered(self, event: RelayEvent) -> None:
        if isinstance(event, CallStateEvent) and event.call_state is CallState.ANSWERED:
            leg = self.legs.get(event.call_id or "")
            if leg is not None:
                self._hang_up(leg)

    def _hang_up(self, call: Call) -> None:
        logger.info("dial %s was abandoned; hanging up leg %s", self.tag, call.call_id)
        self._registry.send_nowait(
            "calling.end", {"node_id": call.node_id, "call_id": call.call_id, "reason": "hangup"}
        )


async def run_dial(
    registry: CallRegistry,
    devices: Any,
    *,
    tag: str | None,
    max_duration: int | None,
    dial_timeout: float,
    region: str | None,
    max_price_per_minute: float | None,
) -> Call:
    wire_devices = devices_to_wire(devices)
    if tag is not None and not isinstance(tag, str):
        raise TypeError(f"tag must be a string, not {type(tag).__name__}")
    if isinstance(dial_timeout, bool) or not isinstance(dial_timeout, (int, float)):
        raise TypeError(f"dial_timeout must be a number of seconds, not {dial_timeout!r}")
    if not dial_timeout > 0:
        raise ValueError(f"dial_timeout must be positive, not {dial_timeout!r}")
    await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled dial rings nobody
    tag = tag or str(uuid.uuid4())
    params = drop_none(
        {
            "tag": tag,
            "devices": wire_devices,
            "max_duration": max_duration,
            "region": region,
            "max_price_per_minute": max_price_per_minute,
        }
    )
    dial = PendingDial(registry, tag)
    registry.add_dial(tag, dial)
    try:
        with trio.fail_after(dial_timeout):
            try:
                await registry.execute("calling.dial", params)
            except RelayError as exc:
                if isinstance(exc, (ConnectionLostError, trio.TooSlowError)):
                    raise  # the dial may have started: abandon it below
                registry.remove_dial(tag)
                raise DialError(exc.code, f"dial rejected: {exc.message}") from exc
            await dial.done.wait()
    except BaseException:
        dial.abandon()
        raise
    if dial.winner is not None:
        return dial.winner
    reason = dial.reason or "unknown"
    raise DialError(None, f"dial failed: {reason}", reason=dial.reason)
