"""Running one calling or messaging command: what a handler gets, gives and checks.

A handler is ``async def handler(ctx: CommandContext) -> dict`` returning the
ack ``result``. It must not block for long: what happens after the ack goes in
``ctx.after_reply(fn)`` (run synchronously right after the reply is queued,
so its events follow the ack) or ``ctx.start_soon(async_fn, ...)`` (a
background task in the fake's nursery, for anything that takes time). To
refuse, raise :class:`Reject` (a non-2xx ``code``) or ``JsonRpcError``.

Handlers live in one module per family of commands; ``_command_table`` lists
them. The dispatcher validates ``node_id``/``call_id`` (400, 404, 410) and
``control_id`` (400) first, as the spec says, so handlers get a live
:class:`FakeCall`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs

from ._frames import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, result_text
from ._journal import JournalEntry
from ._world import Controller, FakeCall, World

__all__ = [
    "CommandContext",
    "CommandSpec",
    "Handler",
    "Reject",
    "Replier",
    "ack",
    "device_groups",
    "dispatch_command",
    "number_param",
    "number_param_signed",
    "required_string",
]

JSON = dict[str, Any]
Handler = Callable[["CommandContext"], Awaitable[JSON]]


class Reject(Exception):
    """Raised by a handler: answer with ``{"code": code, "message": message}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.result: JSON = {"code": code, "message": message}


@attrs.frozen
class CommandSpec:
    """A handler and what the dispatcher checks before calling it."""

    handler: Handler
    needs_call: bool = True
    needs_control_id: bool = False


class Replier(Protocol):
    """Where a command's reply goes: the WebSocket it came in on."""

    def send(self, text: str) -> None: ...

    def boundary(self) -> None: ...


class CommandContext:
    """What a handler gets: the request, its session and (for call commands) the call."""

    def __init__(
        self,
        fake: World,
        link: Replier,
        session: Controller,
        entry: JournalEntry,
        call: FakeCall | None,
    ) -> None:
        self.fake = fake
        self.session = session
        self.entry = entry
        self.params = entry.params
        self._link = link
        self._call = call
        self._after: list[Callable[[], None]] = []

    @property
    def call(self) -> FakeCall:
        """The call the command acts on (only for ``needs_call`` commands)."""
        assert self._call is not None, "this command does not act on a call"
        return self._call

    def after_reply(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` right after the ack is queued (its events follow the ack)."""
        self._after.append(fn)

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``fn(*args)`` in the fake's nursery once the ack is queued."""
        self._after.append(lambda: self.fake.spawn(fn, *args))

    def reply(self, result: JSON) -> None:
        """Send the ack, then run what was to follow it."""
        link = self._link
        link.send(result_text(self.entry.id, result))
        if self._after:
            link.boundary()  # the ack is read alone; what follows it comes next
        for fn in self._after:
            fn()


def ack(message: str = "OK", **extra: Any) -> JSON:
    """A success result: ``{"code": "200", "message": message, **extra}``."""
    return {"code": "200", "message": message, **extra}


# -- param checks ---------------------------------------------------------------


def required_string(params: JSON, key: str) -> str:
    """``params[key]``: 400 when missing or empty, invalid params when not a string."""
    value = params.get(key)
    if value is None or value == "":
        raise Reject("400", f"Missing {key}")
    if not isinstance(value, str):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {key} must be a string")
    return value


def number_param(params: JSON, key: str, default: float | None = None) -> float | None:
    """``params[key]`` as a float (``default`` when absent); 400 when not a number."""
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Reject("400", f"Invalid {key}")
    try:
        number = float(value)
    except ValueError:
        raise Reject("400", f"Invalid {key}") from None
    if math.isnan(number) or number < 0:
        raise Reject("400", f"Invalid {key}")
    return number


def number_param_signed(params: JSON, key: str) -> float:
    """A required number that may be negative (dB); 400 when missing or not a number."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject("400", f"Missing or invalid {key}")
    return float(value)


def device_groups(devices: object) -> list[list[JSON]]:
    """The device matrix as a list of serial groups; a bare device is its own group."""
    if devices is None:
        raise Reject("400", "Missing devices")
    if not isinstance(devices, list):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: devices must be an array")
    if not devices:
        raise Reject("400", "No devices to dial")
    groups = []
    for group in devices:
        members = [group] if isinstance(group, dict) else group
        if not isinstance(members, list) or not members:
            raise Reject("400", "Invalid device group")
        for device in members:
            if not (
                isinstance(device, dict)
                and isinstance(device.get("type"), str)
                and isinstance(device.get("params"), dict)
            ):
                raise Reject("400", "Invalid device")
        groups.append(members)
    return groups


# -- the dispatcher -----------------------------------------------------------------


def _find_call(fake: World, params: JSON) -> FakeCall:
    node_id = required_string(params, "node_id")
    call_id = required_string(params, "call_id")
    call = fake.calls.get(call_id)
    if call is None or call.node_id != node_id:
        raise Reject("404", "Call not found")
    if call.ended:
        raise Reject("410", "Call has ended")
    return call


async def dispatch_command(
    table: Mapping[str, CommandSpec],
    fake: World,
    link: Replier,
    session: Controller,
    entry: JournalEntry,
) -> None:
    """Validate and run one command; raises ``JsonRpcError`` for the caller to send."""
    method = entry.method
    assert method is not None
    spec = table.get(method)
    if spec is None:
        raise JsonRpcError(METHOD_NOT_FOUND, "Method not found")
    try:
        call = _find_call(fake, entry.params) if spec.needs_call else None
        if spec.needs_control_id:
            required_string(entry.params, "control_id")
        if call is not None and call.session is None:
            call.session = session  # an orphaned call is adopted by whoever commands it
        ctx = CommandContext(fake, link, session, entry, call)
        result = await spec.handler(ctx)
    except Reject as exc:
        link.send(result_text(entry.id, exc.result))
        return
    ctx.reply(result)
