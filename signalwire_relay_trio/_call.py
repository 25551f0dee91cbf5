"""``Call``: one RELAY call, with every method of the reference's Call page.

The state and the waits come from :class:`~._call_base.CallBase`, the
commands that start an operation from :class:`~._call_media.MediaCommands`.
Here: the call's lifecycle (answer, hang up, pass, transfer), the commands
with behaviour of their own (``send_digits``, the queues), and the one-shot
commands, declared by their signatures (see ``_one_shot``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import trio

from ._call_base import HANGUP_GRACE, STATE_BIT
from ._call_media import Media, MediaCommands
from ._constants import CallState
from ._errors import CallEndedError
from ._events import SendDigitsEvent
from ._models import devices_to_wire, media_to_wire, refer_device_to_wire
from ._one_shot import one_shot
from ._params import merge_params, wire_string

__all__ = ["Call"]

logger = logging.getLogger("signalwire_relay_trio.call")


def _new_tag() -> str:
    return str(uuid.uuid4())


def _dict_or_none(value: Mapping[str, Any]) -> dict[str, Any] | None:
    return dict(value) or None


class Call(MediaCommands):
    """A RELAY call. Created by the connection; not constructed by users."""

    __slots__ = ()

    # -- lifecycle -------------------------------------------------------------

    async def answer(self, max_duration: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """Answer an inbound call; returns once the call is answered.

        Raises :class:`CallEndedError` if the caller left first.
        """
        params = merge_params({"max_duration": max_duration}, kwargs)
        result = await self._execute("calling.answer", params or None)
        if self._passed_states & STATE_BIT[CallState.ANSWERED]:
            return result  # the usual case: no deadline scope to set up
        with trio.move_on_after(self._host.request_timeout):
            await self.wait_for_answered()
            return result
        logger.warning("call %s: answer acked but no answered state arrived", self.call_id)
        return result

    async def hangup(self, reason: str = "hangup") -> dict[str, Any]:
        """End the call; returns once it has ended, as the reference does.

        After the ack it waits (at most ``HANGUP_GRACE`` seconds) for the
        ``ended`` state, so ``call.state`` is ``ended`` afterwards and a
        handler's own hang-up is not repeated by ``serve()``. A no-op
        (returning ``{}``) on a call that already ended.
        """
        if self._end_error is not None:
            return {}
        try:
            result = await self._execute("calling.end", {"reason": reason})
        except CallEndedError:
            return {}
        if self._ended_event is not None:
            return result  # the ended event came with the ack: no scope needed
        # CallEndedError: over some other way (connection closed), nothing left to wait for
        with trio.move_on_after(HANGUP_GRACE), contextlib.suppress(CallEndedError):
            await self.wait_for_ended()
        return result

    async def pass_(self) -> dict[str, Any]:
        """Decline control of an inbound call so another consumer can take it.

        Afterwards this client no longer follows the call: waits on it raise
        :class:`CallEndedError`.
        """
        result = await self._execute("calling.pass")
        self._end(f"call {self.call_id} was passed")
        return result

    async def transfer(self, dest: str, **kwargs: Any) -> dict[str, Any]:
        """Hand the call to a RELAY context or a SWML URL; it leaves this client."""
        result = await self._execute("calling.transfer", merge_params({"dest": dest}, kwargs))
        self._end(f"call {self.call_id} was transferred")
        return result

    # -- commands with behaviour of their own ------------------------------------

    async def send_digits(self, digits: str, *, control_id: str | None = None) -> SendDigitsEvent:
        """Send DTMF; returns the terminal ``SendDigitsEvent`` once they were sent."""
        if not isinstance(digits, str) or not digits:
            raise ValueError("send_digits needs a non-empty string of digits")
        control_id = control_id or str(uuid.uuid4())
        waiter = self._expect(
            "calling.call.send_digits",
            lambda e: e.control_id == control_id and e.params.get("state") == "finished",
        )
        try:
            await self._execute("calling.send_digits", {"control_id": control_id, "digits": digits})
            event = await waiter.result()
        finally:
            self._drop_waiter(waiter)
        assert isinstance(event, SendDigitsEvent)
        return event

    async def queue_enter(
        self,
        queue_name: str,
        *,
        control_id: str | None = None,
        status_url: str | None = None,
        wait_url: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Put the call in the named queue (``calling.queue.enter``).

        Follow it with ``calling.call.queue`` events (``enqueue``, then
        ``dequeue`` or ``leave``).
        """
        control_id = control_id or str(uuid.uuid4())
        params = {
            "queue_name": queue_name,
            "control_id": control_id,
            "status_url": status_url,
            "wait_url": wait_url,
        }
        result = await self._execute("calling.queue.enter", merge_params(params, kwargs))
        if self._queue_controls is None:
            self._queue_controls = {}
        self._queue_controls[queue_name] = control_id
        return result

    async def queue_leave(
        self,
        queue_name: str,
        *,
        control_id: str | None = None,
        queue_id: str | None = None,
        status_url: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Take the call out of the named queue (``calling.queue.leave``).

        Without ``control_id`` the leave carries the control_id of this
        call's ``queue_enter`` for that queue, which names the entry.
        """
        queued = self._queue_controls or {}
        control_id = control_id or queued.get(queue_name) or str(uuid.uuid4())
        params = {
            "queue_name": queue_name,
            "control_id": control_id,
            "queue_id": queue_id,
            "status_url": status_url,
        }
        result = await self._execute("calling.queue.leave", merge_params(params, kwargs))
        if queued.get(queue_name) == control_id:
            del queued[queue_name]
        return result

    # -- one-shot commands, declared ----------------------------------------------

    @one_shot(
        "calling.connect",
        convert={"devices": devices_to_wire, "ringback": media_to_wire},
        fill={"tag": _new_tag},
    )
    def connect(
        self,
        /,
        devices: Any,
        *,
        ringback: Media | None = None,
        tag: str | None = None,
        max_duration: int | None = None,
        max_price_per_minute: float | None = None,
        status_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Bridge the call to new leg(s) (``calling.connect``); returns the ack.

        Follow the bridge with ``wait_for("calling.call.connect", ...)``.
        """

    @one_shot("calling.disconnect")
    def disconnect(self) -> None:
        """Take the call out of a bridge made with :meth:`connect`."""

    @one_shot("calling.hold")
    def hold(self) -> None:
        """Put the call on hold."""

    @one_shot("calling.unhold")
    def unhold(self) -> None:
        """Take the call off hold."""

    @one_shot("calling.denoise")
    def denoise(self) -> None:
        """Start noise reduction on the call's audio."""

    @one_shot("calling.denoise.stop")
    def denoise_stop(self) -> None:
        """Stop noise reduction."""

    @one_shot("calling.echo")
    def echo(
        self, /, *, timeout: float | None = None, status_url: str | None = None, **kwargs: Any
    ) -> None:
        """Echo the caller's audio back (a line test)."""

    @one_shot(
        "calling.bind_digit",
        rename={"bind_params": "params"},
        convert={"bind_params": _dict_or_none},
    )
    def bind_digit(
        self,
        /,
        digits: str,
        bind_method: str,
        *,
        bind_params: Mapping[str, Any] | None = None,
        realm: str | None = None,
        max_triggers: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Run ``bind_method`` whenever the caller presses ``digits``."""

    @one_shot("calling.clear_digit_bindings")
    def clear_digit_bindings(self, /, *, realm: str | None = None, **kwargs: Any) -> None:
        """Remove the digit bindings (of one realm, or all)."""

    @one_shot("calling.user_event")
    def user_event(self, /, event: Any = None, **extra: Any) -> None:
        """Send a custom event through the call."""

    @one_shot("calling.refer", convert={"device": refer_device_to_wire})
    def refer(self, /, device: Any, *, status_url: str | None = None, **kwargs: Any) -> None:
        """SIP REFER the call to another SIP URI (SIP calls only)."""

    @one_shot("calling.live_transcribe")
    def live_transcribe(self, /, action: Any, **kwargs: Any) -> None:
        """Start or stop live transcription (``action`` as in the reference)."""

    @one_shot("calling.live_translate")
    def live_translate(
        self, /, action: Any, *, status_url: str | None = None, **kwargs: Any
    ) -> None:
        """Start or stop live translation (``action`` as in the reference)."""

    @one_shot("calling.join_conference", rename={"stream_obj": "stream"})
    def join_conference(self, /, name: str, **options: Any) -> None:
        """Join (or create) the named conference; options as in the reference."""

    @one_shot("calling.leave_conference")
    def leave_conference(self, /, conference_id: str, **kwargs: Any) -> None:
        """Leave a conference joined with :meth:`join_conference`."""

    @one_shot("calling.join_room")
    def join_room(self, /, name: str, *, status_url: str | None = None, **kwargs: Any) -> None:
        """Join a video room."""

    @one_shot("calling.leave_room")
    def leave_room(self, /, **extra: Any) -> None:
        """Leave the video room."""

    @one_shot("calling.amazon_bedrock", rename={"ai_params": "params"})
    def amazon_bedrock(
        self,
        /,
        *,
        prompt: Any = None,
        SWAIG: Mapping[str, Any] | None = None,
        ai_params: Mapping[str, Any] | None = None,
        global_data: Mapping[str, Any] | None = None,
        post_prompt: Mapping[str, Any] | None = None,
        post_prompt_url: str | None = None,
        **extra: Any,
    ) -> None:
        """Connect the call to an Amazon Bedrock agent."""

    @one_shot("calling.ai_message")
    def ai_message(
        self,
        /,
        *,
        message_text: str | None = None,
        role: str | None = None,
        reset: Mapping[str, Any] | None = None,
        global_data: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Send a message to the AI agent running on the call."""

    @one_shot("calling.ai_hold", convert={"timeout": wire_string})
    def ai_hold(
        self, /, *, timeout: int | str | None = None, prompt: str | None = None, **extra: Any
    ) -> None:
        """Put the AI agent's caller on hold."""

    @one_shot("calling.ai_unhold")
    def ai_unhold(self, /, *, prompt: str | None = None, **extra: Any) -> None:
        """Take the AI agent's caller off hold."""
