"""Detect, send_digits, tap, stream, fax, pay, transcribe and AI play out.

Sequences (each after the ack, with the command's control_id):

* detect ``machine``: ``FakeCall.script["detect"]`` (default ``["HUMAN"]``),
  one event every ``detect_gap``, then ``finished``; ``fax``: the tone, then
  ``finished``; ``digit``: each pressed digit, ``finished`` on stop or
  timeout. ``timeout`` (default ``detect_timeout``) and ``.stop`` end any
  detector with ``finished``.
* send_digits: ``finished`` after ``len(digits) * send_digit_seconds``.
* tap: ``tapping``, ``finished`` on stop; stream: ``streaming``, ``finished``.
* send_fax / receive_fax: a ``page`` every ``fax_page_seconds``, then
  ``finished``; ``.stop`` gives a fax ``error``.
* pay: a progress event per step, ``pay_step_seconds`` apart, then
  ``payment-completed`` or ``payment-failed``; ``.stop`` gives
  ``payment-canceled`` with ``result: relay-pay-stop``.
* transcribe: ``transcribing``, then ``finished`` (with the recording) on
  stop or hang-up. ai: no events at all; it runs until stopped.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import trio

from ._commands import CommandContext, Reject, command
from ._media import BYTES_PER_SECOND
from ._ops import FakeOperation, number_param, start_operation

if TYPE_CHECKING:
    from ._world import FakeCall

__all__ = [
    "AiOperation",
    "DetectOperation",
    "FaxOperation",
    "PayOperation",
    "SendDigitsOperation",
    "StreamOperation",
    "TapOperation",
    "TranscribeOperation",
]

JSON = dict[str, Any]

DETECT_TYPES = ("machine", "fax", "digit")
SEND_DIGITS = frozenset("0123456789*#ABCDwW")
#: Where the fake says tapped media comes from (documentation address range).
SOURCE_DEVICE: JSON = {
    "type": "rtp",
    "params": {"addr": "192.0.2.10", "port": 30000, "codec": "PCMU", "ptime": 20},
}


def _object(params: JSON, key: str) -> JSON:
    value = params.get(key)
    if not isinstance(value, dict):
        raise Reject("400", f"Missing {key}")
    return value


def _typed(params: JSON, key: str) -> JSON:
    """A ``{"type": str, "params": {...}}`` object (else 400)."""
    value = _object(params, key)
    if not isinstance(value.get("type"), str) or not isinstance(value.get("params"), dict):
        raise Reject("400", f"Invalid {key}: expected {{type, params}}")
    return value


class DetectOperation(FakeOperation):
    kind = "detect"
    event_type = "calling.call.detect"

    def __init__(self, call: FakeCall, params: JSON) -> None:
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


@command("calling.detect", needs_control_id=True)
async def _detect(ctx: CommandContext) -> JSON:
    return start_operation(ctx, DetectOperation(ctx.call, ctx.params), "Detect started")


class SendDigitsOperation(FakeOperation):
    kind = "send_digits"
    event_type = "calling.call.send_digits"

    def __init__(self, call: FakeCall, params: JSON) -> None:
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


@command("calling.send_digits", needs_control_id=True)
async def _send_digits(ctx: CommandContext) -> JSON:
    return start_operation(ctx, SendDigitsOperation(ctx.call, ctx.params), "Sending Digits")


class TapOperation(FakeOperation):
    kind = "tap"
    event_type = "calling.call.tap"

    def __init__(self, call: FakeCall, params: JSON) -> None:
        super().__init__(call, params)
        self.tap = _typed(params, "tap")
        self.device = _typed(params, "device")

    def begin(self) -> None:
        self.state = "tapping"
        self.emit({"state": "tapping", "tap": self.tap, "device": self.device})

    def on_stop(self) -> None:
        self.state = "finished"
        self.emit({"state": "finished", "tap": self.tap, "device": self.device})


@command("calling.tap", needs_control_id=True)
async def _tap(ctx: CommandContext) -> JSON:
    op = TapOperation(ctx.call, ctx.params)
    return start_operation(ctx, op, "Tap started", source_device=SOURCE_DEVICE)


class StreamOperation(FakeOperation):
    kind = "stream"
    event_type = "calling.call.stream"

    def __init__(self, call: FakeCall, params: JSON) -> None:
        super().__init__(call, params)
        url = params.get("url")
        if not isinstance(url, str) or not url:
            raise Reject("400", "Missing url")
        self.url = url

    def _fields(self, state: str) -> JSON:
        fields: JSON = {"state": state, "url": self.url}
        if self.params.get("name") is not None:
            fields["name"] = self.params["name"]
        return fields

    def begin(self) -> None:
        self.state = "streaming"
        self.emit(self._fields("streaming"))

    def on_stop(self) -> None:
        self.state = "finished"
        self.emit(self._fields("finished"))


@command("calling.stream", needs_control_id=True)
async def _stream(ctx: CommandContext) -> JSON:
    return start_operation(ctx, StreamOperation(ctx.call, ctx.params), "Stream started")


class FaxOperation(FakeOperation):
    """``send_fax`` / ``receive_fax``: ``page`` events, then ``finished`` or ``error``."""

    event_type = "calling.call.fax"

    def __init__(self, call: FakeCall, params: JSON, *, direction: str) -> None:
        super().__init__(call, params)
        self.kind = f"{direction}_fax"
        self.direction = direction
        local, remote = call.to_number, call.from_number
        if call.direction == "outbound":
            local, remote = remote, local
        self.remote_identity = remote or ""
        if direction == "send":
            document = params.get("document")
            if not isinstance(document, str) or not document:
                raise Reject("400", "Missing document")
            self.document = document
            identity = params.get("identity")
            self.identity = identity if isinstance(identity, str) else local or ""
        else:
            self.document = f"https://fake-relay.invalid/faxes/{self.control_id}.pdf"
            self.identity = local or ""
        self.pages = 0

    def _fax(self, fax_type: str, **params: Any) -> None:
        self.emit({"fax": {"type": fax_type, "params": {"direction": self.direction, **params}}})

    def begin(self) -> None:
        self.state = "sending" if self.direction == "send" else "receiving"

    async def run(self) -> None:
        for number in range(1, int(self.call.scripted("fax_pages")) + 1):
            await trio.sleep(self.timings.fax_page_seconds)
            self.pages = number
            self._fax("page", number=number)
        success = bool(self.call.scripted("fax_success"))
        self.finish("finished" if success else "error")
        self._fax(
            "finished",
            identity=self.identity,
            remote_identity=self.remote_identity,
            document=self.document,
            pages=self.pages,
            success=success,
            result="0" if success else "1",
            result_text="" if success else "Fax transmission failed",
            format="pdf",
        )

    def on_stop(self) -> None:
        self.state = "error"
        self._fax("error", pages=self.pages, description="Fax stopped by request")


@command("calling.send_fax", needs_control_id=True)
async def _send_fax(ctx: CommandContext) -> JSON:
    op = FaxOperation(ctx.call, ctx.params, direction="send")
    return start_operation(ctx, op, "Sending fax")


@command("calling.receive_fax", needs_control_id=True)
async def _receive_fax(ctx: CommandContext) -> JSON:
    op = FaxOperation(ctx.call, ctx.params, direction="receive")
    return start_operation(ctx, op, "Receiving fax")


#: Each pay step and the card details the caller has given once it is reached.
_PAY_STEPS: list[tuple[str, JSON]] = [
    ("payment-card-number", {}),
    ("expiration-date", {"payment_card_number": "************1111", "payment_card_type": "visa"}),
    ("security-code", {"expiration_date": "1228"}),
    ("postal-code", {"security_code": "***"}),
    ("payment-processing", {"payment_card_postal_code": "94107"}),
]


def _asked(value: object) -> bool:
    return value not in (False, "false", "False")


class PayOperation(FakeOperation):
    kind = "pay"
    event_type = "calling.call.pay"

    def __init__(self, call: FakeCall, params: JSON) -> None:
        super().__init__(call, params)
        url = params.get("payment_connector_url")
        if not isinstance(url, str) or not url:
            raise Reject("400", "Missing payment_connector_url")
        method = params.get("payment_method")
        self.details: JSON = {
            "payment_method": method if isinstance(method, str) else "credit-card"
        }
        self.steps = [
            (step, given)
            for step, given in _PAY_STEPS
            if (step != "security-code" or _asked(params.get("security_code", True)))
            and (step != "postal-code" or _asked(params.get("postal_code", True)))
        ]

    def _step(self, step: str, given: JSON) -> None:
        self.details.update(given)
        self.state = step
        self.emit({"for": step, **self.details})

    def begin(self) -> None:
        self._step(*self.steps[0])

    async def run(self) -> None:
        gap = self.timings.pay_step_seconds
        for step, given in self.steps[1:]:
            await trio.sleep(gap)
            self._step(step, given)
        await trio.sleep(gap)
        result = str(self.call.scripted("pay_result"))
        if result == "success":
            self.finish("finished")
            confirmation = f"ch_fake_{uuid.uuid4().hex[:16]}"
            token = f"tok_fake_{uuid.uuid4().hex[:16]}"
            outcome = {"for": "payment-completed", "state": "finished", "result": result}
            extra: JSON = {
                "payment_card_expiration_date": self.details.get("expiration_date", "1228"),
                "payment_token": token,
                "payment_confirmation_code": confirmation,
            }
        else:
            self.finish("error")
            outcome = {"for": "payment-failed", "state": "error", "result": result}
            extra = {"payment_error": result}
        self.emit({**outcome, **self.details, **extra})

    def on_stop(self) -> None:
        self.state = "finished"
        canceled = {"for": "payment-canceled", "state": "finished", "result": "relay-pay-stop"}
        self.emit({**canceled, **self.details})


@command("calling.pay", needs_control_id=True)
async def _pay(ctx: CommandContext) -> JSON:
    return start_operation(ctx, PayOperation(ctx.call, ctx.params), "Pay started")


class TranscribeOperation(FakeOperation):
    kind = "transcribe"
    event_type = "calling.call.transcribe"

    def __init__(self, call: FakeCall, params: JSON) -> None:
        super().__init__(call, params)
        self.recording_id = str(uuid.uuid4())
        self.url = f"https://fake-relay.invalid/transcriptions/{self.control_id}.mp3"
        self._start_stamp = 0.0

    def _echo(self) -> JSON:
        status_url = self.params.get("status_url")
        return {"status_url": status_url} if status_url is not None else {}

    def begin(self) -> None:
        self._start_stamp = self.fake.timestamp()
        self.state = "transcribing"
        self.emit({"state": "transcribing", **self._echo()})

    def _finished(self) -> None:
        self.finish("finished")
        duration = self.recorded_seconds()
        self.emit(
            {
                "state": "finished",
                "url": self.url,
                "recording_id": self.recording_id,
                "duration": duration,
                "size": int(duration * BYTES_PER_SECOND),
                "start_time": self._start_stamp,
                "end_time": self.fake.timestamp(),
                **self._echo(),
            }
        )

    def on_stop(self) -> None:
        self._finished()

    def on_hangup(self) -> None:
        if self.call.scripted("record_finalize_on_hangup"):
            self._finished()


@command("calling.transcribe", needs_control_id=True)
async def _transcribe(ctx: CommandContext) -> JSON:
    return start_operation(ctx, TranscribeOperation(ctx.call, ctx.params), "Transcribe started")


class AiOperation(FakeOperation):
    """``calling.ai``: no lifecycle event is documented, so the fake sends none."""

    kind = "ai"
    event_type = "calling.call.ai"

    def begin(self) -> None:
        self.state = "running"

    def on_stop(self) -> None:
        self.state = "finished"


@command("calling.ai", needs_control_id=True)
async def _ai(ctx: CommandContext) -> JSON:
    return start_operation(ctx, AiOperation(ctx.call, ctx.params), "AI started")
