"""Input collection: ``calling.collect`` and ``calling.play_and_collect`` play out.

play_and_collect plays its prompt first (``calling.call.play`` ``playing``
then ``finished``, same control_id); input during the prompt cuts it short.
Then both collect what the caller gives through ``FakeCall.press`` and
``FakeCall.say``:

* digits accumulate; ``max`` digits or a terminator end the input, and so
  does ``digit_timeout`` after the last digit (with what was typed);
* speech gives ``speech`` (or ``no_match`` when ``speech.hints`` are given
  and none of them occurs in the text), after a short recognition delay;
* input of a kind the collect does not take gives ``no_match``;
* no input within ``initial_timeout`` gives ``no_input`` (the timer starts
  after the prompt, and only once ``start_input_timers`` allows it);
* ``send_start_of_input`` adds ``start_of_input`` when input begins;
  ``partial_results`` adds ``final: false`` speech results before the
  ``final: true`` one; ``continuous`` sends every result with
  ``state: collecting`` and goes on until ``.stop``.

``.stop`` sends ``{"state": "finished"}`` without a result. The protocol
leaves open what a stopped collect reports (§13 item 19); this is the
fake's choice. A continuous collect ignores ``initial_timeout``.
"""

from __future__ import annotations

from typing import Any

import trio

from ._controls import start_operation
from ._dispatch import CommandContext, Reject, number_param
from ._operation import FakeOperation, OperationCall
from ._play_record import check_media, media_seconds

__all__ = ["CollectOperation", "collect", "play_and_collect"]

JSON = dict[str, Any]

SPEECH_CONFIDENCE = 0.92
PARTIAL_CONFIDENCES = (0.58, 0.74)


