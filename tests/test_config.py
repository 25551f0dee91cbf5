"""resolve_settings and validate_host in _config: defaults, the environment, validation, TLS.

The environment always comes in through ``environ=``; the real os.environ is never read
or changed here.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from signalwire_relay_trio._config import (
    DEFAULT_HOST,
    RelaySettings,
    resolve_settings,
    validate_host,
)

PROJECT = "0d7c4cbb-9f3e-4a0e-8a53-secret-project"
TOKEN = "PTsecret-token-value-0123456789"
JWT = "eyJhbGciOiJIUzI1NiJ9.secret-jwt-body.signature"

ENV_PROJECT = "SIGNALWIRE_PROJECT_ID"
ENV_TOKEN = "SIGNALWIRE_API_TOKEN"
ENV_JWT = "SIGNALWIRE_JWT_TOKEN"
ENV_SPACE = "SIGNALWIRE_SPACE"
ENV_CA_FILE = "SIGNALWIRE_RELAY_CA_FILE"


def resolve(environ: dict[str, str] | None = None, **overrides: Any) -> RelaySettings:
    """resolve_settings with open_relay's defaults and an explicit (default empty) environment."""
    arguments: dict[str, Any] = {
        "project": None,
        "token": None,
        "jwt_token": None,
        "host": None,
        "contexts": (),
        "url": None,
        "ssl_context": None,
        "reconnect": True,
        "request_timeout": 10.0,
        "max_active_calls": 1000,
    }
    arguments.update(overrides)
    return resolve_settings(environ={} if environ is None else environ, **arguments)


def with_credentials(environ: dict[str, str] | None = None, **overrides: Any) -> RelaySettings:
    overrides.setdefault("project", PROJECT)
    overrides.setdefault("token", TOKEN)
    return resolve(environ, **overrides)


# -- credentials -----------------------------------------------------------------------


def test_explicit_project_and_token() -> None:
    settings = with_credentials()
    assert settings.credentials.auth_block() == {"project": PROJECT, "token": TOKEN}


def test_credentials_come_from_the_environment() -> None:
    settings = resolve({ENV_PROJECT: PROJECT, ENV_TOKEN: TOKEN})
    assert settings.credentials.auth_block() == {"project": PROJECT, "token": TOKEN}


def test_explicit_credentials_beat_the_environment() -> None:
    environ = {ENV_PROJECT: "env-project", ENV_TOKEN: "env-token"}
    settings = with_credentials(environ)
    assert settings.credentials.auth_block() == {"project": PROJECT, "token": TOKEN}


def test_explicit_project_with_token_from_the_environment() -> None:
    settings = resolve({ENV_PROJECT: "env-project", ENV_TOKEN: TOKEN}, project=PROJECT)
    assert settings.credentials.auth_block() == {"project": PROJECT, "token": TOKEN}


def test_explicit_project_and_token_beat_a_jwt_in_the_environment() -> None:
    # Explicit arguments take precedence over the environment, the JWT variable included.
    settings = with_credentials({ENV_JWT: JWT})
    assert settings.credentials.auth_block() == {"project": PROJECT, "token": TOKEN}


def test_jwt_replaces_project_and_token() -> None:
    settings = resolve(jwt_token=JWT)
    assert settings.credentials.auth_block() == {"jwt_token": JWT}


def test_jwt_from_the_environment_needs_no_project_or_token() -> None:
    settings = resolve({ENV_JWT: JWT})
    assert settings.credentials.auth_block() == {"jwt_token": JWT}


def test_explicit_jwt_beats_the_environment() -> None:
    settings = resolve({ENV_JWT: "env-jwt", ENV_PROJECT: "p", ENV_TOKEN: "t"}, jwt_token=JWT)
    assert settings.credentials.auth_block() == {"jwt_token": JWT}


