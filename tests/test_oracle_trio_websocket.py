"""trio-websocket as an independent oracle for both of our WebSocket implementations.

* Our client (``open_relay``, on the hand-written framer) against a minimal RELAY
  peer written here on ``trio_websocket.serve_websocket``.
* A trio-websocket client, with RELAY frames built by hand, against our fake
  (``open_fake_relay``, on its own server-side WebSocket code).

Either way what trio-websocket decoded, and whether it accepted what it was sent,
is the judge. Message sizes sit exactly on the RFC 6455 payload length forms'
edges (125/126: 7-bit to 16-bit; 65535/65536: 16-bit to 64-bit) and beyond.
Real loopback sockets and the real clock.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import trio
from fakeclient import PROJECT, PROTOCOL_RE, TOKEN, fake_server
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from signalwire_relay_trio import RelayConnection, RelayConnectionError, open_relay
from signalwire_relay_trio.testing import FakeRelay

JSON = dict[str, Any]
Answer = Callable[["OracleSocket", JSON], Awaitable[None]]

HOST = "127.0.0.1"
DEADLINE = 10
# trio-websocket refuses messages over 1 MiB by default; RELAY allows 10 MiB.
MAX_MESSAGE = 4 * 1024 * 1024
ORACLE_PROTOCOL = "signalwire_0123456789abcdef0123456789abcdef_8c4a1b2e-3f5d-4e6a-9b7c-0d1e2f3a4b5c"
ORACLE_IDENTITY = "oracle-identity@oracle-node"

SIZES = [
    pytest.param(125, id="7-bit-max"),
    pytest.param(126, id="16-bit-min"),
    pytest.param(200, id="200B"),
    pytest.param(65535, id="16-bit-max"),
    pytest.param(65536, id="64-bit-min"),
    pytest.param(70 * 1024, id="70KiB"),
    pytest.param(1024 * 1024, id="1MiB"),
]
# Text whose UTF-8 length falls in a larger length form than its character count.
WIDE_TEXTS = [
    pytest.param("€" * 30, id="over-125-bytes-in-125-chars"),
    pytest.param("€" * 21_900 + "🎉", id="over-65535-bytes-in-65535-chars"),
]
PING_PAYLOADS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"oracle", id="short"),
    pytest.param(bytes(range(125)), id="125-bytes"),
]

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def length_form(size: int) -> str:
    """The RFC 6455 payload length form a payload of ``size`` bytes needs."""
    if size <= 125:
        return "7-bit"
    return "16-bit" if size <= 0xFFFF else "64-bit"


def forms_differ(text: str) -> bool:
    """Whether counting characters instead of bytes would pick another length form."""
    return length_form(len(text)) != length_form(utf8_size(text))


def reply(frame_id: Any, result: JSON) -> JSON:
    return {"jsonrpc": "2.0", "id": frame_id, "result": result}


def request(frame_id: str, method: str, params: JSON) -> JSON:
    return {"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params}


def padded_to(size: int, frame_with: Callable[[str], JSON]) -> str:
    """The text of ``frame_with(blob)``, with ``blob`` chosen to make it ``size`` bytes."""
    overhead = utf8_size(encode(frame_with("")))
    text = encode(frame_with("x" * (size - overhead)))
    assert utf8_size(text) == size
    return text


# -- one JSON-RPC peer on a trio-websocket connection -------------------------------------


@dataclass(frozen=True)
class Decoded:
    """One message as trio-websocket decoded it."""

    frame: JSON
    size: int  # UTF-8 bytes, i.e. the WebSocket payload length
    characters: int

    @property
    def forms_differ(self) -> bool:
        return length_form(self.characters) != length_form(self.size)


class OracleSocket:
    """A trio-websocket connection speaking JSON-RPC, recording what it decoded.

    :meth:`run` reads until the peer closes, handing each request to ``answer``
    when one is given; the test waits for frames with :meth:`wait_for`.
    """

    def __init__(self, ws: WebSocketConnection, answer: Answer | None = None) -> None:
        self.ws = ws
        self.decoded: list[Decoded] = []
        self.sent: list[str] = []
        self.close_reason: CloseReason | None = None
        self.finished = trio.Event()
        self._answer = answer
        self._changed = trio.Event()
        self._ids = itertools.count(1)

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.get_message()
                assert isinstance(message, str), "RELAY sends text messages only"
                decoded = Decoded(json.loads(message), utf8_size(message), len(message))
                self.decoded.append(decoded)
                self._changed.set()
                self._changed = trio.Event()
                if self._answer is not None and "method" in decoded.frame:
                    await self._answer(self, decoded.frame)
        except ConnectionClosed as exc:
            self.close_reason = exc.reason
        finally:
            self.finished.set()
            self._changed.set()

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        await self.ws.send_message(text)

    async def send(self, frame: JSON) -> None:
        await self.send_text(encode(frame))

    def new_id(self) -> str:
        return f"oracle-{next(self._ids)}"

    async def wait_for(self, predicate: Callable[[JSON], bool]) -> Decoded:
        """The first decoded frame matching ``predicate``; waits for it while the socket is open."""
        while True:
            for decoded in self.decoded:
                if predicate(decoded.frame):
                    return decoded
            if self.finished.is_set():
                raise AssertionError(f"the connection ended first: {self.close_reason}")
            await self._changed.wait()

    async def reply_to(self, frame_id: str) -> Decoded:
        return await self.wait_for(lambda f: f.get("id") == frame_id and "method" not in f)

    async def request(self, method: str, params: JSON) -> Decoded:
        """Send a request and wait for the peer's response to it."""
        frame_id = self.new_id()
        await self.send(request(frame_id, method, params))
        return await self.reply_to(frame_id)

    def requests(self, method: str) -> list[Decoded]:
        return [d for d in self.decoded if d.frame.get("method") == method]


