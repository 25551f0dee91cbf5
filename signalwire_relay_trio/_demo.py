"""``python -m signalwire_relay_trio demo``: an IVR against the embedded fake server.

No account and no network: the fake RELAY server runs in-process, the client
talks to it over an in-memory WebSocket, and time is simulated, so the
prompts and the recording "last" their real length yet the demo finishes at
once. With ``--real-time`` it runs on the wall clock over loopback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import trio
import trio.testing

from ._call import Call
from ._events import CallStateEvent, RelayEvent
from ._models import Digits, RecordAudio
from ._open import open_relay
from .testing import FakeCall, open_fake_relay

__all__ = ["ivr", "run_demo"]

MENU = "Thanks for calling Example Co. Press 1 for opening hours, or 2 to leave a message."


class Timeline:
    """Prints what happens, with the (simulated) time since the start."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._start = trio.current_time()

    def __call__(self, who: str, text: str) -> None:
        elapsed = trio.current_time() - self._start
        print(f"  {elapsed:7.2f}s  {who:<7} {text}", file=self._out, flush=True)


Say = Callable[[str, str], None]


async def ivr(call: Call, say: Say) -> None:
    """The demo's call flow: a menu, then opening hours or a voicemail."""
    call.on(
        "calling.call.state",
        lambda event: say("relay", f"call state -> {_state(event)}"),
    )
    say("app", f"incoming call from {call.device.get('params', {}).get('from_number')}")
    await call.answer()
    say("app", "answered; playing the menu and waiting for a digit")
    menu = await call.prompt_tts(MENU, Digits(max=1, digit_timeout=5))
    choice = await menu.wait()
    digits = choice.digits if choice is not None else None
    say("app", f"caller chose {digits!r}")
    if digits == "1":
        playing = await call.play_tts("We are open from nine to five, Monday to Friday.")
        await playing.wait()
    else:
        await (await call.play_tts("Please leave a message after the beep.")).wait()
        async with call.record(RecordAudio(beep=True, end_silence_timeout=2)) as recording:
            say("app", "recording the message")
            result = await recording.wait()
        if result is not None:
            say("app", f"message saved: {result.url} ({result.duration:.1f} s)")
    say("app", "hanging up")
    await call.hangup()


def _state(event: RelayEvent) -> str:
    if isinstance(event, CallStateEvent) and event.call_state is not None:
        return event.call_state.value
    return str(event.params.get("call_state"))


async def _caller(fake_call: FakeCall, say: Say) -> None:
    await fake_call.wait_for_state("answered")
    await trio.sleep(2)
    say("caller", "presses 2")
    await fake_call.press("2")
    await fake_call.wait_for_state("ended")
    say("caller", "hears the call end")


async def _main(out: TextIO, real_time: bool) -> None:
    say = Timeline(out)
    async with open_fake_relay(contexts=("office",)) as fake:
        fake_call: FakeCall | None = None
        async with open_relay(**fake.connect_kwargs(memory=not real_time)) as relay:
            say("relay", f"connected (session {relay.protocol[:24]}...)")
            async with trio.open_nursery() as nursery:
                await nursery.start(relay.serve, lambda call: ivr(call, say))
                say("caller", "+15559870001 dials the 'office' number")
                fake_call = await fake.inbound_call(context="office", from_number="+15559870001")
                await _caller(fake_call, say)
                nursery.cancel_scope.cancel()
        sent = [entry.method for entry in fake.journal.all() if entry.method]
        say("server", f"the client sent {len(sent)} requests: {', '.join(dict.fromkeys(sent))}")
        if fake_call is None or fake_call.state != "ended":
            raise RuntimeError("the demo call did not end")


def run_demo(*, real_time: bool = False, out: TextIO | None = None) -> int:
    """Run the demo; returns the process exit code."""
    stream = out or sys.stdout
    clock = None if real_time else trio.testing.MockClock(autojump_threshold=0)
    mode = "real time, loopback socket" if real_time else "simulated time, in-memory socket"
    print(
        f"signalwire_relay_trio demo: an IVR against the embedded fake server ({mode})", file=stream
    )
    try:
        trio.run(_main, stream, real_time, clock=clock)
    except Exception as exc:  # the demo reports, never tracebacks at a newcomer
        print(f"demo failed: {exc!r}", file=stream)
        return 1
    print("demo finished: 1 call handled", file=stream)
    return 0
