"""Inbound dispatch: ``inbound_calls``/``serve`` and the messaging counterparts.

``serve`` is the one place that catches a user's exception on purpose: a
failing handler is logged with its call id and its call is hung up, and
every other call goes on (API §3).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import trio

from ._call import Call
from ._errors import CallEndedError, RelayError
from ._events import MessageReceiveEvent, MessageStateEvent, RelayEvent
from ._groups import leaves
from ._message import Message
from ._models import drop_none

if TYPE_CHECKING:
    from ._connection import RelayConnection

logger = logging.getLogger("signalwire_relay_trio")

HANGUP_GRACE = 5.0
EARLY_MESSAGE_EVENTS = 256

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Sink(Protocol[T_contra]):
    """Where the reader hands a new call or message: a channel, or a serve() spawner."""

    def send_nowait(self, value: T_contra, /) -> None: ...

    def close(self) -> None: ...


class Spawner(Generic[T]):
    """A ``serve()`` consumer: the reader starts the handler task itself.

    Handing the item through a channel to a loop that then starts the task
    would cost a task switch and two channel operations per call.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        run: Callable[[T], Awaitable[Any]],
        name: Callable[[T], str],
    ) -> None:
        self._nursery = nursery
        self._run = run
        self._name = name
        self.closed = trio.Event()

    def send_nowait(self, value: T, /) -> None:
        if self.closed.is_set():
            raise trio.ClosedResourceError
        try:
            self._nursery.start_soon(self._run, value, name=self._name(value))
        except RuntimeError:  # the nursery is closing
            raise trio.ClosedResourceError from None

    def close(self) -> None:
        self.closed.set()


async def run_spawner(
    consumers: list[Sink[T]],
    run: Callable[[T], Awaitable[Any]],
    name: Callable[[T], str],
    task_status: trio.TaskStatus[None],
) -> None:
    """Serve until the connection drains (or we are cancelled), then wait for the tasks."""
    async with trio.open_nursery() as nursery:
        spawner = Spawner(nursery, run, name)
        consumers.append(spawner)
        try:
            task_status.started()
            await spawner.closed.wait()
        finally:
            consumers.remove(spawner)
            spawner.close()


def hand_over(channels: list[Sink[T]], turn: int, item: T) -> int:
    """Give ``item`` to the next consumer that can take it, round-robin.

    Returns the new turn, or -1 when no consumer could take it.
    """
    for _ in range(len(channels)):
        turn = (turn + 1) % len(channels)
        try:
            channels[turn].send_nowait(item)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            continue
        return turn
    return -1


@asynccontextmanager
async def _consumer(
    channels: list[Sink[T]], size: int
) -> AsyncIterator[tuple[trio.MemorySendChannel[T], trio.MemoryReceiveChannel[T]]]:
    send, receive = trio.open_memory_channel[T](size)
    channels.append(send)
    try:
        async with receive:
            yield send, receive
    finally:
        channels.remove(send)
        send.close()


@asynccontextmanager
async def inbound_calls(conn: RelayConnection) -> AsyncIterator[trio.MemoryReceiveChannel[Call]]:
    async with _consumer(conn._inbound, conn._settings.max_active_calls) as (send, receive):
        try:
            yield receive
        finally:
            send.close()
            _pass_unread(conn, receive)


def _pass_unread(conn: RelayConnection, receive: trio.MemoryReceiveChannel[Call]) -> None:
    while True:
        try:
            call = receive.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return
        if call.active:
            conn._send_and_forget(
                "calling.pass", {"node_id": call.node_id, "call_id": call.call_id}
            )
            call._finish_passed()