# -- part 1: our client against a RELAY peer on trio-websocket ----------------------------


async def answer_as_relay(socket: OracleSocket, frame: JSON) -> None:
    """The oracle server's side of RELAY: connect, sized replies, echoes, plain 200s."""
    method, params, frame_id = frame["method"], frame["params"], frame["id"]
    if method == "signalwire.connect":
        result: JSON = {
            "identity": ORACLE_IDENTITY,
            "protocol": ORACLE_PROTOCOL,
            "authorization": {"project": PROJECT, "expires_at": None, "signature": "0" * 32},
            "session_restored": False,
        }
        await socket.send(reply(frame_id, result))
    elif method == "oracle.sized":
        await socket.send_text(padded_to(params["size"], lambda b: reply(frame_id, {"blob": b})))
    elif method == "oracle.echo":
        await socket.send(reply(frame_id, {"echo": params["text"]}))
    else:
        await socket.send(reply(frame_id, {"code": "200", "message": "OK"}))


class OracleServer:
    """The trio-websocket RELAY server: one :class:`OracleSocket` per accepted client."""

    def __init__(self) -> None:
        self.url = ""
        self.paths: list[str] = []
        self.sockets: list[OracleSocket] = []

    @property
    def socket(self) -> OracleSocket:
        assert len(self.sockets) == 1, self.sockets
        return self.sockets[0]

    async def handle(self, ws_request: WebSocketRequest) -> None:
        self.paths.append(ws_request.path)
        socket = OracleSocket(await ws_request.accept(), answer_as_relay)
        self.sockets.append(socket)
        await socket.run()


@asynccontextmanager
async def oracle_server() -> AsyncIterator[OracleServer]:
    """A RELAY peer on ``serve_websocket`` on loopback; stopped on exit."""
    oracle = OracleServer()
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(
                serve_websocket, oracle.handle, HOST, 0, None, max_message_size=MAX_MESSAGE
            )
            server = await nursery.start(serve)
            oracle.url = f"ws://{HOST}:{server.port}"
            yield oracle
            nursery.cancel_scope.cancel()


def relay_to(oracle: OracleServer, **options: Any) -> AbstractAsyncContextManager[RelayConnection]:
    """``open_relay`` aimed at the oracle (keepalive off: every frame is the test's)."""
    return open_relay(
        PROJECT,
        TOKEN,
        url=oracle.url,
        contexts=["office"],
        keepalive_interval=None,
        **options,
    )


