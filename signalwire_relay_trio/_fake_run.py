"""``run MODULE:HANDLER --fake``: the handler against the embedded fake, one scripted caller.

The fake RELAY server runs in-process. One inbound call is offered (with
``--messages``, one inbound message is delivered) to the handler, served by
``relay.serve`` exactly as in production. The scripted caller answers the
first digit or speech collect with ``--press``/``--say``, and hangs up once
the handler is done or after ``--hangup-after`` seconds. The timeline is
printed as the demo prints it. Time is simulated unless ``--real-time``.

The exit code is 0 only when the handler returned without an error. A
``CallEndedError`` counts as a normal end only when the scripted caller had
hung up (as ``serve`` treats it); otherwise it is the handler's bug.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import attrs
import trio
import trio.testing

from ._connection import RelayConnection
from ._demo import Timeline
from ._errors import CallEndedError
from ._events import RelayEvent
from ._open import open_relay
from ._runner import Handler, bind_handler
from .testing import FakeCall, FakeRelay, open_fake_relay

__all__ = ["FakeScript", "run_fake"]

Say = Callable[[str, str], None]

CALLER, SERVICE_NUMBER = "+15559870001", "+15551230000"
#: Seconds the handler gets to finish after the scripted caller hung up.
GRACE_AFTER_HANGUP = 10.0
#: Caller input goes to these operations.
INPUT_KINDS = ("collect", "play_and_collect")


@attrs.frozen(kw_only=True)
class FakeScript:
    """What the scripted caller (or texter) does."""

    contexts: tuple[str, ...] = ("office",)
    messages: bool = False
    press: str | None = None
    say: str | None = None
    hangup_after: float = 60.0
    real_time: bool = False


@attrs.define
class _Outcome:
    started: bool = False
    finished: bool = False  # returned or raised (not cancelled at the end of the run)
    done: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None
    caller_hung_up: bool = False

    def wrap(self, handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        async def recorded(item: Any) -> Any:
            self.started = True
            try:
                result = await handler(item)
            except Exception as exc:
                self.error = exc
                self.finished = True
                raise  # serve() logs it and hangs up, as in production
            finally:
                self.done.set()
            self.finished = True
            return result

        return recorded


def run_fake(handler: Handler, name: str, script: FakeScript, out: TextIO | None = None) -> int:
    """Run ``handler`` against the embedded fake; returns the exit code."""
    stream = out or sys.stdout
    clock = None if script.real_time else trio.testing.MockClock(autojump_threshold=0)
    what = "one inbound message" if script.messages else "one inbound call"
    mode = "real time" if script.real_time else "simulated time"
    print(f"{name} against the embedded fake RELAY server: {what} ({mode})", file=stream)
    outcome = _Outcome()
    try:
        trio.run(_main, handler, script, outcome, stream, clock=clock)
    except Exception as exc:  # the fake or the connection failed: report, no traceback
        print(f"failed: {exc!r}", file=stream)
        return 1
    return _verdict(outcome, script, stream)


def _verdict(outcome: _Outcome, script: FakeScript, out: TextIO) -> int:
    error = outcome.error
    if not outcome.started:
        print("failed: the handler never ran", file=out)
        return 1
    if not outcome.finished:
        print(
            f"failed: the handler was still running {GRACE_AFTER_HANGUP:g} s "
            "after the caller hung up",
            file=out,
        )
        return 1
    if isinstance(error, CallEndedError) and outcome.caller_hung_up:
        print("handler finished: the call ended under it after the caller hung up", file=out)
        return 0
    if error is not None:
        print(f"handler failed: {error!r}", file=out)
        return 1
    print("handler finished without error", file=out)
    return 0


async def _main(handler: Handler, script: FakeScript, outcome: _Outcome, out: TextIO) -> None:
    say = Timeline(out)
    async with open_fake_relay(contexts=script.contexts) as fake:
        kwargs = fake.connect_kwargs(memory=not script.real_time, contexts=list(script.contexts))
        async with open_relay(**kwargs) as relay:
            say("relay", f"connected (session {relay.protocol[:24]}...)")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_narrate, relay, say)
                served = outcome.wrap(bind_handler(handler, relay))
                if script.messages:
                    await nursery.start(relay.serve_messages, served)
                    await _texter(fake, script, outcome, say)
                else:
                    await nursery.start(relay.serve, served)
                    await _caller(fake, script, outcome, say)
                nursery.cancel_scope.cancel()
        sent = [
            entry.method
            for entry in fake.journal.all()
            if entry.method and getattr(entry, "direction", "received") == "received"
        ]
        say("server", f"the client sent {len(sent)} requests: {', '.join(dict.fromkeys(sent))}")


async def _caller(fake: FakeRelay, script: FakeScript, outcome: _Outcome, say: Say) -> None:
    context = script.contexts[0]
    say("caller", f"{CALLER} dials the {context!r} number")
    call = await fake.inbound_call(context=context, from_number=CALLER, to_number=SERVICE_NUMBER)
    with trio.move_on_after(script.hangup_after):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_act, call, script, say)
            await outcome.done.wait()
            nursery.cancel_scope.cancel()
    if not call.ended:
        if outcome.done.is_set():  # serve() hangs up after the handler: give it a moment
            with trio.move_on_after(5):
                await call.wait_for_state("ended")
        if not call.ended:
            say("caller", "hangs up")
            outcome.caller_hung_up = True
            await call.hangup()
    with trio.move_on_after(GRACE_AFTER_HANGUP):
        await outcome.done.wait()
    say("caller", f"the call is over ({call.end_reason or 'ended'})")


async def _act(call: FakeCall, script: FakeScript, say: Say) -> None:
    """Answer the handler's first input prompt(s) with the scripted digits and speech."""
    try:
        await call.wait_for_state("answered")
    except AssertionError:
        return  # it ended without being answered: nothing to press
    for kind, value in (("presses", script.press), ("says", script.say)):
        if value is None:
            continue
        if not await _wait_for_input(call):
            say("caller", f"never got a prompt; did not {kind[:-2]} {value!r}")
            return
        await trio.sleep(0.5)  # a caller takes a moment to react
        say("caller", f"{kind} {value!r}")
        if kind == "presses":
            await call.press(value)
        else:
            await call.say(value)
        await _wait_input_done(call)