async def serve_calls(
    conn: RelayConnection,
    handler: Callable[[Call], Awaitable[Any]],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    await run_spawner(
        conn._inbound,
        partial(run_handler, handler),
        lambda call: f"call {call.call_id}",
        task_status,
    )


async def run_handler(handler: Callable[[Call], Awaitable[Any]], call: Call) -> None:
    """Run one call's handler in the call's own task group, then hang up."""
    try:
        async with trio.open_nursery() as nursery:
            call._nursery = nursery
            try:
                await handler(call)
            finally:
                nursery.cancel_scope.cancel()
    except BaseException as exc:
        _log_handler_exit(call, exc)
    finally:
        call._nursery = None
        if call.active:
            with trio.move_on_after(HANGUP_GRACE) as scope:
                scope.shield = True
                try:
                    await call.hangup()
                except RelayError as exc:
                    logger.warning(
                        "call %s: hangup after its handler failed: %s", call.call_id, exc
                    )


def _log_handler_exit(call: Call, exc: BaseException) -> None:
    """Log what a handler raised; re-raise if it was only cancellation."""
    errors = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not errors or any(not isinstance(e, Exception) for e in errors):
        raise exc  # cancellation, KeyboardInterrupt, SystemExit: never swallowed
    for error in errors:
        if isinstance(error, CallEndedError):
            logger.debug("call %s: handler stopped because the call ended", call.call_id)
        else:
            logger.error("call %s: handler raised %r", call.call_id, error, exc_info=error)


# -- messaging -------------------------------------------------------------------


async def send_message(
    conn: RelayConnection,
    *,
    to_number: str,
    from_number: str,
    body: str | None,
    media: Iterable[str],
    context: str | None,
    tags: Iterable[str],
    region: str | None,
) -> Message:
    media_list = [media] if isinstance(media, str) else list(media)
    if not body and not media_list:
        raise ValueError("send_message needs a body or media")
    if not to_number or not from_number:
        raise ValueError("send_message needs to_number and from_number")
    tag_list = [tags] if isinstance(tags, str) else list(tags)
    context = context or (conn._session.contexts[0] if conn._session.contexts else None)
    context = context or conn.protocol or "default"
    params = drop_none(
        {
            "context": context,
            "to_number": to_number,
            "from_number": from_number,
            "body": body,
            "media": media_list or None,
            "tags": tag_list or None,
            "region": region,
        }
    )
    result = await conn.execute("messaging.send", params)
    message_id = result.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise RelayError(None, "messaging.send result carries no message_id")
    message = Message(
        message_id=message_id,
        context=context,
        direction="outbound",
        from_number=from_number,
        to_number=to_number,
        body=body,
        media=media_list,
        tags=tag_list,
    )
    conn._router.messages[message_id] = message
    for event in conn._early_message_events.pop(message_id, []):
        message_event(conn, message, event)
    return message


def message_event(conn: RelayConnection, message: Message | None, event: RelayEvent) -> None:
    """Apply a messaging event: a state change, or a new inbound message."""
    if message is not None:
        if message._deliver(event):
            conn._router.messages.pop(message.message_id, None)
        return
    if not isinstance(event, MessageReceiveEvent):
        return
    inbound = Message._from_event(event)
    if not conn._inbound_messages:
        logger.warning("dropping inbound message %s: nothing serves messages", inbound.message_id)
        return
    turn = hand_over(conn._inbound_messages, conn._inbound_message_turn, inbound)
    if turn < 0:
        logger.warning("dropping inbound message %s: consumers are full", inbound.message_id)
    else:
        conn._inbound_message_turn = turn


def early_message_event(conn: RelayConnection, event: RelayEvent) -> None:
    """Keep a state event that beat ``messaging.send``'s reply, for a short while."""
    if not isinstance(event, MessageStateEvent) or not event.message_id:
        return
    early = conn._early_message_events
    if event.message_id not in early and len(early) >= EARLY_MESSAGE_EVENTS:
        early.pop(next(iter(early)))
    early.setdefault(event.message_id, []).append(event)


@asynccontextmanager
async def inbound_messages(
    conn: RelayConnection,
) -> AsyncIterator[trio.MemoryReceiveChannel[Message]]:
    async with _consumer(conn._inbound_messages, 1000) as (_, receive):
        yield receive


async def serve_messages(
    conn: RelayConnection,
    handler: Callable[[Message], Awaitable[Any]],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    await run_spawner(
        conn._inbound_messages,
        partial(_run_message_handler, handler),
        lambda message: f"message {message.message_id}",
        task_status,
    )


async def _run_message_handler(
    handler: Callable[[Message], Awaitable[Any]], message: Message
) -> None:
    try:
        await handler(message)
    except Exception:
        logger.exception("message %s: handler raised", message.message_id)