@pytest.mark.parametrize(
    ("kwargs", "environ", "argument", "variable"),
    [
        ({}, {}, "project", ENV_PROJECT),
        ({"token": TOKEN}, {}, "project", ENV_PROJECT),
        ({"project": PROJECT}, {}, "token", ENV_TOKEN),
        ({}, {ENV_PROJECT: PROJECT}, "token", ENV_TOKEN),
        ({}, {ENV_TOKEN: TOKEN}, "project", ENV_PROJECT),
        ({"project": PROJECT}, {ENV_PROJECT: "", ENV_TOKEN: ""}, "token", ENV_TOKEN),
    ],
    ids=["nothing", "token-only", "project-only", "env-project", "env-token", "empty-env"],
)
def test_a_missing_credential_names_the_argument_and_the_variable(
    kwargs: dict[str, str], environ: dict[str, str], argument: str, variable: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resolve(environ, **kwargs)
    message = str(caught.value)
    assert f"{argument}=" in message
    assert variable in message
    assert PROJECT not in message
    assert TOKEN not in message


# -- host and url ----------------------------------------------------------------------


def test_default_host_is_relay_signalwire_com() -> None:
    settings = with_credentials()
    assert DEFAULT_HOST == "relay.signalwire.com"
    assert settings.url == "wss://relay.signalwire.com"
    assert settings.hostname == "relay.signalwire.com"
    assert settings.port == 443
    assert settings.secure is True
    assert settings.target == "/"


def test_host_comes_from_the_space_variable() -> None:
    settings = with_credentials({ENV_SPACE: "example.signalwire.com"})
    assert settings.url == "wss://example.signalwire.com"
    assert settings.hostname == "example.signalwire.com"


def test_explicit_host_beats_the_space_variable() -> None:
    settings = with_credentials({ENV_SPACE: "env.signalwire.com"}, host="arg.signalwire.com")
    assert settings.url == "wss://arg.signalwire.com"


def test_host_with_a_port() -> None:
    settings = with_credentials(host="example.signalwire.com:8443")
    assert settings.url == "wss://example.signalwire.com:8443"
    assert settings.hostname == "example.signalwire.com"
    assert settings.port == 8443
    assert settings.host == "example.signalwire.com:8443"


@pytest.mark.parametrize(
    "host",
    [
        "example.signalwire.com",
        "example.signalwire.com:443",
        "relay.signalwire.com:1",
        "relay.signalwire.com:65535",
        "127.0.0.1:8080",
        "localhost",
    ],
)
def test_valid_hosts(host: str) -> None:
    assert validate_host(host) == host


@pytest.mark.parametrize(
    "host",
    [
        "wss://example.signalwire.com",
        "https://example.signalwire.com",
        "example.signalwire.com/",
        "example.signalwire.com/relay",
        "user@example.signalwire.com",
        "user:secret@example.signalwire.com",
        "example.signalwire.com?x=1",
        "example.signalwire.com#frag",
        "example signalwire.com",
        " example.signalwire.com",
        "example.signalwire.com ",
        "example.signalwire.com\n",
        "example.signalwire.com\r\nX-Injected: 1",
        "example.signalwire.com\t",
        "example.signalwire.com\x0b",
        "example.signalwire.com\x0c",
        "example.signalwire.com\u00a0",
        "example\\signalwire.com",
        "example.signalwire.com:abc",
        "example.signalwire.com:0",
        "example.signalwire.com:65536",
        ":443",
        "",
    ],
)
def test_invalid_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        validate_host(host)
    if host:  # an empty host= means "not given" to resolve_settings
        with pytest.raises(ValueError):
            with_credentials(host=host)


def test_invalid_space_variable_is_refused() -> None:
    with pytest.raises(ValueError):
        with_credentials({ENV_SPACE: "https://example.signalwire.com"})


def test_url_overrides_host_and_space() -> None:
    settings = with_credentials(
        {ENV_SPACE: "env.signalwire.com"},
        host="arg.signalwire.com",
        url="ws://127.0.0.1:8765",
    )
    assert settings.url == "ws://127.0.0.1:8765"
    assert settings.hostname == "127.0.0.1"
    assert settings.port == 8765
    assert settings.host == "127.0.0.1:8765"
    assert settings.secure is False


def test_host_is_still_validated_next_to_a_url() -> None:
    with pytest.raises(ValueError):
        with_credentials(host="https://bad", url="ws://127.0.0.1:8765")


def test_url_keeps_its_path_and_query() -> None:
    settings = with_credentials(url="wss://proxy.example.com/relay?via=edge")
    assert settings.target == "/relay?via=edge"
    assert settings.port == 443
    assert settings.hostname == "proxy.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.signalwire.com",
        "http://127.0.0.1:8765",
        "example.signalwire.com",
        "wss://user:s3cretpw@example.signalwire.com",
        "wss://s3cretpw@example.signalwire.com",
        "wss://",
        "ws://127.0.0.1:99999",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        with_credentials(url=url)
    assert "s3cretpw" not in str(caught.value)


# -- other arguments ------------------------------------------------------------------


def test_contexts_are_deduplicated_in_order() -> None:
    settings = with_credentials(contexts=["office", "support", "office"])
    assert settings.contexts == ("office", "support")


@pytest.mark.parametrize("contexts", ["office", ["office", ""], ["office", None], [3]])
def test_bad_contexts(contexts: Any) -> None:
    with pytest.raises(ValueError):
        with_credentials(contexts=contexts)


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_request_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError):
        with_credentials(request_timeout=timeout)


