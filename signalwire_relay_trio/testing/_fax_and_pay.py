"""Faxes and payments: ``calling.send_fax``, ``calling.receive_fax`` and ``calling.pay``.

* send_fax / receive_fax: a ``page`` every ``fax_page_seconds``, then
  ``finished``; ``.stop`` gives a fax ``error``.
* pay: a progress event per step, ``pay_step_seconds`` apart, then
  ``payment-completed`` or ``payment-failed``; ``.stop`` gives
  ``payment-canceled`` with ``result: relay-pay-stop``.
"""

from __future__ import annotations

import uuid
from typing import Any

import trio

from ._controls import start_operation
from ._dispatch import CommandContext, Reject
from ._operation import FakeOperation, OperationCall

__all__ = ["FaxOperation", "PayOperation", "pay", "receive_fax", "send_fax"]

JSON = dict[str, Any]


class FaxOperation(FakeOperation):
    """``send_fax`` / ``receive_fax``: ``page`` events, then ``finished`` or ``error``."""

    event_type = "calling.call.fax"

    def __init__(self, call: OperationCall, params: JSON, *, direction: str) -> None:
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


async def send_fax(ctx: CommandContext) -> JSON:
    op = FaxOperation(ctx.call, ctx.params, direction="send")
    return start_operation(ctx, op, "Sending fax")


async def receive_fax(ctx: CommandContext) -> JSON:
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

    def __init__(self, call: OperationCall, params: JSON) -> None:
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


async def pay(ctx: CommandContext) -> JSON:
    return start_operation(ctx, PayOperation(ctx.call, ctx.params), "Pay started")