def _flag(config: JSON, key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise Reject("400", f"Invalid {key}")
    return value


def partial_texts(text: str) -> list[str]:
    """One or two growing prefixes of ``text`` (by words), as a recogniser reports them."""
    words = text.split()
    count = len(words)
    cuts = sorted({max(1, count // 2), max(1, (3 * count) // 4)})
    cuts = [cut for cut in cuts if cut < count] or [count]
    return [" ".join(words[:cut]) for cut in cuts]


class CollectOperation(FakeOperation):
    """A collect (``kind="collect"``) or play_and_collect (``kind="play_and_collect"``).

    ``state`` goes ``playing`` (prompt) -> ``collecting`` -> the result type
    (``digit``, ``speech``, ``no_input``, ``no_match``) or ``finished``
    (stopped). ``results`` lists every result sent.
    """

    event_type = "calling.call.collect"

    def __init__(self, call: OperationCall, params: JSON, *, with_prompt: bool) -> None:
        super().__init__(call, params)
        self.kind = "play_and_collect" if with_prompt else "collect"
        self.prompt: list[JSON] | None = None
        if with_prompt:
            self.prompt = check_media(params.get("play"))
            config = params.get("collect")
            if not isinstance(config, dict):
                raise Reject("400", "Missing collect")
        else:
            config = params
        digits, speech = config.get("digits"), config.get("speech")
        if digits is None and speech is None:
            raise Reject("400", "Collect needs digits or speech")
        if digits is not None and not isinstance(digits, dict):
            raise Reject("400", "Invalid digits")
        if speech is not None and not isinstance(speech, dict):
            raise Reject("400", "Invalid speech")
        self.digits: JSON | None = digits
        self.speech: JSON | None = speech
        timings = call.fake.timings
        self.max_digits = 0
        self.terminators = ""
        self.digit_timeout: float | None = None
        if digits is not None:
            max_digits = digits.get("max")
            if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < 1:
                raise Reject("400", "digits.max must be a positive integer")
            self.max_digits = max_digits
            terminators = digits.get("terminators", "")
            if not isinstance(terminators, str):
                raise Reject("400", "Invalid digits.terminators")
            self.terminators = terminators
            self.digit_timeout = number_param(digits, "digit_timeout", timings.digit_timeout)
        hints = (speech or {}).get("hints", [])
        if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
            raise Reject("400", "Invalid speech.hints")
        self.hints: list[str] = hints
        self.initial_timeout = number_param(config, "initial_timeout", timings.initial_timeout)
        self.partial_results = _flag(config, "partial_results", False)
        self.continuous = _flag(config, "continuous", False)
        self.send_start_of_input = _flag(config, "send_start_of_input", False)
        self.timers_started = _flag(config, "start_input_timers", True)
        self.prompting = False
        self.input_started = False
        self.typed = ""
        self.deadline: float | None = None
        self.results: list[JSON] = []

    # -- the prompt -----------------------------------------------------------

    def begin(self) -> None:
        if self.prompt is not None:
            self.prompting = True
            self.state = "playing"
            self.emit({"state": "playing"}, "calling.call.play")
        else:
            self.state = "collecting"
        # Type-ahead: what the caller gave while nobody listened comes first.
        pending = self.call.pending_input
        while pending and not self.done:
            kind, value = pending.pop(0)
            if kind == "digit":
                self.take_digit(value)
            else:
                self.hear(value)

    def _end_prompt(self) -> None:
        if self.prompting:
            self.prompting = False
            self.state = "collecting"
            self.emit({"state": "finished"}, "calling.call.play")

    async def run(self) -> None:
        if self.prompt is not None:
            seconds = sum(media_seconds(self.fake, item) for item in self.prompt)
            await self.run_for(seconds, stop_when=lambda: not self.prompting)
            self._end_prompt()
        self._arm_initial_timer()
        while True:
            if self.deadline is None:
                await self._changed.wait()
                continue
            with trio.move_on_at(self.deadline) as scope:
                await self._changed.wait()
            if scope.cancelled_caught:
                self._timer_fired()

    # -- timers -----------------------------------------------------------------

    def _arm_initial_timer(self) -> None:
        idle = self.timers_started and not self.prompting and not self.input_started
        if idle and not self.continuous and self.initial_timeout is not None:
            self.deadline = trio.current_time() + self.initial_timeout
            self.notify()

    def _timer_fired(self) -> None:
        self.deadline = None
        if self.typed:
            self._result({"type": "digit", "params": {"digits": self.typed, "terminator": ""}})
        elif not self.input_started:
            self._result({"type": "no_input"})

    def start_input_timers(self) -> None:
        if not self.timers_started:
            self.timers_started = True
            self._arm_initial_timer()

    # -- input --------------------------------------------------------------------

    def _input_begins(self) -> None:
        self._end_prompt()
        self.deadline = None
        if not self.input_started:
            self.input_started = True
            if self.send_start_of_input:
                self.emit({"result": {"type": "start_of_input"}})

    def take_digit(self, digit: str) -> bool:
        if self.done:
            return False
        self._input_begins()
        if self.digits is None:
            self._result({"type": "no_match"})
        elif digit in self.terminators:
            self._result({"type": "digit", "params": {"digits": self.typed, "terminator": digit}})
        else:
            self.typed += digit
            if len(self.typed) >= self.max_digits:
                result = {"type": "digit", "params": {"digits": self.typed, "terminator": ""}}
                self._result(result)
            else:
                assert self.digit_timeout is not None
                self.deadline = trio.current_time() + self.digit_timeout
                self.notify()
        return True

    def hear(self, text: str) -> bool:
        if self.done:
            return False
        self._input_begins()
        if self.speech is None:
            self._result({"type": "no_match"})
        else:
            self.fake.spawn(self._recognise, text)
        return True

    async def _recognise(self, text: str) -> None:
        """Partial results (if asked) then the final one, ``event_gap`` apart."""
        gap = self.timings.event_gap
        if self.partial_results:
            for partial, confidence in zip(partial_texts(text), PARTIAL_CONFIDENCES, strict=False):
                await trio.sleep(gap)
                if self.done:
                    return
                speech = {"type": "speech", "params": {"text": partial, "confidence": confidence}}
                self.emit({"final": False, "result": speech})
        await trio.sleep(gap)
        if self.done:
            return
        lowered = text.lower()
        if self.hints and not any(hint.lower() in lowered for hint in self.hints):
            self._result({"type": "no_match"})
        else:
            params = {"text": text, "confidence": SPEECH_CONFIDENCE}
            self._result({"type": "speech", "params": params})

    def _result(self, result: JSON) -> None:
        """Send one result; it ends the collect unless it is continuous."""
        fields: JSON = {}
        if self.partial_results:
            fields["final"] = True
        if self.continuous:
            fields["state"] = "collecting"
        fields["result"] = result
        self.results.append(result)
        self.typed = ""
        self.deadline = None
        if self.continuous:
            self.input_started = False
            self.emit(fields)
        else:
            self.finish(result["type"])
            self.emit(fields)

    # -- controls -------------------------------------------------------------------

    def on_stop(self) -> None:
        self._end_prompt()
        self.state = "finished"
        self.emit({"state": "finished"})


async def collect(ctx: CommandContext) -> JSON:
    op = CollectOperation(ctx.call, ctx.params, with_prompt=False)
    return start_operation(ctx, op, "Collecting")


async def play_and_collect(ctx: CommandContext) -> JSON:
    op = CollectOperation(ctx.call, ctx.params, with_prompt=True)
    return start_operation(ctx, op, "Playing and collecting")
