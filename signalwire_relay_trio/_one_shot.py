"""One-shot call commands, declared rather than written out.

A one-shot command sends one request for the call and returns its result.
The reference gives each a signature; that signature is the only thing that
differs between them. So each is declared as a signature with a docstring,
and :func:`one_shot` turns it into the method that sends it::

    @one_shot("calling.echo")
    def echo(self, *, timeout: float | None = None, status_url: str | None = None) -> None:
        "Echo the caller's audio back."

Arguments become params under their own name (``rename`` maps the few that
differ on the wire), ``convert`` coerces builders and dicts (a required
argument always, an optional one when given), ``fill`` makes a value the
caller left out (a fresh ``tag``), ``None`` stays off the wire,
and a ``**kwargs`` parameter passes extra params through (a named argument
wins over an extra of the same wire name).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ._params import merge_params

__all__ = ["one_shot"]

P = ParamSpec("P")


class CommandSender(Protocol):
    async def _execute(
        self, method: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]: ...


S = TypeVar("S", bound=CommandSender)
Sent = Callable[Concatenate[S, P], Coroutine[Any, Any, dict[str, Any]]]


def one_shot(
    method: str,
    *,
    rename: Mapping[str, str] | None = None,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
    fill: Mapping[str, Callable[[], Any]] | None = None,
) -> Callable[[Callable[Concatenate[S, P], None]], Sent[S, P]]:
    """Declare a one-shot command ``method`` from a signature (see the module docstring)."""
    renames = dict(rename or {})
    converters = dict(convert or {})
    fillers = dict(fill or {})

    def declare(signature_of: Callable[Concatenate[S, P], None]) -> Sent[S, P]:
        signature = inspect.signature(signature_of)
        parameters = list(signature.parameters.values())[1:]
        named = [p.name for p in parameters if p.kind is not p.VAR_KEYWORD]
        optional = {p.name for p in parameters if p.default is None}
        extra_name = next((p.name for p in parameters if p.kind is p.VAR_KEYWORD), None)

        async def send(self: S, /, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
            arguments = signature.bind(self, *args, **kwargs).arguments
            given = arguments.get(extra_name, {}) if extra_name else {}
            extra = {renames.get(key, key): value for key, value in given.items()}
            params: dict[str, Any] = {}
            for name in named:
                value = arguments.get(name)
                if not value and name in fillers:
                    value = fillers[name]()
                if value is None and name in optional:
                    continue
                if name in converters:
                    value = converters[name](value)
                params[renames.get(name, name)] = value
            return await self._execute(method, merge_params(params, extra) or None)

        functools.update_wrapper(send, signature_of)
        return send

    return declare
