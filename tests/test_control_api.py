"""The control API: HTTP/1.1 + JSON on the fake's own port, checked input, hostile clients."""

from __future__ import annotations

import json
import ssl
from typing import Any

import h11
import pytest
import trio

from signalwire_relay_trio import Call, DialError, Digits, Phone, open_relay
from signalwire_relay_trio.testing import FakeRelay, _control, _server, open_fake_relay, serving

JSON = dict[str, Any]


async def http(
    fake: FakeRelay,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request to the fake's control API; ``(status, decoded JSON, headers)``."""
    stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    if ssl_context is not None:
        stream = trio.SSLStream(stream, ssl_context, server_hostname="127.0.0.1")
    client = h11.Connection(h11.CLIENT)
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    fields = [("host", "127.0.0.1"), ("content-length", str(len(payload))), *(headers or [])]
    async with stream:
        await stream.send_all(client.send(h11.Request(method=method, target=path, headers=fields)))
        await stream.send_all(client.send(h11.Data(data=payload)) + client.send(h11.EndOfMessage()))
        response: h11.Response | None = None
        data = bytearray()
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    assert response is not None
    answer = {k.decode(): v.decode() for k, v in response.headers}
    assert answer["content-type"] == "application/json"
    return response.status_code, json.loads(data), answer


async def menu(call: Call) -> None:
    await call.answer()
    result = await (await call.prompt_tts("Press a digit", Digits(max=2, terminators="#"))).wait()
    await (await call.play_tts(f"You said {result.digits}")).wait()
    await call.wait_for_ended()


async def test_a_call_driven_through_the_control_api(fake_relay: FakeRelay) -> None:
    fake_relay.timings.tts_min = 0.01
    fake_relay.timings.tts_seconds_per_char = 0.001
    with trio.fail_after(20):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            async with serving(relay, menu):
                status, body, _ = await http(
                    fake_relay,
                    "POST",
                    "/control/calls",
                    {"context": "office", "from_number": "+15550001"},
                )
                assert status == 201
                call_id = body["call_id"]
                status, body, _ = await http(fake_relay, "GET", f"/control/calls/{call_id}")
                assert status == 200
                assert body["call_id"] == call_id and body["direction"] == "inbound"
                assert body["context"] == "office"
                assert body["device"]["params"]["from_number"] == "+15550001"
                wait = {"state": "answered", "timeout": 5}
                assert (await http(fake_relay, "POST", f"/control/calls/{call_id}/wait", wait))[
                    :2
                ] == (200, {"state": "answered"})
                status, _, _ = await http(
                    fake_relay, "POST", f"/control/calls/{call_id}/press", {"digits": "4#"}
                )
                assert status == 200
                await fake_relay.journal.wait_for_entry(
                    direction="sent",
                    event_type="calling.call.play",
                    call_id=call_id,
                    predicate=lambda e: (
                        e.params["params"]["state"] == "finished"
                        and len(fake_relay.journal.all("calling.play")) == 1
                    ),
                )
                status, body, _ = await http(
                    fake_relay, "POST", f"/control/calls/{call_id}/hangup", {}
                )
                assert (status, body) == (200, {"state": "ended"})
            status, entries, _ = await http(
                fake_relay, "GET", f"/control/journal?method=calling.play&call_id={call_id}"
            )
    assert status == 200
    request, reply = entries
    assert request["direction"] == "received" and request["kind"] == "request"
    assert request["params"]["play"] == [{"type": "tts", "params": {"text": "You said 4"}}]
    assert reply["direction"] == "sent" and reply["kind"] == "response"
    assert reply["result"]["code"] == "200" and reply["call_id"] == call_id


async def test_the_journal_endpoint_filters_and_hides_credentials(fake_relay: FakeRelay) -> None:
    with trio.fail_after(20):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)):
            status, entries, _ = await http(
                fake_relay, "GET", "/control/journal?method=signalwire.connect"
            )
            assert status == 200
            connect, reply = entries
            assert connect["params"]["authentication"] == {
                "project": "test-project",
                "token": "***",
            }
            assert reply["result"]["protocol"].startswith("signalwire_")
            _, events, _ = await http(
                fake_relay,
                "GET",
                "/control/journal?direction=sent&event_type=signalwire.authorization.state",
            )
            (auth,) = events
            assert auth["params"]["params"]["authorization_state"] == "***"
            _, everything, _ = await http(fake_relay, "GET", "/control/journal")
            assert "test-token" not in json.dumps(everything)
            _, sessions, _ = await http(fake_relay, "GET", "/control/sessions")
            assert sessions == [
                {
                    "protocol": fake_relay.sessions[0].protocol,
                    "contexts": ["office"],
                    "connected": True,
                }
            ]


