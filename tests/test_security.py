"""No credential in any log record or repr; TLS verification on by default."""

from __future__ import annotations

import logging
import ssl

import pytest
import trio
from waiting import wait_for_state

from signalwire_relay_trio import ConnectionState, open_relay
from signalwire_relay_trio._config import resolve_settings
from signalwire_relay_trio.testing import open_fake_relay

PROJECT = "proj-7f3a-SECRET-project-id"
TOKEN = "PT-SECRET-token-value-0123456789"


async def test_no_secret_in_logs_or_reprs_across_a_reconnect(autojump_clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    reprs: list[str] = []
    async with open_fake_relay(project=PROJECT, token=TOKEN) as fake:
        with trio.fail_after(120):
            async with open_relay(**fake.connect_kwargs()) as relay:
                async with relay.inbound_calls() as calls:
                    fake_call = await fake.inbound_call()
                    call = await calls.receive()
                await call.answer()
                await fake.drop()  # reconnect: the resume carries authorization_state
                await wait_for_state(relay, ConnectionState.RECONNECTING)
                await wait_for_state(relay, ConnectionState.CONNECTED)
                await fake.send_malformed('{"authorization_state": "x", "token": "y"')
                async with call.play_tts("hello") as playing:
                    event = await playing.wait()
                await fake_call.hangup()
                ended = await call.wait_for_ended()
                reprs += [repr(relay), repr(call), repr(playing), repr(event), repr(ended)]
                reprs.append(repr(relay._settings))
                reprs.append(repr(relay._settings.credentials))
        states = [
            entry.params["authorization_state"]
            for entry in fake.journal.all("signalwire.connect")
            if "authorization_state" in entry.params
        ]
        states += [session._authorization_state for session in fake.sessions]
    assert states, "the reconnect must have resumed with an authorization_state"
    secrets = [PROJECT, TOKEN, *states]
    text = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [str(record.args) for record in caplog.records]
        + [caplog.text]
        + reprs
    )
    assert len(caplog.records) > 10  # the session really was logged at DEBUG
    for secret in secrets:
        assert secret not in text


async def test_jwt_never_logged(autojump_clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    jwt = "eyJhbGciOi.SECRET-jwt-payload.signature"
    async with open_fake_relay(jwt_token=jwt) as fake:
        kwargs = fake.connect_kwargs()
        del kwargs["project"], kwargs["token"]
        with trio.fail_after(30):
            async with open_relay(jwt_token=jwt, **kwargs) as relay:
                await fake.drop()
                await wait_for_state(relay, ConnectionState.RECONNECTING)
                await wait_for_state(relay, ConnectionState.CONNECTED)
                assert fake.connection_count == 2
                text = repr(relay) + repr(relay._settings)
    assert jwt not in caplog.text + text


def test_tls_verification_is_on_by_default() -> None:
    settings = resolve_settings(
        project="p",
        token="t",
        jwt_token=None,
        host="example.signalwire.com",
        contexts=(),
        url=None,
        ssl_context=None,
        reconnect=True,
        request_timeout=10,
        max_active_calls=10,
        environ={},
    )
    assert settings.url == "wss://example.signalwire.com"
    assert settings.ssl_context is not None
    assert settings.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert settings.ssl_context.check_hostname is True


@pytest.mark.parametrize(
    "host",
    [
        "wss://example.signalwire.com",
        "example.signalwire.com/path",
        "user:pw@example.signalwire.com",
        "example.signalwire.com extra",
        "example.signalwire.com\n",
        "example.signalwire.com?x=1",
    ],
)
async def test_bad_host_is_rejected_before_connecting(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        async with open_relay("p", "t", host=host):
            pass  # pragma: no cover