@asynccontextmanager
async def relay_on_oracle() -> AsyncIterator[tuple[RelayConnection, OracleSocket]]:
    async with oracle_server() as oracle, relay_to(oracle) as relay:
        yield relay, oracle.socket


async def test_our_client_connects_and_executes_against_trio_websocket() -> None:
    """Upgrade on ``/``, a connect trio-websocket decoded as RELAY's, and a request round trip."""
    async with oracle_server() as oracle, relay_to(oracle) as relay:
        socket = oracle.socket
        assert oracle.paths == ["/"]
        assert (relay.protocol, relay.identity) == (ORACLE_PROTOCOL, ORACLE_IDENTITY)
        [connect] = socket.requests("signalwire.connect")
        assert connect.frame["jsonrpc"] == "2.0"
        params = connect.frame["params"]
        assert params["authentication"] == {"project": PROJECT, "token": TOKEN}
        assert params["version"] == {"major": 2, "minor": 0, "revision": 0}
        assert params["event_acks"] is True
        assert params["contexts"] == ["office"]

        result = await relay.execute("oracle.anything", {"answer": 42, "nested": {"list": [1]}})
        assert result == {"code": "200", "message": "OK"}
        [sent] = socket.requests("oracle.anything")
        assert sent.frame["params"] == {"answer": 42, "nested": {"list": [1]}}


@pytest.mark.parametrize("size", SIZES)
async def test_our_client_messages_of_exact_sizes_both_ways(size: int) -> None:
    """A ``size``-byte request decodes whole in trio-websocket; a ``size``-byte reply reaches us."""
    async with relay_on_oracle() as (relay, socket):
        await relay.execute("oracle.sink", {"blob": ""})
        overhead = socket.requests("oracle.sink")[-1].size
        blob = "x" * (size - overhead)
        await relay.execute("oracle.sink", {"blob": blob})
        received = socket.requests("oracle.sink")[-1]
        assert received.size == size
        assert received.frame["params"] == {"blob": blob}

        result = await relay.execute("oracle.sized", {"size": size})
        assert utf8_size(socket.sent[-1]) == size
        assert result == json.loads(socket.sent[-1])["result"]


@pytest.mark.parametrize("text", WIDE_TEXTS)
async def test_our_client_counts_payload_length_in_utf8_bytes(text: str) -> None:
    """Payload lengths are UTF-8 bytes, not characters, in both directions."""
    async with relay_on_oracle() as (relay, socket):
        result = await relay.execute("oracle.echo", {"text": text})
        assert result == {"echo": text}
        [received] = socket.requests("oracle.echo")
        assert received.frame["params"] == {"text": text}
        assert received.forms_differ, "a weak case: pick another text"
        assert forms_differ(socket.sent[-1]), "a weak case: pick another text"


@pytest.mark.parametrize("payload", PING_PAYLOADS)
async def test_our_client_answers_a_ping_frame_with_its_payload(payload: bytes) -> None:
    """trio-websocket's ``ping()`` returns only once a pong with the same payload came back."""
    async with relay_on_oracle() as (relay, socket):
        with trio.fail_after(2):
            await socket.ws.ping(payload)
        assert await relay.execute("oracle.after-ping", {}) == {"code": "200", "message": "OK"}


async def test_our_client_acks_an_event_and_delivers_the_call() -> None:
    """A ``calling.call.receive`` event sent by trio-websocket is acked and becomes a Call."""
    call_params = {
        "call_state": "created",
        "context": "office",
        "device": {"type": "phone", "params": {"from_number": "+15559870001", "to_number": "+1"}},
        "direction": "inbound",
        "call_id": "oracle-call-1",
        "node_id": "oracle-node@lab",
    }
    envelope = {
        "event_type": "calling.call.receive",
        "event_channel": ORACLE_PROTOCOL,
        "timestamp": 1767225606.0,
        "project_id": PROJECT,
        "space_id": "oracle-space",
        "context": "office",
        "params": call_params,
    }
    async with relay_on_oracle() as (relay, socket), relay.inbound_calls() as calls:
        event_id = socket.new_id()
        await socket.send(request(event_id, "signalwire.event", envelope))
        call = await calls.receive()
        assert (call.call_id, call.node_id, call.context) == (
            "oracle-call-1",
            "oracle-node@lab",
            "office",
        )
        ack = await socket.reply_to(event_id)
        assert ack.frame == reply(event_id, {})