async def test_scripts_and_messages_through_the_control_api(fake_relay: FakeRelay) -> None:
    fake_relay.timings.message_state_gap = 0.001
    with trio.fail_after(20):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            status, _, _ = await http(
                fake_relay,
                "POST",
                "/control/dial-outcomes",
                {"to_number": "+15550002222", "outcome": "busy", "ring_time": 0.01},
            )
            assert status == 200
            with pytest.raises(DialError) as failed:
                await relay.dial(Phone(to_number="+15550002222", from_number="+15551230000"))
            assert failed.value.reason == "busy"
            status, _, _ = await http(
                fake_relay,
                "POST",
                "/control/message-outcomes",
                {"to_number": "+15550003333", "outcome": "undelivered"},
            )
            assert status == 200
            message = await relay.send_message(
                to_number="+15550003333", from_number="+15551230000", body="x"
            )
            assert (await message.wait(timeout=5)).message_state == "undelivered"
            async with relay.inbound_messages() as inbox:
                status, body, _ = await http(
                    fake_relay,
                    "POST",
                    "/control/messages",
                    {
                        "context": "office",
                        "from_number": "+15559870001",
                        "to_number": "+15551230000",
                        "body": "Hello",
                    },
                )
                assert status == 201
                received = await inbox.receive()
            assert received.message_id == body["message_id"] and received.body == "Hello"


async def test_faults_and_reset_through_the_control_api(fake_relay: FakeRelay) -> None:
    with trio.fail_after(20):
        status, body, _ = await http(fake_relay, "POST", "/control/faults", {"kind": "malformed"})
        assert status == 409 and "no connected session" in body["error"]
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            assert (await http(fake_relay, "POST", "/control/faults", {"kind": "malformed"}))[
                0
            ] == 200
            (raw,) = [e for e in fake_relay.journal.sent() if e.frame is None]
            assert raw.raw == "{not json"
            assert (await http(fake_relay, "POST", "/control/faults", {"kind": "stop_pings"}))[
                0
            ] == 200
            assert fake_relay.ignore_pings
            before = fake_relay.connection_count
            assert (await http(fake_relay, "POST", "/control/faults", {"kind": "drop"}))[0] == 200
            while fake_relay.connection_count == before:  # noqa: ASYNC110 (the client reconnects)
                await trio.sleep(0.01)
            call = await fake_relay.inbound_call()
            assert (await http(fake_relay, "POST", "/control/reset"))[:2] == (200, {"reset": True})
            assert call.ended and not fake_relay.ignore_pings and fake_relay.calls == {}
            assert await relay.execute("signalwire.ping", {}) is not None  # still served