def test_request_timeout_becomes_a_float() -> None:
    settings = with_credentials(request_timeout=3)
    assert settings.request_timeout == 3.0
    assert isinstance(settings.request_timeout, float)


@pytest.mark.parametrize("limit", [0, -5])
def test_max_active_calls_must_be_positive(limit: Any) -> None:
    with pytest.raises(ValueError, match="max_active_calls"):
        with_credentials(max_active_calls=limit)


@pytest.mark.parametrize("limit", [2.5, "10", True])
def test_max_active_calls_must_be_an_int(limit: Any) -> None:
    with pytest.raises(TypeError, match="max_active_calls"):
        with_credentials(max_active_calls=limit)


def test_other_settings_pass_through() -> None:
    settings = with_credentials(reconnect=False, max_active_calls=7)
    assert settings.reconnect is False
    assert settings.max_active_calls == 7


# -- TLS ------------------------------------------------------------------------------


def test_ws_url_has_no_ssl_context() -> None:
    settings = with_credentials(url="ws://127.0.0.1:8765")
    assert settings.ssl_context is None
    assert settings.secure is False


def test_ws_url_drops_an_explicit_ssl_context_and_ignores_the_ca_variable() -> None:
    settings = with_credentials(
        {ENV_CA_FILE: "/nonexistent/ca.pem"},
        url="ws://127.0.0.1:8765",
        ssl_context=ssl.create_default_context(),
    )
    assert settings.ssl_context is None


def test_wss_gets_a_verifying_ssl_context_by_default() -> None:
    settings = with_credentials()
    context = settings.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_an_explicit_ssl_context_is_used_as_is() -> None:
    mine = ssl.create_default_context()
    settings = with_credentials({ENV_CA_FILE: "/nonexistent/ca.pem"}, ssl_context=mine)
    assert settings.ssl_context is mine


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_hostname: str) -> None:
    """A TLS handshake over memory BIOs; raises ssl.SSLError if verification fails."""
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(client_in, client_out, server_hostname=server_hostname)
    server_end = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client_end), ("server", server_end)):
            if done[name]:
                continue
            try:
                end.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            return
    raise AssertionError("the TLS handshake did not finish")


def test_ca_file_from_the_environment_is_trusted(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme", reason="trustme is needed to make a test CA")
    ca = trustme.CA()
    server_cert = ca.issue_cert("relay.example.test")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server)

    settings = with_credentials({ENV_CA_FILE: str(ca_file)}, url="wss://relay.example.test")
    context = settings.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    _handshake(context, server, "relay.example.test")

    # Verification is really on: a wrong name, or a context without the CA, is refused.
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(context, server, "other.example.test")
    stranger = trustme.CA()
    other_file = tmp_path / "other-ca.pem"
    stranger.cert_pem.write_to_path(str(other_file))
    untrusting = with_credentials({ENV_CA_FILE: str(other_file)}).ssl_context
    assert untrusting is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(untrusting, server, "relay.example.test")


# -- secrets --------------------------------------------------------------------------


def test_settings_repr_hides_credentials() -> None:
    for settings in (with_credentials(contexts=["office"]), resolve(jwt_token=JWT)):
        for shown in (repr(settings), str(settings)):
            assert TOKEN not in shown
            assert JWT not in shown
            assert PROJECT not in shown
            assert "RelaySettings" in shown
    assert "office" in repr(with_credentials(contexts=["office"]))