async def test_our_client_answers_a_signalwire_ping_request() -> None:
    """A JSON-RPC ``signalwire.ping`` from the server gets a result echoing its timestamp."""
    async with relay_on_oracle() as (_, socket):
        answer = await socket.request("signalwire.ping", {"timestamp": 1767225602.5})
        assert answer.frame == reply(answer.frame["id"], {"timestamp": 1767225602.5})


async def test_our_client_echoes_the_servers_close_and_reports_the_loss() -> None:
    """A server close handshake: we echo its code and reason, and the loss leaves open_relay."""
    async with oracle_server() as oracle:
        with pytest.raises(RelayConnectionError, match="1001 going away ✓"):
            async with relay_to(oracle, reconnect=False):
                socket = oracle.socket
                with trio.fail_after(2):
                    await socket.ws.aclose(1001, "going away ✓")
                await trio.sleep_forever()
        # trio-websocket keeps the code of the close frame that answered its own.
        assert socket.ws.closed is not None
        assert (socket.ws.closed.code, socket.ws.closed.reason) == (1001, "going away ✓")


async def test_leaving_open_relay_closes_with_1000() -> None:
    """Leaving the block sends a close frame trio-websocket decodes as a normal closure."""
    async with oracle_server() as oracle:
        async with relay_to(oracle):
            socket = oracle.socket
        with trio.fail_after(2):
            await socket.finished.wait()
        assert socket.close_reason is not None
        assert socket.close_reason.code == 1000


# -- part 2: a trio-websocket client against our fake -------------------------------------


def connect_params(contexts: list[str]) -> JSON:
    return {
        "version": {"major": 2, "minor": 0, "revision": 0},
        "agent": "trio-websocket-oracle",
        "event_acks": True,
        "authentication": {"project": PROJECT, "token": TOKEN},
        "contexts": contexts,
    }


@asynccontextmanager
async def hand_client_on_fake(
    answer: Answer | None = None,
) -> AsyncIterator[tuple[FakeRelay, OracleSocket]]:
    """A trio-websocket client on loopback to a fake, its reader running; closed on exit."""
    with trio.fail_after(DEADLINE):
        async with (
            fake_server() as fake,
            open_websocket_url(fake.url, max_message_size=MAX_MESSAGE) as ws,
            trio.open_nursery() as nursery,
        ):
            socket = OracleSocket(ws, answer)
            nursery.start_soon(socket.run)
            yield fake, socket
            nursery.cancel_scope.cancel()


async def ack_events(socket: OracleSocket, frame: JSON) -> None:
    """A client's side: ack events and disconnects, nothing else."""
    if frame["method"] in ("signalwire.event", "signalwire.disconnect"):
        await socket.send(reply(frame["id"], {}))


@asynccontextmanager
async def connected_hand_client() -> AsyncIterator[tuple[FakeRelay, OracleSocket]]:
    async with hand_client_on_fake(ack_events) as (fake, socket):
        answer = await socket.request("signalwire.connect", connect_params(["office"]))
        assert "result" in answer.frame, answer.frame
        yield fake, socket


async def test_fake_answers_a_hand_built_connect() -> None:
    """The fake's connect result, as trio-websocket decoded it, has RELAY's shape."""
    async with hand_client_on_fake() as (fake, socket):
        answer = await socket.request("signalwire.connect", connect_params(["office"]))
        result = answer.frame["result"]
        assert PROTOCOL_RE.match(result["protocol"]), result
        assert isinstance(result["identity"], str) and result["identity"]
        assert result["authorization"]["project"] == PROJECT
        assert result["session_restored"] is False
        assert "code" not in result
        state = await socket.wait_for(lambda f: f.get("method") == "signalwire.event")
        assert state.frame["params"]["event_type"] == "signalwire.authorization.state"
        [entry] = fake.journal.all("signalwire.connect")
        assert entry.params == connect_params(["office"])


