"""A hand-written raw RELAY client for driving the fake server in tests.

Shared by the fake-server tests: it speaks JSON frames over a WebSocket
(loopback, or a memory stream on the autojump clock), acks events and
collects what arrives.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
import trio_websocket

from signalwire_relay_trio.testing import FakeCall, FakeRelay, open_fake_relay

FRAMES = Path(__file__).parent / "fixtures" / "frames"
PROJECT = "test-project"
TOKEN = "test-token"
PROTOCOL_RE = re.compile(r"^signalwire_([0-9a-f]{32})_[0-9a-f-]{36}$")
ENVELOPE_KEYS = {"event_type", "event_channel", "timestamp", "project_id", "space_id", "params"}

JSON = dict[str, Any]


def fixture_steps(name: str) -> list[JSON]:
    steps: list[JSON] = json.loads((FRAMES / name).read_text())
    return steps


def fixture_frames(name: str, sender: str) -> list[JSON]:
    return [s["frame"] for s in fixture_steps(name) if s["from"] == sender and "frame" in s]


def normalize(frames: list[JSON]) -> list[Any]:
    """Replace generated values with stable placeholders, in order of appearance."""
    names: dict[str, str] = {}

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key in ("call_id", "segment_id"):
            return names.setdefault(value, f"CALL{len(names)}")
        if key in ("id", "node_id", "tag", "event_channel", "timestamp", "project_id", "space_id"):
            return key.upper()
        return value

    return [walk(frame) for frame in frames]


class RawClient:
    """A hand-written RELAY client: it sends JSON frames and reads them back."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.auto_ack = True
        self.auto_pong = False
        self.inbox: deque[JSON] = deque()
        self.protocol: str | None = None
        self.auth_state: str | None = None

    async def send(self, frame: JSON | str) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def ack(self, frame: JSON) -> None:
        await self.send({"jsonrpc": "2.0", "id": frame["id"], "result": {}})

    async def _read(self) -> JSON:
        frame: JSON = json.loads(await self.ws.get_message())
        if frame.get("method") == "signalwire.event":
            inner = frame["params"]
            if inner["event_type"] == "signalwire.authorization.state":
                self.auth_state = inner["params"]["authorization_state"]
            if self.auto_ack:
                await self.ack(frame)
        elif frame.get("method") == "signalwire.ping" and self.auto_pong:
            await self.send({"jsonrpc": "2.0", "id": frame["id"], "result": frame["params"]})
        return frame

    async def next(self, predicate: Callable[[JSON], bool] = lambda f: True) -> JSON:
        for frame in self.inbox:
            if predicate(frame):
                self.inbox.remove(frame)
                return frame
        while True:
            frame = await self._read()
            if predicate(frame):
                return frame
            self.inbox.append(frame)

    async def request(self, method: str, params: JSON | None = None) -> JSON:
        frame_id = str(uuid.uuid4())
        await self.send(
            {"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params or {}}
        )
        return await self.reply(frame_id)

    async def reply(self, frame_id: Any) -> JSON:
        return await self.next(lambda f: f.get("id") == frame_id and "method" not in f)

    async def event(self, event_type: str | None = None) -> JSON:
        """The next event frame (of ``event_type``); returns the envelope."""
        frame = await self.next(
            lambda f: (
                f.get("method") == "signalwire.event"
                and event_type in (None, f["params"]["event_type"])
            )
        )
        envelope: JSON = frame["params"]
        return envelope

    async def events(self, count: int, event_type: str | None = None) -> list[JSON]:
        return [await self.event(event_type) for _ in range(count)]

    async def connect(self, **overrides: Any) -> JSON:
        params: JSON = {
            "version": {"major": 2, "minor": 0, "revision": 0},
            "agent": "raw-test-client",
            "event_acks": True,
            "authentication": {"project": PROJECT, "token": TOKEN},
            "contexts": ["office"],
        }
        params.update(overrides)
        reply = await self.request("signalwire.connect", params)
        if "result" in reply:
            self.protocol = reply["result"]["protocol"]
            await self.event("signalwire.authorization.state")
        return reply

    async def command(self, method: str, call: FakeCall, **params: Any) -> JSON:
        reply = await self.request(
            method, {"node_id": call.node_id, "call_id": call.call_id, **params}
        )
        result: JSON = reply["result"]
        return result

    async def nothing_more(self, seconds: float = 0.2) -> None:
        """Assert no frame arrives within ``seconds``."""
        assert not self.inbox, self.inbox
        with trio.move_on_after(seconds):
            frame = await self._read()
            raise AssertionError(f"unexpected frame {frame}")


@asynccontextmanager
async def fake_server(**kwargs: Any) -> AsyncIterator[FakeRelay]:
    async with open_fake_relay(**kwargs) as fake:
        yield fake
        assert fake.internal_errors == []


@asynccontextmanager
async def raw_client(
    fake: FakeRelay, *, memory: bool = False, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RawClient]:
    """A raw client over a memory stream, or over loopback (real clock only)."""
    stream: trio.abc.Stream
    if memory:
        stream = await fake.open_memory_stream()
    elif ssl_context is not None:
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", fake.port, ssl_context=ssl_context
        )
    else:
        stream = await trio.open_tcp_stream("127.0.0.1", fake.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,  # type: ignore[arg-type]
                "fake-relay.invalid",
                "/",
            )
            try:
                yield RawClient(ws)
            finally:
                with trio.move_on_after(1):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)  # also when the server closed first


async def connected_client_and_call(fake: FakeRelay, client: RawClient) -> tuple[FakeCall, JSON]:
    await client.connect()
    call = await fake.inbound_call()
    receive = await client.event("calling.call.receive")
    return call, receive


def fixture_request(name: str, method: str) -> JSON:
    """The params of the first ``method`` request in a fixture, without the call ids."""
    for frame in fixture_frames(name, "client"):
        if frame.get("method") == method:
            params: JSON = dict(frame["params"])
            params.pop("node_id", None)
            params.pop("call_id", None)
            return params
    raise LookupError(f"no {method} in {name}")


def fixture_replies(name: str) -> list[JSON]:
    """What the server sends in a fixture: ack results and event envelopes, in order."""
    return [f["result"] if "result" in f else f["params"] for f in fixture_frames(name, "server")]


@asynccontextmanager
async def answered_call() -> AsyncIterator[tuple[FakeRelay, RawClient, FakeCall]]:
    """A fake, a raw client over memory and an inbound call the client answered."""
    async with fake_server() as fake, raw_client(fake, memory=True) as client:
        call, _ = await connected_client_and_call(fake, client)
        await client.command("calling.answer", call)
        await client.event("calling.call.state")
        yield fake, client, call
