"""Turning trio's exception groups back into single errors at our API edges.

``open_relay`` and ``serve`` promise that errors leave as themselves, never
wrapped. Cancellation is never swallowed: a group holding only
``trio.Cancelled`` is returned unchanged so that trio can deliver it.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["combine", "leaves", "pick_error", "raise_single"]


def leaves(exc: BaseException) -> list[BaseException]:
    """Every non-group exception inside ``exc``, depth first."""
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in exc.exceptions:
            found.extend(leaves(inner))
        return found
    return [exc]


def combine(first: BaseException | None, second: BaseException | None) -> BaseException | None:
    """Two outcomes as one exception: either alone, a group if both raised, None if neither."""
    if first is None or second is None:
        return first or second
    return BaseExceptionGroup("several errors", [first, second])


def pick_error(exc: BaseException, prefer: BaseException | None = None) -> BaseException:
    """The one exception to raise in place of ``exc``.

    ``prefer`` (the body's own exception) wins when it is among the leaves;
    otherwise the first leaf that is not ``Cancelled``; a group of nothing
    but cancellations is returned as it is.
    """
    found = leaves(exc)
    if prefer is not None and not isinstance(prefer, trio.Cancelled):
        for leaf in found:
            if leaf is prefer:
                return prefer
    for leaf in found:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return exc


def raise_single(group: BaseExceptionGroup, prefer: BaseException | None = None) -> NoReturn:
    """Raise the one exception :func:`pick_error` chooses in place of ``group``.

    The group itself is re-raised only when it holds nothing but cancellations.
    """
    error = pick_error(group, prefer)
    if error is group:
        raise group
    raise error from None