async def test_fake_delivers_an_inbound_call_event_and_takes_the_ack() -> None:
    """``calling.call.receive`` reaches a subscribed trio-websocket client; its ack settles it."""
    async with hand_client_on_fake() as (fake, socket):
        await socket.request("signalwire.connect", connect_params(["sales"]))
        call = await fake.inbound_call(context="sales")
        event = await socket.wait_for(
            lambda f: (
                f.get("method") == "signalwire.event"
                and f["params"]["event_type"] == "calling.call.receive"
            )
        )
        envelope = event.frame["params"]
        assert envelope["context"] == "sales"
        assert envelope["params"]["call_id"] == call.call_id
        assert envelope["params"]["direction"] == "inbound"
        for unacked in socket.requests("signalwire.event"):  # the authorization state too
            await socket.send(reply(unacked.frame["id"], {}))
        entry = await fake.journal.wait_for(None, lambda e: e.id == event.frame["id"])
        assert (entry.is_response, entry.result) == (True, {})
        assert fake.unacked_events() == []


@pytest.mark.parametrize("size", SIZES)
async def test_fake_messages_of_exact_sizes_both_ways(size: int) -> None:
    """A ``size``-byte request reaches the fake whole; its ``size``-byte reply decodes whole."""
    async with connected_hand_client() as (fake, socket):

        def ping(frame_id: str) -> Callable[[str], JSON]:
            return lambda blob: request(frame_id, "signalwire.ping", {"timestamp": blob})

        frame_id = socket.new_id()
        text = padded_to(size, ping(frame_id))
        await socket.send_text(text)
        entry = await fake.journal.wait_for("signalwire.ping", lambda e: e.id == frame_id)
        assert entry.frame == json.loads(text)

        # The fake echoes the timestamp: measure its reply's overhead, then pad to size.
        empty = await socket.request("signalwire.ping", {"timestamp": ""})
        blob = "x" * (size - empty.size)
        echoed = await socket.request("signalwire.ping", {"timestamp": blob})
        assert echoed.size == size
        assert echoed.frame["result"] == {"timestamp": blob}


@pytest.mark.parametrize("text", WIDE_TEXTS)
async def test_fake_counts_payload_length_in_utf8_bytes(text: str) -> None:
    """The fake reads and writes lengths in UTF-8 bytes (its ping echo carries the text back)."""
    async with connected_hand_client() as (fake, socket):
        frame_id = socket.new_id()
        sent = encode(request(frame_id, "signalwire.ping", {"timestamp": text}))
        assert forms_differ(sent), "a weak case: pick another text"
        await socket.send_text(sent)
        echoed = await socket.reply_to(frame_id)
        assert echoed.frame["result"] == {"timestamp": text}
        [entry] = fake.journal.all("signalwire.ping")
        assert entry.params == {"timestamp": text}
        assert echoed.forms_differ, "a weak case: pick another text"


@pytest.mark.parametrize("payload", PING_PAYLOADS)
async def test_fake_answers_a_ping_frame_with_its_payload(payload: bytes) -> None:
    """trio-websocket's ``ping()`` to the fake returns: the pong carried the same payload."""
    async with connected_hand_client() as (fake, socket):
        with trio.fail_after(2):
            await socket.ws.ping(payload)
        await socket.request("signalwire.receive", {"contexts": ["after-ping"]})
        assert fake.journal.methods()[-1] == "signalwire.receive"


async def test_fake_completes_the_clients_close_handshake() -> None:
    """The fake echoes a client's close frame; trio-websocket reports the echoed code."""
    async with connected_hand_client() as (_, socket):
        with trio.fail_after(2):
            await socket.ws.aclose(4001, "oracle done ✓")
        assert socket.ws.closed is not None
        assert (socket.ws.closed.code, socket.ws.closed.reason) == (4001, "oracle done ✓")


async def test_fake_closes_with_a_handshake_after_signalwire_disconnect() -> None:
    """After ``signalwire.disconnect`` the fake closes with 1000 and takes trio-websocket's echo."""
    async with connected_hand_client() as (fake, socket):
        with trio.fail_after(2):  # well inside the fake's own close timeout
            await fake.send_disconnect()
            await socket.finished.wait()
        assert socket.close_reason is not None
        assert socket.close_reason.code == 1000
        [disconnect] = socket.requests("signalwire.disconnect")
        assert disconnect.frame["params"] == {}
