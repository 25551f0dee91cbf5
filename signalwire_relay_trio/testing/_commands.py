"""Calling (and messaging) commands: a registry of handlers and its dispatcher.

A handler is ``async def handler(ctx: CommandContext) -> dict`` returning the
ack ``result``. It must not block for long: what happens after the ack goes in
``ctx.after_reply(fn)`` (run synchronously right after the reply is queued,
so its events follow the ack) or ``ctx.start_soon(async_fn, ...)`` (a
background task in the fake's nursery, for anything that takes time). To
refuse, raise :class:`Reject` (a non-2xx ``code``) or ``JsonRpcError``.

Register with the :func:`command` decorator (this module holds the call
lifecycle, dialing and messaging; actions live in ``_media``, ``_input`` and
``_operations``, their controls in ``_ops``, other call commands in
``_bridge``). The dispatcher validates
``node_id``/``call_id`` (400, 404, 410) and ``control_id`` (400) first, as
the spec says, so handlers get a live :class:`FakeCall`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._frames import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, new_node_id, result_text
from ._journal import JournalEntry
from ._world import FakeCall, run_dial

if TYPE_CHECKING:
    from ._server import FakeRelay
    from ._session import Link, Session

__all__ = [
    "COMMANDS",
    "CommandContext",
    "CommandSpec",
    "Reject",
    "ack",
    "command",
    "device_groups",
    "dispatch_command",
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
    handler: Handler
    needs_call: bool = True
    needs_control_id: bool = False


#: The default registry: method name -> spec. Each FakeRelay copies it.
COMMANDS: dict[str, CommandSpec] = {}


def command(
    *methods: str, needs_call: bool = True, needs_control_id: bool = False
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``methods`` in :data:`COMMANDS`."""

    def register(handler: Handler) -> Handler:
        for method in methods:
            COMMANDS[method] = CommandSpec(handler, needs_call, needs_control_id)
        return handler

    return register


class CommandContext:
    """What a handler gets: the request, its session and (for call commands) the call."""

    def __init__(
        self, link: Link, session: Session, entry: JournalEntry, call: FakeCall | None
    ) -> None:
        self.fake: FakeRelay = link.fake
        self.link = link
        self.session = session
        self.entry = entry
        self.params = entry.params
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


def ack(message: str = "OK", **extra: Any) -> JSON:
    """A success result: ``{"code": "200", "message": message, **extra}``."""
    return {"code": "200", "message": message, **extra}


def _required_string(params: JSON, key: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise Reject("400", f"Missing {key}")
    if not isinstance(value, str):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {key} must be a string")
    return value


def _find_call(fake: FakeRelay, params: JSON) -> FakeCall:
    node_id = _required_string(params, "node_id")
    call_id = _required_string(params, "call_id")
    call = fake.calls.get(call_id)
    if call is None or call.node_id != node_id:
        raise Reject("404", "Call not found")
    if call.ended:
        raise Reject("410", "Call has ended")
    return call


async def dispatch_command(link: Link, session: Session, entry: JournalEntry) -> None:
    """Validate and run one command; raises ``JsonRpcError`` for the caller to send."""
    method = entry.method
    assert method is not None
    spec = link.fake.command_handlers.get(method)
    if spec is None:
        raise JsonRpcError(METHOD_NOT_FOUND, "Method not found")
    try:
        call = _find_call(link.fake, entry.params) if spec.needs_call else None
        if spec.needs_control_id:
            _required_string(entry.params, "control_id")
        if call is not None and call.session is None:
            call.session = session  # an orphaned call is adopted by whoever commands it
        ctx = CommandContext(link, session, entry, call)
        result = await spec.handler(ctx)
    except Reject as exc:
        link.send(result_text(entry.id, exc.result))
        return
    link.send(result_text(entry.id, result))
    if ctx._after:
        link.boundary()  # the ack is read alone; what follows it comes next
    for fn in ctx._after:
        fn()


# -- call lifecycle -----------------------------------------------------------


@command("calling.answer")
async def _answer(ctx: CommandContext) -> JSON:
    call = ctx.call
    if call.state in ("created", "ringing"):
        ctx.after_reply(lambda: call.set_state("answered"))
    return ack("Answered")


@command("calling.end")
async def _end(ctx: CommandContext) -> JSON:
    call = ctx.call
    reason = ctx.params.get("reason", "hangup")
    if not isinstance(reason, str):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: reason must be a string")
    ctx.after_reply(lambda: call.end(reason))
    return ack("Disconnecting call")


@command("calling.pass")
async def _pass(ctx: CommandContext) -> JSON:
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


@command("calling.dial", needs_call=False)
async def _dial(ctx: CommandContext) -> JSON:
    tag = _required_string(ctx.params, "tag")
    groups = device_groups(ctx.params.get("devices"))
    node_id = ctx.params.get("node_id")
    if not isinstance(node_id, str) or not node_id:
        node_id = new_node_id()
    ctx.start_soon(run_dial, ctx.fake, ctx.session, tag, groups, node_id)
    return ack("Dialing")


# -- commands with nothing to report: acknowledged, no events -------------------------
# (Actions and their controls live in _ops/_media/_input/_operations; hold,
# connect, queues, conferences... in _bridge.)


@command(
    "calling.live_transcribe",
    "calling.live_translate",
    "calling.amazon_bedrock",
    "calling.ai_hold",
    "calling.ai_unhold",
    "calling.ai_message",
    "calling.bind_digit",
    "calling.clear_digit_bindings",
    "calling.user_event",
    "calling.join_room",
    "calling.leave_room",
)
async def _acknowledge(ctx: CommandContext) -> JSON:
    extra: JSON = {"call_id": ctx.call.call_id}
    control_id = ctx.params.get("control_id")
    if control_id is not None:
        extra["control_id"] = control_id
    return ack("OK", **extra)


# -- messaging ----------------------------------------------------------------


@command("messaging.send", needs_call=False)
async def _messaging_send(ctx: CommandContext) -> JSON:
    params = ctx.params
    to_number = _required_string(params, "to_number")
    from_number = _required_string(params, "from_number")
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
