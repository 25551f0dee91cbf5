"""Every calling and messaging command the fake answers, and its handler.

The one place a command is registered: a method missing here gets
"Method not found". Each :class:`FakeRelay` starts from a copy of
:data:`COMMAND_TABLE` (``fake.command_handlers``).
"""

from __future__ import annotations

from . import (
    _call_control,
    _call_lifecycle,
    _collect,
    _controls,
    _detect_and_digits,
    _fax_and_pay,
    _media_forks,
    _messaging,
    _play_record,
    _queues_conferences,
)
from ._dispatch import CommandSpec, Handler

__all__ = ["COMMAND_TABLE"]

#: Commands that do not act on a call.
_NO_CALL: dict[str, Handler] = {
    "calling.dial": _call_lifecycle.dial,
    "messaging.send": _messaging.send_message,
}

#: Commands on a call (``node_id`` and ``call_id`` checked first).
_ON_A_CALL: dict[str, Handler] = {
    "calling.answer": _call_lifecycle.answer,
    "calling.end": _call_lifecycle.end,
    "calling.pass": _call_lifecycle.pass_call,
    "calling.hold": _call_control.hold,
    "calling.unhold": _call_control.hold,
    "calling.denoise": _call_control.denoise,
    "calling.denoise.stop": _call_control.denoise,
    "calling.echo": _call_control.echo,
    "calling.transfer": _call_control.transfer,
    "calling.connect": _call_control.connect,
    "calling.disconnect": _call_control.disconnect,
    "calling.refer": _call_control.refer,
    "calling.join_conference": _queues_conferences.join_conference,
    "calling.leave_conference": _queues_conferences.leave_conference,
    **dict.fromkeys(
        (
            "calling.live_transcribe",
            "calling.live_translate",
            "calling.amazon_bedrock",
            "calling.ai_hold",
            "calling.ai_unhold",
            "calling.ai_message",
            "calling.bind_digit",
            "calling.clear_digit_bindings",
            "calling.user_event",
            "calling.join_room",
            "calling.leave_room",
        ),
        _call_control.acknowledge,
    ),
}

#: Commands on a call that also name a ``control_id``: actions and queue entries.
_WITH_CONTROL_ID: dict[str, Handler] = {
    "calling.play": _play_record.play,
    "calling.record": _play_record.record,
    "calling.collect": _collect.collect,
    "calling.play_and_collect": _collect.play_and_collect,
    "calling.detect": _detect_and_digits.detect,
    "calling.send_digits": _detect_and_digits.send_digits,
    "calling.tap": _media_forks.tap,
    "calling.stream": _media_forks.stream,
    "calling.transcribe": _media_forks.transcribe,
    "calling.ai": _media_forks.ai,
    "calling.send_fax": _fax_and_pay.send_fax,
    "calling.receive_fax": _fax_and_pay.receive_fax,
    "calling.pay": _fax_and_pay.pay,
    "calling.queue.enter": _queues_conferences.enter_queue,
    "calling.queue.leave": _queues_conferences.leave_queue,
    **{
        f"calling.{kind}.{name}": _controls.control
        for kind, names in _controls.CONTROLS.items()
        for name in names
    },
}

COMMAND_TABLE: dict[str, CommandSpec] = {
    **{method: CommandSpec(handler, needs_call=False) for method, handler in _NO_CALL.items()},
    **{method: CommandSpec(handler) for method, handler in _ON_A_CALL.items()},
    **{
        method: CommandSpec(handler, needs_control_id=True)
        for method, handler in _WITH_CONTROL_ID.items()
    },
}
