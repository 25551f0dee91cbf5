"""``RelayClient``: the official SDK's shape on top of ``open_relay``.

Code written for the official asyncio SDK (``@client.on_call``,
``client.run()``, ``await call.play(...)``) runs with only its import line
changed. Everything here goes through the public trio API.
"""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import trio

from ._call import Call
from ._config import DEFAULTS, context_names, resolve_settings
from ._connection import RelayConnection
from ._groups import raise_single
from ._message import Message
from ._open import open_relay

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["RelayClient"]

logger = logging.getLogger("signalwire_relay_trio.client")

CallHandlerT = TypeVar("CallHandlerT", bound=Callable[[Call], Awaitable[Any]])
MessageHandlerT = TypeVar("MessageHandlerT", bound=Callable[[Message], Awaitable[Any]])


class RelayClient:
    """A RELAY client in the official SDK's style.

    Register handlers with ``@client.on_call`` / ``@client.on_message`` (at
    any time: a handler registered while connected takes the next call),
    then either ``client.run()`` (blocking; Ctrl+C exits cleanly) or, inside
    a trio program, ``async with RelayClient(...) as client:`` (or ``await
    client.connect()`` ... ``await client.disconnect()``, from one task, as
    an ``async with`` would) — the handlers run while connected.

    Credentials are checked at construction: a missing one raises
    ``ValueError`` naming the argument and its environment variable.
    ``project``, ``host`` and ``contexts`` are attributes, as in the
    official SDK; the token never appears in a repr.
    """

    def __init__(
        self,
        project: str | None = None,
        token: str | None = None,
        jwt_token: str | None = None,
        host: str | None = None,
        contexts: Iterable[str] | None = None,
        max_active_calls: int | None = None,
        *,
        url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        reconnect: bool = DEFAULTS.reconnect,
        request_timeout: float = DEFAULTS.request_timeout,
        **open_relay_options: Any,
    ) -> None:
        self.contexts: list[str] = list(context_names(contexts or ()))
        self._options: dict[str, Any] = {
            "project": project,
            "token": token,
            "jwt_token": jwt_token,
            "host": host,
            "url": url,
            "ssl_context": ssl_context,
            "reconnect": reconnect,
            "request_timeout": request_timeout,
            **open_relay_options,
        }
        if max_active_calls is not None:
            self._options["max_active_calls"] = max_active_calls
        settings = resolve_settings(
            contexts=self.contexts,
            **{key: value for key, value in self._options.items() if key != "stream_factory"},
        )
        self.project: str = settings.credentials.project or ""
        self.host: str = settings.host
        self._call_handler: Callable[[Call], Awaitable[Any]] | None = None
        self._message_handler: Callable[[Message], Awaitable[Any]] | None = None
        self._relay: RelayConnection | None = None
        self._exit_stack: AsyncExitStack | None = None

    def __repr__(self) -> str:
        state = "connected" if self._relay is not None else "disconnected"
        return f"<RelayClient project={self.project!r} host={self.host!r} {state}>"

    # -- handlers -----------------------------------------------------------

    def on_call(self, handler: CallHandlerT) -> CallHandlerT:
        """Decorator: run ``await handler(call)`` for every inbound call."""
        self._call_handler = handler
        return handler

    def on_message(self, handler: MessageHandlerT) -> MessageHandlerT:
        """Decorator: run ``await handler(message)`` for every inbound message."""
        self._message_handler = handler
        return handler

    async def _serve_call(self, call: Call) -> None:
        handler = self._call_handler
        if handler is None:
            logger.warning("passing call %s: no @on_call handler is registered", call.call_id)
            await call.pass_()
            return
        await handler(call)

    async def _serve_message(self, message: Message) -> None:
        handler = self._message_handler
        if handler is None:
            logger.warning("dropping message %s: no @on_message handler", message.message_id)
            return
        await handler(message)

    # -- lifetime -------------------------------------------------------------

    def run(self) -> None:
        """Connect and serve until interrupted (Ctrl+C exits cleanly)."""
        try:
            trio.run(self._run_forever)
        except KeyboardInterrupt:
            logger.info("interrupted; RelayClient stopped")

    async def _run_forever(self) -> None:
        async with self:
            await trio.sleep_forever()

    async def connect(self) -> None:
        """Connect and start serving the registered handlers (inside trio).

        Pair it with :meth:`disconnect` in the same task, as ``async with``
        would; prefer ``async with RelayClient(...)`` where you can.
        """
        if self._exit_stack is not None:
            raise RuntimeError("this RelayClient is already connected")
        stack = AsyncExitStack()
        try:
            # Serve first, subscribe after: a call offered in between would
            # find no consumer and be passed away.
            relay = await stack.enter_async_context(open_relay(**self._options, contexts=()))
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
            await nursery.start(relay.serve, self._serve_call)
            await nursery.start(relay.serve_messages, self._serve_message)
            if self.contexts:
                await relay.receive(self.contexts)
        except BaseException:
            await stack.aclose()
            raise
        self._relay = relay
        self._exit_stack = stack

    async def disconnect(self) -> None:
        """Close the connection opened by :meth:`connect` (a no-op when not connected)."""
        if self._exit_stack is not None:
            await self.__aexit__(None, None, None)

    async def __aenter__(self) -> RelayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        stack, self._exit_stack, self._relay = self._exit_stack, None, None
        if stack is None:  # disconnect() already closed it
            return None
        try:
            return await stack.__aexit__(*exc_info)
        except BaseExceptionGroup as group:
            raise_single(group, exc_info[1] if len(exc_info) > 1 else None)

    @property
    def relay(self) -> RelayConnection:
        """The underlying :class:`RelayConnection` (only while open)."""
        if self._relay is None:
            raise RuntimeError("RelayClient is not connected: use `async with` or run()")
        return self._relay

    @property
    def relay_protocol(self) -> str:
        """The session's protocol string ("" when not connected)."""
        return self._relay.protocol if self._relay is not None else ""

    # -- requests ---------------------------------------------------------------

    async def dial(
        self,
        devices: Any,
        *,
        tag: str | None = None,
        max_duration: int | None = None,
        dial_timeout: float | None = None,
    ) -> Call:
        return await self.relay.dial(
            devices,
            tag=tag,
            max_duration=max_duration,
            dial_timeout=120.0 if dial_timeout is None else dial_timeout,
        )

    async def send_message(
        self,
        *,
        to_number: str,
        from_number: str,
        context: str | None = None,
        body: str | None = None,
        media: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        region: str | None = None,
    ) -> Message:
        return await self.relay.send_message(
            to_number=to_number,
            from_number=from_number,
            body=body,
            media=media or (),
            context=context,
            tags=tags or (),
            region=region,
        )

    async def receive(self, contexts: Iterable[str]) -> None:
        names = context_names(contexts)
        await self.relay.receive(names)
        self.contexts.extend(c for c in names if c not in self.contexts)

    async def unreceive(self, contexts: Iterable[str]) -> None:
        names = context_names(contexts)
        await self.relay.unreceive(names)
        self.contexts[:] = [c for c in self.contexts if c not in names]

    async def execute(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.relay.execute(method, params)