async def _wait_for_input(call: FakeCall) -> bool:
    while not call.ended:  # the fake has no wait for "one of these kinds": poll
        if any(op.kind in INPUT_KINDS and not op.done for op in call.operations.values()):
            return True
        await trio.sleep(0.1)
    return False


async def _wait_input_done(call: FakeCall) -> None:
    while not call.ended:
        if not any(op.kind in INPUT_KINDS and not op.done for op in call.operations.values()):
            return
        await trio.sleep(0.1)


async def _texter(fake: FakeRelay, script: FakeScript, outcome: _Outcome, say: Say) -> None:
    context = script.contexts[0]
    body = script.say or "Hello, are you open today?"
    say("texter", f"{CALLER} texts the {context!r} number: {body!r}")
    await fake.inbound_message(
        context=context, from_number=CALLER, to_number=SERVICE_NUMBER, body=body
    )
    with trio.move_on_after(script.hangup_after):
        await outcome.done.wait()
    # messages the handler sent are delivered on the fake's clock: let them finish
    await trio.sleep(1)


async def _narrate(relay: RelayConnection, say: Say) -> None:
    calls: dict[str, int] = {}  # call id -> its number in order of appearance
    async with relay.events() as events:
        async for event in events:
            call_id = event.params.get("call_id")
            if isinstance(call_id, str):
                number = calls.setdefault(call_id, len(calls) + 1)
                say("relay", f"call {number} {describe(event)}")
            else:
                say("relay", describe(event))


def describe(event: RelayEvent) -> str:
    """One short line for an event: its kind and the fact that matters."""
    params = event.params
    kind = event.event_type.removeprefix("calling.call.").removeprefix("calling.")
    facts: list[str] = []
    for key in (
        "call_state",
        "connect_state",
        "dial_state",
        "message_state",
        "state",
        "status",
    ):
        value = params.get(key)
        if isinstance(value, str):
            facts.append(value)
            break
    result = params.get("result")
    if isinstance(result, dict) and result.get("type"):
        inner = result.get("params") or {}
        detail = inner.get("digits") or inner.get("text") or inner.get("event") or ""
        facts.append(f"{result['type']} {detail!r}" if detail else str(result["type"]))
    detect = params.get("detect")
    if isinstance(detect, dict):
        facts.append(str((detect.get("params") or {}).get("event", "")))
    if event.event_type == "messaging.receive":
        facts.append(f"from {params.get('from_number')}: {params.get('body')!r}")
    url = params.get("url")
    if isinstance(url, str):
        facts.append(url)
    return f"{kind}: {' '.join(f for f in facts if f)}" if facts else kind
