"""The scripted world: calls the fake server knows, and how dials play out."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import trio

from ._frames import new_node_id
from ._journal import JournalEntry, Notifier

if TYPE_CHECKING:
    from ._server import FakeRelay
    from ._session import Session

__all__ = ["DIAL_OUTCOMES", "FakeCall", "device_number", "run_dial"]

JSON = dict[str, Any]

#: Dial outcome -> the ``end_reason`` of a leg that does not answer.
DIAL_OUTCOMES: dict[str, str | None] = {
    "answer": None,
    "busy": "busy",
    "no_answer": "noAnswer",
    "failure": "error",
    "decline": "decline",
}


def device_number(device: JSON) -> str | None:
    """The number or address a device rings: ``to_number`` (phone) or ``to``."""
    params = device.get("params")
    if not isinstance(params, dict):
        return None
    number = params.get("to_number", params.get("to"))
    return number if isinstance(number, str) else None


class FakeCall:
    """A call as the fake server sees it.

    The events of a call go to the session that controls it (``session``);
    with no controlling session (passed by everyone, or its session was
    forgotten) state changes happen silently. ``script`` is free space for
    per-call scripted values (detect results, recording URLs...).
    """

    def __init__(
        self,
        fake: FakeRelay,
        *,
        direction: str,
        device: JSON,
        node_id: str | None = None,
        context: str | None = None,
        tag: str | None = None,
        session: Session | None = None,
    ) -> None:
        self._fake = fake
        self.call_id = str(uuid.uuid4())
        self.node_id = node_id or new_node_id()
        self.segment_id = self.call_id
        self.direction = direction
        self.device = device
        self.context = context
        self.tag = tag
        self.session = session
        self.state = "created"
        self.states: list[str] = ["created"]
        self.end_reason: str | None = None
        self.commands: list[JournalEntry] = []
        self.passed_by: list[str] = []
        self.script: dict[str, Any] = {}
        self._changed = Notifier()

    def __repr__(self) -> str:
        return f"<FakeCall {self.call_id} {self.direction} {self.state}>"

    @property
    def from_number(self) -> str | None:
        params = self.device.get("params", {})
        value = params.get("from_number", params.get("from"))
        return value if isinstance(value, str) else None

    @property
    def to_number(self) -> str | None:
        return device_number(self.device)

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    # -- wire -------------------------------------------------------------

    def call_params(self) -> JSON:
        """The call object as events carry it."""
        params: JSON = {
            "call_state": self.state,
            "direction": self.direction,
            "device": self.device,
            "call_id": self.call_id,
            "node_id": self.node_id,
            "segment_id": self.segment_id,
        }
        if self.tag is not None:
            params["tag"] = self.tag
        if self.end_reason is not None and self.state in ("ending", "ended"):
            params["end_reason"] = self.end_reason
        return params

    def emit(self, event_type: str, params: JSON, *, context: str | None = None) -> None:
        """Send an event about this call to its controlling session, if any."""
        if self.session is not None:
            self.session.emit(event_type, params, context=context)

    def set_state(self, state: str, *, end_reason: str | None = None) -> None:
        """Move to ``state`` and send ``calling.call.state``."""
        self.state = state
        self.states.append(state)
        if end_reason is not None:
            self.end_reason = end_reason
        self.emit("calling.call.state", self.call_params())
        self._changed.notify()

    def end(self, reason: str, *, via_ending: bool = True) -> None:
        """``ending`` (unless ``via_ending`` is false) then ``ended``; no-op once ended."""
        if self.state == "ended":
            return
        if via_ending and self.state != "ending":
            self.set_state("ending", end_reason=reason)
        self.set_state("ended", end_reason=reason)

    def record_command(self, entry: JournalEntry) -> None:
        self.commands.append(entry)
        self._changed.notify()

    # -- test API ---------------------------------------------------------

    async def hangup(self, reason: str = "hangup") -> None:
        """The far end hangs up: ``ending`` then ``ended``; no-op if already ended."""
        self.end(reason)
        await trio.lowlevel.checkpoint()

    async def wait_for_state(self, state: str) -> None:
        """Block until the call has reached ``state`` (at once if it already did).

        Raises ``AssertionError`` if the call ends without reaching it.
        """
        while state not in self.states:
            if self.state == "ended":
                raise AssertionError(
                    f"call {self.call_id} ended ({self.end_reason}) before reaching {state!r}; "
                    f"states: {self.states}"
                )
            await self._changed.wait()

    async def wait_for_command(self, method: str) -> JournalEntry:
        """Block until the client sent ``method`` for this call; returns the first one."""
        while True:
            for entry in self.commands:
                if entry.method == method:
                    return entry
            await self._changed.wait()


def _dial_event(call_or_node: str, tag: str, dial_state: str, **extra: Any) -> JSON:
    params: JSON = {"node_id": call_or_node, "tag": tag, "dial_state": dial_state}
    params.update(extra)
    return params


async def run_dial(
    fake: FakeRelay, session: Session, tag: str, groups: list[list[JSON]], node_id: str
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
