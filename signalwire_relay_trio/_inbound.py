"""Inbound dispatch: where new calls and messages go (``serve``, ``inbound_*``).

:class:`Inbound` owns the consumers of one connection — ``serve()`` loops
and ``inbound_calls()``/``inbound_messages()`` channels — and shares new
calls and messages between them round-robin. A call nobody can take is
passed back to the server (``calling.pass``) so that another client can.

``serve`` is the one place that catches a user's exception on purpose: a
failing handler is logged with its call id and its call is hung up, and
every other call goes on (API §3).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import trio

from ._call import Call
from ._call_base import HANGUP_GRACE
from ._errors import CallEndedError, RelayError
from ._events import MessageReceiveEvent, RelayEvent
from ._groups import combine, leaves
from ._message import Message, message_from_event
from ._registry import CallRegistry

__all__ = ["Inbound"]

logger = logging.getLogger("signalwire_relay_trio")

MESSAGE_BUFFER = 1000

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Sink(Protocol[T_contra]):
    """Where a new call or message is handed: a channel, or a serve() spawner."""

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


class Consumers(Generic[T]):
    """The consumers of one kind of item, and whose turn is next."""

    def __init__(self) -> None:
        self.sinks: list[Sink[T]] = []
        self._turn = 0
        self.closed = False  # drained: a consumer that comes later is closed at once

    def __len__(self) -> int:
        return len(self.sinks)

    def hand_over(self, item: T) -> bool:
        """Give ``item`` to the next consumer that can take it; False if none could."""
        sinks = self.sinks
        turn = self._turn
        for _ in range(len(sinks)):
            turn = (turn + 1) % len(sinks)
            try:
                sinks[turn].send_nowait(item)
            except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                continue
            self._turn = turn
            return True
        return False

    def close(self) -> None:
        self.closed = True
        for sink in self.sinks:
            sink.close()

    async def spawn_each(
        self,
        run: Callable[[T], Awaitable[Any]],
        name: Callable[[T], str],
        task_status: trio.TaskStatus[None],
    ) -> None:
        """Serve until closed (or cancelled), then wait for the tasks started."""
        if self.closed:
            task_status.started()
            return
        async with trio.open_nursery() as nursery:
            spawner = Spawner(nursery, run, name)
            self.sinks.append(spawner)
            try:
                task_status.started()
                await spawner.closed.wait()
            finally:
                self.sinks.remove(spawner)
                spawner.close()

    @asynccontextmanager
    async def channel(
        self, size: int
    ) -> AsyncIterator[tuple[trio.MemorySendChannel[T], trio.MemoryReceiveChannel[T]]]:
        send, receive = trio.open_memory_channel[T](size)
        if self.closed:
            send.close()
        self.sinks.append(send)
        try:
            async with receive:
                yield send, receive
        finally:
            self.sinks.remove(send)
            send.close()


class Inbound:
    """New calls and messages of one connection, and who takes them."""

    def __init__(self, registry: CallRegistry, max_active_calls: int) -> None:
        self._registry = registry
        self._max_active_calls = max_active_calls
        self._calls: Consumers[Call] = Consumers()
        self._messages: Consumers[Message] = Consumers()
        self._draining = False
        self._running = 0  # handler tasks of serve() and serve_messages()
        self._all_done: trio.Event | None = None
        self.handler_errors = 0

    @property
    def call_consumers(self) -> int:
        return len(self._calls)

    def drain(self) -> None:
        """Take no more calls or messages; ``serve()`` loops return once their handlers end."""
        self._draining = True
        self._calls.close()
        self._messages.close()

    async def wait_handlers_done(self) -> None:
        """Return once no handler of ``serve()``/``serve_messages()`` is running."""
        while self._running:
            self._all_done = trio.Event()
            await self._all_done.wait()

    def _handler_done(self) -> None:
        self._running -= 1
        if not self._running and self._all_done is not None:
            self._all_done.set()

    # -- calls ------------------------------------------------------------------------

    def offer_call(self, event: RelayEvent) -> None:
        """A ``calling.call.receive`` for a new call: hand it over, or pass it on."""
        registry = self._registry
        if registry.has_ended(event.call_id):
            logger.info("ignoring a repeated calling.call.receive for ended call %s", event.call_id)
        elif registry.call_count >= self._max_active_calls:
            logger.warning(
                "declining call %s: max_active_calls (%d) reached",
                event.call_id,
                self._max_active_calls,
            )
            self._pass(event)
        elif self._draining:
            logger.info("passing call %s: draining", event.call_id)
            self._pass(event)
        elif not self._calls:
            logger.warning("passing call %s: nothing is serving inbound calls", event.call_id)
            self._pass(event)
        else:
            call = registry.make_call(event)
            if self._calls.hand_over(call):
                call._deliver(event)
                return
            logger.warning("passing call %s: inbound consumers are full", event.call_id)
            registry.forget_call(call)
            self._pass(event)

    def _pass(self, event: RelayEvent) -> None:
        self._registry.send_nowait(
            "calling.pass", {"node_id": event.node_id, "call_id": event.call_id}
        )

    @asynccontextmanager
    async def inbound_calls(self) -> AsyncIterator[trio.MemoryReceiveChannel[Call]]:
        async with self._calls.channel(self._max_active_calls) as (send, receive):
            try:
                yield receive
            finally:
                send.close()
                self._pass_unread(receive)

    def _pass_unread(self, receive: trio.MemoryReceiveChannel[Call]) -> None:
        while True:
            try:
                call = receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if call.active:
                self._registry.send_nowait(
                    "calling.pass", {"node_id": call.node_id, "call_id": call.call_id}
                )
                call._end(f"call {call.call_id} was passed")

    async def serve_calls(
        self, handler: Callable[[Call], Awaitable[Any]], task_status: trio.TaskStatus[None]
    ) -> None:
        await self._calls.spawn_each(partial(self._run_call, handler), _call_task_name, task_status)

    # -- messages ---------------------------------------------------------------------

    def offer_message(self, event: RelayEvent) -> None:
        """A ``messaging.receive``: hand the new message to a consumer."""
        if not isinstance(event, MessageReceiveEvent):
            return
        inbound = message_from_event(event)
        if not self._messages:
            logger.warning(
                "dropping inbound message %s: nothing serves messages", inbound.message_id
            )
        elif not self._messages.hand_over(inbound):
            logger.warning("dropping inbound message %s: consumers are full", inbound.message_id)

    @asynccontextmanager
    async def inbound_messages(self) -> AsyncIterator[trio.MemoryReceiveChannel[Message]]:
        async with self._messages.channel(MESSAGE_BUFFER) as (_, receive):
            yield receive

    async def serve_messages(
        self, handler: Callable[[Message], Awaitable[Any]], task_status: trio.TaskStatus[None]
    ) -> None:
        await self._messages.spawn_each(
            partial(self._run_message, handler), _message_task_name, task_status
        )

    async def _run_call(self, handler: Callable[[Call], Awaitable[Any]], call: Call) -> None:
        """Run one call's handler in a scope of its own, close its task group, hang up."""
        self._running += 1
        handler_error: BaseException | None = None
        try:
            try:
                # A failing task of the call's group cancels this scope: absorbed here.
                with trio.CancelScope() as scope:
                    call._serve_in(scope, _parent_nursery())
                    await handler(call)
            except BaseException as exc:
                handler_error = exc
            group = call._task_group_used()
            group_error = None if group is None else await group.close()
            error = combine(handler_error, group_error)
            handler_error = group_error = None  # no frame <-> traceback cycle to outlive the call
            if error is not None:
                try:
                    if _log_handler_exit(call, error):
                        self.handler_errors += 1
                finally:
                    del error
        finally:
            call._handler_over()
            try:
                if call.active:
                    await _hang_up_after_handler(call)
            finally:
                self._handler_done()

    async def _run_message(
        self, handler: Callable[[Message], Awaitable[Any]], message: Message
    ) -> None:
        self._running += 1
        try:
            await handler(message)
        except Exception:
            self.handler_errors += 1
            logger.exception("message %s: handler raised", message.message_id)
        finally:
            self._handler_done()


def _parent_nursery() -> trio.Nursery:
    nursery = trio.lowlevel.current_task().parent_nursery
    assert nursery is not None  # a handler task is always started in a nursery
    return nursery


def _call_task_name(call: Call) -> str:
    return f"call {call.call_id}"


def _message_task_name(message: Message) -> str:
    return f"message {message.message_id}"


async def _hang_up_after_handler(call: Call) -> None:
    with trio.move_on_after(HANGUP_GRACE) as scope:
        scope.shield = True
        try:
            await call.hangup()
        except RelayError as exc:
            logger.warning("call %s: hangup after its handler failed: %s", call.call_id, exc)


def _log_handler_exit(call: Call, exc: BaseException) -> bool:
    """Log what a handler raised; True if it failed (not only that its call ended).

    Re-raises cancellation, ``KeyboardInterrupt`` and ``SystemExit``: never swallowed.
    """
    errors = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not errors or any(not isinstance(e, Exception) for e in errors):
        raise exc
    failed = False
    for error in errors:
        if isinstance(error, CallEndedError):
            logger.debug("call %s: handler stopped because the call ended", call.call_id)
        else:
            failed = True
            logger.error("call %s: handler raised %r", call.call_id, error, exc_info=error)
    return failed
