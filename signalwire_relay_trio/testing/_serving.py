"""``serving(relay, handler)``: ``relay.serve(handler)`` for the length of a test block.

In production ``serve()`` logs a handler's exception and hangs up that call,
so one bad call never stops the others. In a test that would let a broken
handler pass unnoticed, so ``serving`` wraps the handler: the first
exception a handler raises is recorded (and still raised, so ``serve()``
hangs up the call as usual), the block is cancelled at once, and the
exception is raised again where the block ends. Leaving the block cancels
``serve()``; nothing it started keeps running (or keeps an autojump clock
jumping) after that.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .._errors import CallEndedError
from .._groups import leaves, raise_single

if TYPE_CHECKING:
    from .._call import Call
    from .._connection import RelayConnection

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["serving"]


def _failure_of(exc: BaseException) -> BaseException | None:
    """What counts as the handler failing: not cancellation, not its call ending."""
    errors = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not errors or all(isinstance(e, CallEndedError) for e in errors):
        return None
    return exc


class _Watch:
    """The handler, wrapped: its first failure is kept and cancels the test block."""

    def __init__(self, handler: Callable[[Call], Awaitable[Any]], block: trio.CancelScope) -> None:
        self._handler = handler
        self._block = block
        self.failure: BaseException | None = None
        self._context: tuple[BaseException | None, bool] = (None, False)

    async def __call__(self, call: Call) -> Any:
        try:
            return await self._handler(call)
        except BaseException as exc:
            failure = _failure_of(exc)
            if failure is not None and self.failure is None:
                self.failure = failure
                self._context = (failure.__context__, failure.__suppress_context__)
                self._block.cancel()
            raise

    def raise_failure(self) -> None:
        """Raise the recorded failure, if any, with its own context (not the block's)."""
        failure = self.failure
        if failure is None:
            return
        context, suppress = self._context
        try:
            raise failure
        finally:
            failure.__context__ = context
            failure.__suppress_context__ = suppress


@asynccontextmanager
async def serving(
    relay: RelayConnection, handler: Callable[[Call], Awaitable[Any]]
) -> AsyncIterator[None]:
    """Run ``relay.serve(handler)`` in the background for the duration of the block.

    ``serve()`` has started (it takes calls) when the block begins, and is
    cancelled when the block ends. If a handler raises (anything but
    cancellation or ``CallEndedError``, a normal end of a call), the block
    is cancelled and that exception is raised when it ends, as itself (not
    in an exception group), so the test fails with the handler's traceback.
    An exception raised by the block itself wins over a handler's.
    """
    block = trio.CancelScope()
    watch = _Watch(handler, block)
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.serve, watch)
            try:
                with block:
                    yield
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group, body_error)
    watch.raise_failure()
