"""A served call's task group (``call.nursery``), opened only when something uses it.

``serve()`` runs each handler in a cancel scope of its own, not a nursery:
most handlers never start a task of their own, and a nursery per call cost
about 0.55 KB and 19 µs more than the scope on the bench machine
(``bench/task_shape_micro.py``, ``bench/ANALYSIS.md``). The first task
started for the call opens a real nursery in a supervisor task beside the
handler. It keeps what a nursery of the handler's own would promise:

* a task that fails cancels the handler, and its error is reported with the
  handler's (``serve()`` logs it with the call id and hangs the call up);
* when the handler ends, the call's tasks are cancelled, and the handler's
  task waits for them before the call is hung up;
* ``cancel_scope.cancel()`` cancels the handler and, with it, the tasks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._groups import leaves

__all__ = ["CallTaskGroup"]

Spawn = Callable[[Callable[[], Awaitable[None]], str], None]

_CLOSED = "the call's handler has ended: its task group takes no new tasks"


class CallTaskGroup:
    """``call.nursery`` under ``serve()``: tasks that live as long as the call's handler.

    Has the parts of :class:`trio.Nursery` a handler uses: :meth:`start_soon`,
    :meth:`start`, :attr:`cancel_scope` (the handler's own scope) and
    :attr:`child_tasks`.
    """

    __slots__ = (
        "_closed",
        "_failure",
        "_finished",
        "_handler_scope",
        "_name",
        "_nursery",
        "_opened",
        "_queued",
        "_spawn",
    )

    def __init__(self, handler_scope: trio.CancelScope, spawn: Spawn, name: str) -> None:
        self._handler_scope = handler_scope
        self._spawn = spawn
        self._name = name
        self._nursery: trio.Nursery | None = None
        self._queued: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], object]] = []
        self._opened: trio.Event | None = None
        self._finished: trio.Event | None = None
        self._closed = False
        self._failure: BaseException | None = None

    @property
    def cancel_scope(self) -> trio.CancelScope:
        """The handler's scope: cancelling it ends the handler, then its tasks."""
        return self._handler_scope

    @property
    def child_tasks(self) -> frozenset[trio.lowlevel.Task]:
        return frozenset() if self._nursery is None else self._nursery.child_tasks

    def start_soon(
        self, async_fn: Callable[..., Awaitable[Any]], *args: Any, name: object = None
    ) -> None:
        """Start ``async_fn(*args)`` as a task of the call (see :meth:`trio.Nursery.start_soon`)."""
        if self._closed:
            raise RuntimeError(_CLOSED)
        if self._nursery is not None:
            self._nursery.start_soon(async_fn, *args, name=name)
            return
        self._queued.append((async_fn, args, name))
        self._open_soon()

    async def start(
        self, async_fn: Callable[..., Awaitable[Any]], *args: Any, name: object = None
    ) -> Any:
        """Start a task and wait until it calls ``task_status.started()`` (as trio's)."""
        if self._closed:
            raise RuntimeError(_CLOSED)
        if self._nursery is None:
            self._open_soon()
            assert self._opened is not None
            await self._opened.wait()
            if self._nursery is None:  # closed before it opened
                raise RuntimeError(_CLOSED)
        return await self._nursery.start(async_fn, *args, name=name)

    def _open_soon(self) -> None:
        if self._opened is None:
            self._opened = trio.Event()
            self._finished = trio.Event()
            self._spawn(self._supervise, self._name)

    async def _supervise(self) -> None:
        """Hold the call's nursery until the handler ends; report what failed in it."""
        assert self._opened is not None and self._finished is not None
        try:
            if self._closed:
                return
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                queued, self._queued = self._queued, []
                for async_fn, args, name in queued:
                    nursery.start_soon(async_fn, *args, name=name)
                self._opened.set()
                await trio.sleep_forever()
        except BaseException as exc:
            failures = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
            if not failures or any(not isinstance(e, Exception) for e in failures):
                raise
            self._failure = exc
            self._handler_scope.cancel()
        finally:
            self._closed = True
            self._opened.set()
            self._finished.set()

    async def close(self) -> BaseException | None:
        """The handler is over: cancel its tasks, wait for them; what they raised, if anything.

        Waits even if the handler was cancelled, as a nursery's exit does: the
        tasks were cancelled too, so they end promptly.
        """
        self._closed = True
        self._queued.clear()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        if self._finished is not None:
            with trio.CancelScope(shield=True):
                await self._finished.wait()
        return self._failure