BAD_REQUESTS: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/control/calls", b"{not json", 400, None),
    ("POST", "/control/calls", b"[1, 2]", 400, None),
    ("POST", "/control/calls", b"\xff\xfe", 400, None),
    ("POST", "/control/calls", {}, 400, "context"),
    ("POST", "/control/calls", {"context": 5}, 400, "context"),
    ("POST", "/control/calls", {"context": ""}, 400, "context"),
    ("POST", "/control/calls", {"context": "office", "from_number": ["x"]}, 400, "from_number"),
    ("POST", "/control/calls", {"context": "office", "timeout": "soon"}, 400, "timeout"),
    ("POST", "/control/calls", {"context": "office", "timeout": -1}, 400, "timeout"),
    ("POST", "/control/calls", {"context": "office", "timeout": 1e9}, 400, "timeout"),
    ("POST", "/control/calls", {"context": "office", "colour": "red"}, 400, "colour"),
    ("POST", "/control/calls", {"context": "office", "timeout": 0}, 409, None),
    ("GET", "/control/calls/nope", None, 404, None),
    ("POST", "/control/calls/nope/wait", {"state": "answered"}, 404, None),
    ("POST", "/control/calls/nope/press", {"digits": "1"}, 404, None),
    ("POST", "/control/calls/nope/say", {"text": "hi"}, 404, None),
    ("POST", "/control/calls/nope/hangup", None, 404, None),
    ("POST", "/control/dial-outcomes", {"to_number": "+1", "outcome": "maybe"}, 400, "outcome"),
    ("POST", "/control/dial-outcomes", {"outcome": "busy"}, 400, "to_number"),
    (
        "POST",
        "/control/dial-outcomes",
        {"to_number": "+1", "outcome": "busy", "ring_time": True},
        400,
        "ring_time",
    ),
    ("POST", "/control/message-outcomes", {"to_number": "+1", "outcome": "lost"}, 400, "outcome"),
    (
        "POST",
        "/control/messages",
        {"context": "office", "from_number": "+1", "to_number": "+2"},
        400,
        "body",
    ),
    (
        "POST",
        "/control/messages",
        {"context": "office", "from_number": "+1", "to_number": "+2", "body": "x", "media": "u"},
        400,
        "media",
    ),
    (
        "POST",
        "/control/messages",
        {"context": "office", "from_number": "+1", "to_number": "+2", "body": "x", "timeout": 0},
        409,
        None,
    ),
    ("POST", "/control/faults", {"kind": "explode"}, 400, "kind"),
    ("POST", "/control/faults", {}, 400, "kind"),
    ("POST", "/control/reset", {"everything": True}, 400, "everything"),
    ("GET", "/control/journal?direction=sideways", None, 400, "direction"),
    ("GET", "/control/journal?colour=red", None, 400, "colour"),
    ("GET", "/control/nothing", None, 404, None),
    ("GET", "/control", None, 404, None),
    ("GET", "/control/calls/a/b/c", None, 404, None),
    ("DELETE", "/control/calls", None, 405, None),
    ("GET", "/control/reset", None, 405, None),
    ("POST", "/control/journal", None, 405, None),
    ("PUT", "/control/calls/nope", None, 405, None),
]


async def test_every_endpoint_refuses_bad_input_with_a_json_error(fake_relay: FakeRelay) -> None:
    with trio.fail_after(30):
        for method, path, body, status, field in BAD_REQUESTS:
            raw = body if isinstance(body, bytes) else None
            got, answer, headers = await http(
                fake_relay, method, path, None if raw else body, raw=raw
            )
            assert got == status, (method, path, body, answer)
            assert isinstance(answer["error"], str) and answer["error"]
            assert answer.get("field") == field, (method, path, answer)
            if field is not None:
                assert field in answer["error"]
            if status == 405:
                assert headers["allow"] in ("GET", "POST")
    assert fake_relay.internal_errors == []


async def test_waits_time_out_and_ended_calls_conflict(fake_relay: FakeRelay) -> None:
    with trio.fail_after(20):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            call = await fake_relay.inbound_call()  # nobody serves: the client passes it
            path = f"/control/calls/{call.call_id}"
            status, body, _ = await http(
                fake_relay, "POST", f"{path}/wait", {"state": "answered", "timeout": 0.05}
            )
            assert status == 408 and body["state"] in ("created", "ended")
            await call.hangup()
            status, body, _ = await http(
                fake_relay, "POST", f"{path}/wait", {"state": "answered", "timeout": 1}
            )
            assert status == 409 and body["state"] == "ended"
            assert (await http(fake_relay, "POST", f"{path}/wait", {"state": "ended"}))[0] == 200
            for action, payload in (("press", {"digits": "1"}), ("say", {"text": "x"})):
                assert (await http(fake_relay, "POST", f"{path}/{action}", payload))[0] == 409
            status, body, _ = await http(fake_relay, "POST", f"{path}/press", {"digits": "1x"})
            assert status == 400 and body["field"] == "digits"
            status, body, _ = await http(fake_relay, "POST", f"{path}/wait", {"state": "flying"})
            assert status == 400 and body["field"] == "state"
            del relay


async def test_a_body_over_the_limit_is_refused_unread(fake_relay: FakeRelay) -> None:
    with trio.fail_after(20):
        big = b'{"context": "' + b"x" * (128 * 1024) + b'"}'
        status, _, _ = await http(fake_relay, "POST", "/control/calls", raw=big)
        assert status == 413
        status, _, _ = await http(
            fake_relay, "POST", "/control/calls", raw=big, headers=[("x", "y")]
        )
        assert status == 413


# -- hostile clients ------------------------------------------------------------------


