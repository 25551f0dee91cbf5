"""Detectors and sent digits: ``calling.detect`` and ``calling.send_digits`` play out.

* detect ``machine``: ``FakeCall.script["detect"]`` (default ``["HUMAN"]``),
  one event every ``detect_gap``, then ``finished``; ``fax``: the tone, then
  ``finished``; ``digit``: each pressed digit, ``finished`` on stop or
  timeout. ``timeout`` (default ``detect_timeout``) and ``.stop`` end any
  detector with ``finished``.
* send_digits: ``finished`` after ``len(digits) * send_digit_seconds``.
"""

from __future__ import annotations

from typing import Any

import trio

from ._controls import start_operation
from ._dispatch import CommandContext, Reject, number_param
from ._operation import FakeOperation, OperationCall

__all__ = ["DetectOperation", "SendDigitsOperation", "detect", "send_digits"]

JSON = dict[str, Any]

DETECT_TYPES = ("machine", "fax", "digit")
SEND_DIGITS = frozenset("0123456789*#ABCDwW")


def _object(params: JSON, key: str) -> JSON:
    value = params.get(key)
    if not isinstance(value, dict):
        raise Reject("400", f"Missing {key}")
    return value


class DetectOperation(FakeOperation):
    kind = "detect"
    event_type = "calling.call.detect"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        detect = _object(params, "detect")
        self.detect_type = detect.get("type")
        if self.detect_type not in DETECT_TYPES:
            raise Reject("400", "Invalid detect.type")
        detect_params = detect.get("params", {})
        if not isinstance(detect_params, dict):
            raise Reject("400", "Invalid detect.params")
        self.detect_params = detect_params
        digits = detect_params.get("digits", "")
        self.digits = digits if isinstance(digits, str) else ""
        self.timeout = number_param(params, "timeout", call.fake.timings.detect_timeout)

    def _event(self, event: str, **extra: Any) -> None:
        detect = {"type": self.detect_type, "params": {"event": event, **extra}}
        self.emit({"segment_id": self.call.segment_id, "detect": detect})

    def begin(self) -> None:
        self.state = "detecting"

    async def run(self) -> None:
        call, timings = self.call, self.timings
        with trio.move_on_after(self.timeout if self.timeout is not None else float("inf")):
            if self.detect_type == "machine":
                for event in call.scripted("detect"):
                    await trio.sleep(timings.detect_gap)
                    beep = {"beep": True} if event == "READY" and call.scripted("beep") else {}
                    self._event(event, **beep)
                await trio.sleep(timings.event_gap)
            elif self.detect_type == "fax":
                await trio.sleep(timings.detect_gap)
                self._event(call.scripted("fax_tone") or self.detect_params.get("tone") or "CED")
                await trio.sleep(timings.event_gap)
            else:
                await trio.sleep_forever()
        self.on_stop()
        self.finish()

    def on_stop(self) -> None:
        self.state = "finished"
        self._event("finished")

    def take_digit(self, digit: str) -> bool:
        if self.detect_type != "digit" or (self.digits and digit not in self.digits):
            return False
        self._event(digit)
        return True


async def detect(ctx: CommandContext) -> JSON:
    return start_operation(ctx, DetectOperation(ctx.call, ctx.params), "Detect started")


class SendDigitsOperation(FakeOperation):
    kind = "send_digits"
    event_type = "calling.call.send_digits"

    def __init__(self, call: OperationCall, params: JSON) -> None:
        super().__init__(call, params)
        digits = params.get("digits")
        if not isinstance(digits, str) or not digits or set(digits) - SEND_DIGITS:
            raise Reject("400", "Invalid digits")
        self.digits = digits

    def begin(self) -> None:
        self.state = "sending"

    async def run(self) -> None:
        await trio.sleep(len(self.digits) * self.timings.send_digit_seconds)
        self.on_stop()
        self.finish()


async def send_digits(ctx: CommandContext) -> JSON:
    return start_operation(ctx, SendDigitsOperation(ctx.call, ctx.params), "Sending Digits")
