"""Connection settings: arguments, environment defaults and their validation.

Pure functions, no trio, no I/O beyond reading the environment and the CA
file named there. Credentials never appear in an error message.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._protocol import Credentials

__all__ = [
    "DEFAULTS",
    "DEFAULT_HOST",
    "RelayOptions",
    "RelaySettings",
    "context_names",
    "resolve_settings",
    "validate_host",
]

DEFAULT_HOST = "relay.signalwire.com"
ENV_PROJECT = "SIGNALWIRE_PROJECT_ID"
ENV_TOKEN = "SIGNALWIRE_API_TOKEN"
ENV_JWT = "SIGNALWIRE_JWT_TOKEN"
ENV_SPACE = "SIGNALWIRE_SPACE"
ENV_CA_FILE = "SIGNALWIRE_RELAY_CA_FILE"

_BAD_HOST_CHARS = frozenset("/@?#\\ \t\r\n")


def _seconds(optional: bool = False) -> Any:
    """A validator: a positive number of seconds (``None`` too when ``optional``)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            expected = "a number of seconds or None" if optional else "a number of seconds"
            raise TypeError(f"{attribute.name} must be {expected}, not {value!r}")
        if not value > 0:  # also refuses NaN
            raise ValueError(f"{attribute.name} must be positive, not {value!r}")

    return check


def _count(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be a positive integer, not {value!r}")
    if value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _flag(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be True or False, not {value!r}")


def _optional_float(value: Any) -> Any:
    return value if value is None or isinstance(value, bool) else _as_float(value)


def _as_float(value: Any) -> Any:
    """Numbers become floats; anything else is left for the validator to name."""
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    )


@attrs.frozen(kw_only=True)
class RelayOptions:
    """The connection's tunables: the one place their defaults and checks are written.

    ``open_relay`` and ``RelayClient`` take their defaults from :data:`DEFAULTS`.
    A value of the wrong type raises ``TypeError``, a value out of range
    ``ValueError``; both name the option.
    """

    reconnect: bool = attrs.field(default=True, validator=_flag)
    request_timeout: float = attrs.field(default=10.0, validator=_seconds(), converter=_as_float)
    max_active_calls: int = attrs.field(default=1000, validator=_count)
    keepalive_interval: float | None = attrs.field(
        default=20.0, validator=_seconds(optional=True), converter=_as_float
    )
    keepalive_timeout: float = attrs.field(default=10.0, validator=_seconds(), converter=_as_float)
    connect_timeout: float = attrs.field(default=10.0, validator=_seconds(), converter=_as_float)
    max_pending_requests: int = attrs.field(default=10_000, validator=_count)
    max_queued_requests: int = attrs.field(default=500, validator=_count)


DEFAULTS = RelayOptions()


@attrs.frozen(kw_only=True, repr=False)
class RelaySettings(RelayOptions):
    """Everything a connection needs to reach and authenticate with RELAY."""

    credentials: Credentials
    url: str
    host: str  # host[:port] for the HTTP Host header
    hostname: str  # for TCP and TLS server name
    port: int
    secure: bool
    target: str
    contexts: tuple[str, ...]
    ssl_context: ssl.SSLContext | None

    def __repr__(self) -> str:
        return f"RelaySettings(url={self.url!r}, contexts={list(self.contexts)!r})"


def context_names(contexts: Iterable[str]) -> tuple[str, ...]:
    """Validate a list of context names; duplicates dropped, order kept."""
    if isinstance(contexts, str):
        raise ValueError("contexts must be a list of names, not a single string")
    names = tuple(dict.fromkeys(contexts))
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"each context must be a non-empty string, got {name!r}")
    return names


def validate_host(host: str) -> str:
    """Check that ``host`` is a bare ``host[:port]`` and return it.

    Raises ``ValueError`` for a scheme, path, userinfo, query or whitespace.
    """
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a non-empty string such as 'example.signalwire.com'")
    if "://" in host:
        raise ValueError("host must not include a scheme; pass url= for a full URL")
    bad = sorted({ch for ch in host if ch in _BAD_HOST_CHARS or ch.isspace()})
    if bad:
        raise ValueError(
            f"host must be a bare host[:port] (found {''.join(bad)!r}); pass url= for a full URL"
        )
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"host has an invalid port: {port!r}")
    if not name:
        raise ValueError(f"host has no name: {host!r}")
    return host


def _split_url(url: str) -> tuple[bool, str, int, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError("url must start with ws:// or wss://")
    if parts.username or parts.password:
        raise ValueError("url must not carry credentials")
    if not parts.hostname:
        raise ValueError("url has no host")
    secure = parts.scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise ValueError("url has an invalid port") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return secure, parts.hostname, port, parts.netloc, target


def default_ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """The system trust store, or the CA bundle named by ``SIGNALWIRE_RELAY_CA_FILE``."""
    cafile = environ.get(ENV_CA_FILE) or None
    return ssl.create_default_context(cafile=cafile)


def resolve_settings(
    *,
    project: str | None,
    token: str | None,
    jwt_token: str | None,
    host: str | None,
    contexts: Iterable[str],
    url: str | None,
    ssl_context: ssl.SSLContext | None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> RelaySettings:
    """Apply environment defaults and validate every argument of ``open_relay``.

    ``options`` are :class:`RelayOptions` fields; those not given take its defaults.
    """
    for name, value in (
        ("project", project),
        ("token", token),
        ("jwt_token", jwt_token),
        ("host", host),
        ("url", url),
    ):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
    env = os.environ if environ is None else environ
    if not jwt_token and not project and not token:
        jwt_token = env.get(ENV_JWT) or None
    if not jwt_token:
        jwt_token = None
        project = project or env.get(ENV_PROJECT) or None
        token = token or env.get(ENV_TOKEN) or None
        if not project:
            raise ValueError(f"missing project: pass project= or set {ENV_PROJECT}")
        if not token:
            raise ValueError(f"missing token: pass token= or set {ENV_TOKEN}")
    context_list = context_names(contexts)
    tunables = attrs.asdict(RelayOptions(**options), recurse=False)

    if url is None:
        host = validate_host(host or env.get(ENV_SPACE) or DEFAULT_HOST)
        url = f"wss://{host}"
    elif host is not None:
        validate_host(host)
    secure, hostname, port, netloc, target = _split_url(url)
    if secure and ssl_context is None:
        ssl_context = default_ssl_context(env)
    return RelaySettings(
        credentials=Credentials(project=project, token=token, jwt_token=jwt_token),
        url=url,
        host=netloc,
        hostname=hostname,
        port=port,
        secure=secure,
        target=target,
        contexts=context_list,
        ssl_context=ssl_context if secure else None,
        **tunables,
    )