CHUNKED = b"POST /control/calls HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"


async def hostile(fake: FakeRelay, payload: bytes, *, linger: float = 0.0) -> bytes:
    """Send ``payload``, linger, and return what the fake answered before closing."""
    stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    received = bytearray()
    async with stream:
        await stream.send_all(payload)
        with trio.move_on_after(linger):
            await trio.sleep_forever()
        with trio.move_on_after(5):
            try:
                while data := await stream.receive_some(65536):
                    received += data
            except trio.BrokenResourceError:  # closed with our bytes unread: a reset
                pass
    return bytes(received)


async def test_relay_clients_are_served_whatever_the_control_api_receives(
    fake_relay: FakeRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_server, "HANDSHAKE_TIMEOUT", 0.5)
    monkeypatch.setattr(_control, "READ_TIMEOUT", 0.5)
    answered: list[str] = []

    async def handle(call: Call) -> None:
        await call.answer()
        answered.append(call.call_id)

    abandoned: list[trio.SocketStream] = []
    with trio.fail_after(30):
        async with open_relay(**fake_relay.connect_kwargs(memory=False)) as relay:
            async with serving(relay, handle), trio.open_nursery() as nursery:
                # connections that are opened and abandoned half-way
                for partial in (
                    b"",
                    b"POST /control/calls HTTP/1.1\r\nHost: x\r\n",
                    b"POST /control/calls HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{",
                ):
                    stream = await trio.open_tcp_stream("127.0.0.1", fake_relay.port)
                    if partial:
                        await stream.send_all(partial)
                    abandoned.append(stream)
                answers = {}

                async def send(name: str, payload: bytes, linger: float = 0.0) -> None:
                    answers[name] = await hostile(fake_relay, payload, linger=linger)

                nursery.start_soon(send, "garbage", bytes(range(256)) * 40)
                nursery.start_soon(
                    send,
                    "tls-hello",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                )
                nursery.start_soon(
                    send,
                    "huge-head",
                    b"GET /control/journal HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 70000 + b"\r\n\r\n",
                )
                nursery.start_soon(
                    send,
                    "bad-chunks",
                    CHUNKED + b"zz\r\n",
                )
                nursery.start_soon(
                    send,
                    "endless-chunks",
                    b"POST /control/calls HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                    + b"4000\r\n"
                    + b"a" * 0x4000
                    + b"\r\n" * 1,
                    0.2,
                )
                # meanwhile a well-behaved RELAY client keeps working
                for _ in range(3):
                    call = await fake_relay.inbound_call()
                    await call.wait_for_state("answered")
                    assert await relay.execute("signalwire.ping", {}) is not None
            # the abandoned connections were cut after the read timeout
            for stream in abandoned:
                with trio.fail_after(5):
                    try:
                        while await stream.receive_some(65536):
                            pass
                    except trio.BrokenResourceError:
                        pass
                await stream.aclose()
    assert len(answered) == 3
    assert answers["garbage"].startswith(b"HTTP/1.1 400")
    assert answers["huge-head"].startswith(b"HTTP/1.1 4")
    assert answers["bad-chunks"].startswith(b"HTTP/1.1 400")
    assert answers["endless-chunks"].startswith((b"HTTP/1.1 408", b"HTTP/1.1 413"))
    assert fake_relay.internal_errors == []


async def test_the_control_api_over_tls(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    with trio.fail_after(20):
        async with open_fake_relay(ssl_context=server_context) as fake:
            status, body, _ = await http(
                fake, "GET", "/control/sessions", ssl_context=client_context
            )
            assert (status, body) == (200, [])


async def test_a_client_expecting_100_continue_gets_it(fake_relay: FakeRelay) -> None:
    """curl sends ``Expect: 100-continue`` before a body over 1 KiB and waits for the 100."""
    body = json.dumps({"context": "office", "timeout": 0, "to_number": "+1" + "0" * 2000})
    head = (
        "POST /control/calls HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", fake_relay.port) as stream:
            await stream.send_all(head.encode())
            interim = await stream.receive_some(65536)
            assert interim.startswith(b"HTTP/1.1 100 ")
            await stream.send_all(body.encode())
            answer = bytearray()
            while data := await stream.receive_some(65536):
                answer += data
    assert answer.startswith(b"HTTP/1.1 409 ")  # nobody is subscribed: the body was read
