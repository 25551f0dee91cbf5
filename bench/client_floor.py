"""Bench client: the floor — our transport with no SDK logic, the lower bound.

``ClientWebSocket`` (our framer, batched reads and writes) over the same
MemoryBIO TLS stream the client uses, and its JSON codec (``_json``: orjson);
JSON frames built by hand; every call is a
small state record advanced by the reader itself (no task, no future, no
event objects): ack each event, answer, play, hang up.
"""

from __future__ import annotations

import ssl
from typing import Any

import trio
from _benchlib import client_arguments, emit, host_port, plan_for, snapshot
from _triolib import command_loop

from signalwire_relay_trio._json import decode as loads
from signalwire_relay_trio._json import encode as dumps
from signalwire_relay_trio._tls import open_tls_over_tcp
from signalwire_relay_trio._transport import ClientWebSocket


class Floor:
    def __init__(self, ws: ClientWebSocket) -> None:
        self.ws = ws
        self.counter = 0
        # request id -> (what it was, call id or waiter)
        self.pending: dict[str, tuple[str, Any]] = {}
        # call id -> [node_id, plays left]
        self.calls: dict[str, list[Any]] = {}

    def request(self, method: str, params: dict[str, Any], kind: str, ref: Any) -> None:
        self.counter += 1
        request_id = str(self.counter)
        self.pending[request_id] = (kind, ref)
        self.ws.send(
            dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        )

    async def call_and_wait(self, method: str, params: dict[str, Any]) -> Any:
        done = trio.Event()
        box: list[Any] = [done]
        self.request(method, params, "wait", box)
        await done.wait()
        return box[1]

    def play(self, call_id: str, node_id: str) -> None:
        self.counter += 1
        params = {
            "node_id": node_id,
            "call_id": call_id,
            "control_id": f"c{self.counter}",
            "play": [{"type": "tts", "params": {"text": "Hello"}}],
        }
        self.request("calling.play", params, "play", call_id)

    def hangup(self, call_id: str, node_id: str) -> None:
        params = {"node_id": node_id, "call_id": call_id, "reason": "hangup"}
        self.request("calling.end", params, "end", call_id)

    async def read_loop(self) -> None:
        ws = self.ws
        while True:
            for text in await ws.receive_batch():
                self.handle(text)

    def handle(self, text: str) -> None:
        frame = loads(text)
        method = frame.get("method")
        if method is None:
            entry = self.pending.pop(frame.get("id"), None)
            if entry is not None:
                self.on_reply(entry[0], entry[1], frame)
        elif method == "signalwire.event":
            self.ws.send(dumps({"jsonrpc": "2.0", "id": frame["id"], "result": {}}))
            self.on_event(frame["params"])
        elif method == "signalwire.ping":
            self.ws.send(dumps({"jsonrpc": "2.0", "id": frame["id"], "result": {}}))
        else:
            self.ws.send(dumps({"jsonrpc": "2.0", "id": frame["id"], "result": {}}))

    def on_reply(self, kind: str, ref: Any, frame: dict[str, Any]) -> None:
        if kind == "answer":
            call = self.calls.get(ref)
            if call is None:
                return
            if call[1] > 0:
                self.play(ref, call[0])
            elif call[1] == 0:
                self.hangup(ref, call[0])
        elif kind == "wait":
            ref.append(frame)
            ref[0].set()

    def on_event(self, payload: dict[str, Any]) -> None:
        event_type = payload.get("event_type")
        params = payload.get("params") or {}
        if event_type == "calling.call.play":
            if params.get("state") == "finished":
                call_id = params["call_id"]
                call = self.calls.get(call_id)
                if call is not None:
                    call[1] -= 1
                    if call[1] > 0:
                        self.play(call_id, call[0])
                    else:
                        self.hangup(call_id, call[0])
        elif event_type == "calling.call.state":
            if params.get("call_state") == "ended":
                self.calls.pop(params.get("call_id"), None)
        elif event_type == "calling.call.receive":
            call_id = params["call_id"]
            node_id = params["node_id"]
            device = params.get("device") or {}
            plays = plan_for((device.get("params") or {}).get("from_number"))
            self.calls[call_id] = [node_id, plays]
            self.request(
                "calling.answer", {"node_id": node_id, "call_id": call_id}, "answer", call_id
            )


async def main() -> None:
    args = client_arguments(__doc__.split("\n")[0]).parse_args()
    host, port = host_port(args.url)
    ssl_context = ssl.create_default_context(cafile=args.ca)
    stream = await open_tls_over_tcp(host, port, ssl_context)
    ws = ClientWebSocket(stream)
    await ws.handshake(f"{host}:{port}")
    floor = Floor(ws)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.run_writer)
        nursery.start_soon(floor.read_loop)
        reply = await floor.call_and_wait(
            "signalwire.connect",
            {
                "version": {"major": 2, "minor": 0, "revision": 0},
                "authentication": {"project": args.project, "token": args.token},
                "contexts": [args.context],
                "event_acks": True,
            },
        )
        if "result" not in reply:
            raise SystemExit(f"signalwire.connect failed: {reply}")
        emit(snapshot(event="ready"))

        async def round_trip() -> None:
            await floor.call_and_wait("signalwire.receive", {"contexts": [args.context]})

        await command_loop(round_trip)
        nursery.cancel_scope.cancel()
    await ws.aclose()


if __name__ == "__main__":
    trio.run(main)
