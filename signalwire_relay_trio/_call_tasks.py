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
from functools import partial
from typing import Any

import trio

from ._groups import leaves

__all__ = ["CallTaskGroup"]

_CLOSED = "the call's handler has ended: its task group takes no new tasks"


class CallTaskGroup:
    """``call.nursery`` under ``serve()``: tasks that live as long as the call's handler.

    Has the parts of :class:`trio.Nursery` a handler uses: :meth:`start_soon`,
    :meth:`start`, :attr:`cancel_scope` (the handler's own scope) and
    :attr:`child_tasks`. It takes new tasks until the handler has ended and
    its tasks with it; a task started while they are being cancelled starts
    cancelled, as in a nursery.
    """

    __slots__ = (
        "_close_requested",
        "_closed",
        "_failure",
        "_finished",
        "_handler_scope",
        "_name",
        "_nursery",
        "_opened",
        "_queued",
        "_supervisor_nursery",
    )

    def __init__(self, handler_scope: trio.CancelScope, beside: trio.Nursery, name: str) -> None:
        """``beside``: the nursery of the handler's task, where the supervisor runs too."""
        self._handler_scope = handler_scope
        self._supervisor_nursery = beside
        self._name = name
        self._nursery: trio.Nursery | None = None
        self._queued: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], object]] = []
        self._opened: trio.Event | None = None
        self._close_requested: trio.Event | None = None
        self._finished: trio.Event | None = None
        self._closed = False  # no new tasks: the handler and its tasks are over
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
        name = async_fn if name is None else name
        if self._nursery is not None:
            self._nursery.start_soon(self._guarded, async_fn, *args, name=name)
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
        if self._closed or self._nursery is None:
            raise RuntimeError(_CLOSED)
        name = async_fn if name is None else name
        return await self._nursery.start(self._guarded_start, async_fn, *args, name=name)

    def _open_soon(self) -> None:
        if self._opened is None:
            self._supervisor_nursery.start_soon(self._supervise, name=self._name)
            self._opened = trio.Event()
            self._close_requested = trio.Event()
            self._finished = trio.Event()

    async def _guarded(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run one task; if it fails, cancel the handler at once, as its nursery would."""
        try:
            await async_fn(*args)
        except BaseException as exc:
            if not isinstance(exc, trio.Cancelled):
                self._handler_scope.cancel()
            raise

    async def _guarded_start(
        self,
        async_fn: Callable[..., Awaitable[Any]],
        *args: Any,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self._guarded(partial(async_fn, task_status=task_status), *args)

    async def _supervise(self) -> None:
        """Hold the call's nursery until the handler has ended; keep what failed in it."""
        opened, close_requested, finished = self._opened, self._close_requested, self._finished
        assert opened is not None and close_requested is not None and finished is not None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                queued, self._queued = self._queued, []
                for async_fn, args, name in queued:
                    nursery.start_soon(self._guarded, async_fn, *args, name=name)
                opened.set()
                # Open (if cancelled) until the handler has ended, as a nursery of its own was.
                with trio.CancelScope(shield=True):
                    await close_requested.wait()
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            failures = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
            if not failures or any(not isinstance(e, Exception) for e in failures):
                raise
            self._failure = exc
        finally:
            self._closed = True
            opened.set()
            finished.set()

    async def close(self) -> BaseException | None:
        """The handler has ended: cancel its tasks, wait for them, return what failed.

        Waits even if the handler was cancelled, as a nursery's exit does: the
        tasks were cancelled too, so they end promptly.
        """
        if self._finished is None:
            self._closed = True
            return None
        assert self._close_requested is not None
        self._close_requested.set()
        with trio.CancelScope(shield=True):
            await self._finished.wait()
        failure, self._failure = self._failure, None
        return failure
