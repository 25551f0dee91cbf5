"""The reference's call commands, as a mixin of :class:`~signalwire_relay_trio.Call`.

Names and parameters follow the Python RELAY reference's Call page. Methods
that start a long-running operation return an :class:`ActionStart`: ``await``
it, or ``async with`` it to stop the operation when the block exits. Typed
builders and the reference's dicts are both accepted and coerced here, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._actions import (
    A,
    ActionStart,
    AIAction,
    CollectAction,
    DetectAction,
    FaxAction,
    PayAction,
    PlayAction,
    RecordAction,
    StandaloneCollectAction,
    StreamAction,
    TapAction,
    TranscribeAction,
    start_action,
)
from ._events import SendDigitsEvent
from ._models import (
    Audio,
    DetectConfig,
    DigitDetect,
    Digits,
    FaxDetect,
    MachineDetect,
    RecordAudio,
    Ringtone,
    Silence,
    Speech,
    Tts,
    collect_config_to_wire,
    collect_to_wire,
    detect_to_wire,
    devices_to_wire,
    drop_none,
    media_to_wire,
    pay_parameters_to_wire,
    pay_prompts_to_wire,
    record_audio_to_wire,
    refer_device_to_wire,
    tap_device_to_wire,
    tap_to_wire,
)

if TYPE_CHECKING:
    from ._call import Call

__all__ = ["CallCommands"]

Media = Any  # a media item or a list of them: builders or the reference's dicts
CollectSettings = Digits | Speech | Mapping[str, Any]


class CallCommands:
    """Every command of the reference's Call page. Mixed into ``Call``."""

    __slots__ = ()

    def _start(
        self,
        action_class: type[A],
        method: str,
        params: Mapping[str, Any],
        control_id: str | None = None,
        method_prefix: str | None = None,
    ) -> ActionStart[A]:
        call: Call = self  # type: ignore[assignment]
        return ActionStart(
            lambda: start_action(
                call,
                action_class,
                method,
                params,
                control_id=control_id,
                method_prefix=method_prefix,
            )
        )

    async def _command(
        self, method: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        call: Call = self  # type: ignore[assignment]
        return await call._execute(method, drop_none(params) if params else None)

    # -- playback ---------------------------------------------------------------

    def play(
        self,
        media: Media,
        *,
        volume: float | None = None,
        direction: str | None = None,
        loop: int | None = None,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[PlayAction]:
        """Play media items in order (``calling.play``)."""
        params = drop_none(
            {
                "play": media_to_wire(media),
                "volume": volume,
                "direction": direction,
                "loop": loop,
                **extra,
            }
        )
        return self._start(PlayAction, "calling.play", params, control_id)

    def play_tts(
        self,
        text: str,
        *,
        language: str | None = None,
        gender: str | None = None,
        voice: str | None = None,
        volume: float | None = None,
    ) -> ActionStart[PlayAction]:
        return self.play([Tts(text, language=language, gender=gender, voice=voice)], volume=volume)

    def play_audio(self, url: str, *, volume: float | None = None) -> ActionStart[PlayAction]:
        return self.play([Audio(url)], volume=volume)

    def play_silence(self, duration: float) -> ActionStart[PlayAction]:
        return self.play([Silence(duration)])

    def play_ringtone(
        self, name: str, *, duration: float | None = None, volume: float | None = None
    ) -> ActionStart[PlayAction]:
        return self.play([Ringtone(name, duration=duration)], volume=volume)

    # -- recording --------------------------------------------------------------

    def record(
        self,
        audio: RecordAudio | Mapping[str, Any] | None = None,
        *,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[RecordAction]:
        """Record the call (``calling.record``); ``audio`` holds the settings."""
        params = {"record": {"audio": record_audio_to_wire(audio)}, **extra}
        return self._start(RecordAction, "calling.record", params, control_id)

    # -- input --------------------------------------------------------------------

    def play_and_collect(
        self,
        media: Media,
        collect: CollectSettings,
        *,
        volume: float | None = None,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[CollectAction]:
        """Play a prompt, then collect digits or speech; the collect result ends it."""
        params = drop_none(
            {
                "play": media_to_wire(media),
                "collect": collect_config_to_wire(collect),
                "volume": volume,
                **extra,
            }
        )
        return self._start(CollectAction, "calling.play_and_collect", params, control_id)

    def prompt_tts(
        self,
        text: str,
        collect: CollectSettings,
        *,
        language: str | None = None,
        gender: str | None = None,
        voice: str | None = None,
        volume: float | None = None,
    ) -> ActionStart[CollectAction]:
        tts = Tts(text, language=language, gender=gender, voice=voice)
        return self.play_and_collect([tts], collect, volume=volume)

    def prompt_audio(
        self, url: str, collect: CollectSettings, *, volume: float | None = None
    ) -> ActionStart[CollectAction]:
        return self.play_and_collect([Audio(url)], collect, volume=volume)

    def collect(
        self,
        *,
        digits: Digits | Mapping[str, Any] | None = None,
        speech: Speech | Mapping[str, Any] | None = None,
        initial_timeout: float | None = None,
        partial_results: bool | None = None,
        continuous: bool | None = None,
        send_start_of_input: bool | None = None,
        start_input_timers: bool | None = None,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[StandaloneCollectAction]:
        """Collect digits or speech without a prompt (``calling.collect``)."""
        params = collect_to_wire(
            digits=digits,
            speech=speech,
            initial_timeout=initial_timeout,
            partial_results=partial_results,
            continuous=continuous,
            send_start_of_input=send_start_of_input,
            start_input_timers=start_input_timers,
        )
        params.update(extra)
        return self._start(StandaloneCollectAction, "calling.collect", params, control_id)

    # -- detection -------------------------------------------------------------------

    def detect(
        self,
        detect: DetectConfig | Mapping[str, Any],
        *,
        timeout: float | None = None,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[DetectAction]:
        """Run a detector (machine, fax or digit); it ends on the first result."""
        params = drop_none({"detect": detect_to_wire(detect), "timeout": timeout, **extra})
        return self._start(DetectAction, "calling.detect", params, control_id)

    def detect_answering_machine(
        self,
        *,
        initial_timeout: float | None = None,
        end_silence_timeout: float | None = None,
        machine_ready_timeout: float | None = None,
        machine_voice_threshold: float | None = None,
        machine_words_threshold: int | None = None,
        detect_interruptions: bool | None = None,
        detect_message_end: bool | None = None,
        timeout: float | None = None,
    ) -> ActionStart[DetectAction]:
        machine = MachineDetect(
            initial_timeout=initial_timeout,
            end_silence_timeout=end_silence_timeout,
            machine_ready_timeout=machine_ready_timeout,
            machine_voice_threshold=machine_voice_threshold,
            machine_words_threshold=machine_words_threshold,
            detect_interruptions=detect_interruptions,
            detect_message_end=detect_message_end,
        )
        return self.detect(machine, timeout=timeout)

    def detect_fax(
        self, *, tone: str | None = None, timeout: float | None = None
    ) -> ActionStart[DetectAction]:
        return self.detect(FaxDetect(tone=tone), timeout=timeout)

    def detect_digit(
        self, *, digits: str | None = None, timeout: float | None = None
    ) -> ActionStart[DetectAction]:
        return self.detect(DigitDetect(digits=digits), timeout=timeout)

    # -- media forks, fax, pay, transcription, AI ----------------------------------------

    def tap(
        self,
        tap: Any,
        device: Any,
        *,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[TapAction]:
        """Fork the call's audio to an RTP or WebSocket ``device``."""
        params = {"tap": tap_to_wire(tap), "device": tap_device_to_wire(device), **extra}
        return self._start(TapAction, "calling.tap", params, control_id)

    def stream(
        self,
        url: str,
        *,
        name: str | None = None,
        codec: str | None = None,
        track: str | None = None,
        status_url: str | None = None,
        status_url_method: str | None = None,
        authorization_bearer_token: str | None = None,
        custom_parameters: Mapping[str, Any] | None = None,
        control_id: str | None = None,
        **extra: Any,
    ) -> ActionStart[StreamAction]:
        """Stream the call's audio to a WebSocket endpoint."""
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"stream url must be a ws:// or wss:// URL, got {url!r}")
        params = drop_none(
            {
                "url": url,
                "name": name,
                "codec": codec,
                "track": track,
                "status_url": status_url,
                "status_url_method": status_url_method,
                "authorization_bearer_token": authorization_bearer_token,
                "custom_parameters": dict(custom_parameters) if custom_parameters else None,
                **extra,
            }
        )
        return self._start(StreamAction, "calling.stream", params, control_id)

    def send_fax(
        self,
        document: str,
        *,
        identity: str | None = None,
        header_info: str | None = None,
        control_id: str | None = None,
    ) -> ActionStart[FaxAction]:
        if not isinstance(document, str) or not document:
            raise ValueError("send_fax needs a document URL")
        params = drop_none({"document": document, "identity": identity, "header_info": header_info})
        return self._start(FaxAction, "calling.send_fax", params, control_id, "send_fax")

    def receive_fax(self, *, control_id: str | None = None) -> ActionStart[FaxAction]:
        return self._start(FaxAction, "calling.receive_fax", {}, control_id, "receive_fax")

    def pay(
        self,
        payment_connector_url: str,
        *,
        control_id: str | None = None,
        input_method: str | None = None,
        status_url: str | None = None,
        payment_method: str | None = None,
        timeout: int | str | None = None,
        max_attempts: int | str | None = None,
        security_code: bool | str | None = None,
        postal_code: bool | str | None = None,
        min_postal_code_length: int | str | None = None,
        token_type: str | None = None,
        charge_amount: float | str | None = None,
        currency: str | None = None,
        language: str | None = None,
        voice: str | None = None,
        description: str | None = None,
        valid_card_types: str | None = None,
        parameters: Any = None,
        prompts: Any = None,
    ) -> ActionStart[PayAction]:
        """Collect a card payment. Scalars go on the wire as strings, as the server expects."""
        if not payment_connector_url:
            raise ValueError("pay needs a payment_connector_url")
        scalars = {
            "timeout": timeout,
            "max_attempts": max_attempts,
            "security_code": security_code,
            "postal_code": postal_code,
            "min_postal_code_length": min_postal_code_length,
            "charge_amount": charge_amount,
        }
        params = drop_none(
            {
                "payment_connector_url": payment_connector_url,
                "input": input_method,
                "status_url": status_url,
                "payment_method": payment_method,
                **{key: _wire_string(value) for key, value in scalars.items()},
                "token_type": token_type,
                "currency": currency,
                "language": language,
                "voice": voice,
                "description": description,
                "valid_card_types": valid_card_types,
                "parameters": pay_parameters_to_wire(parameters) if parameters else None,
                "prompts": pay_prompts_to_wire(prompts) if prompts else None,
            }
        )
        return self._start(PayAction, "calling.pay", params, control_id)

    def transcribe(
        self, *, status_url: str | None = None, control_id: str | None = None
    ) -> ActionStart[TranscribeAction]:
        params = drop_none({"status_url": status_url})
        return self._start(TranscribeAction, "calling.transcribe", params, control_id)

    def ai(
        self,
        *,
        control_id: str | None = None,
        agent: str | None = None,
        prompt: Mapping[str, Any] | None = None,
        post_prompt: Mapping[str, Any] | None = None,
        post_prompt_url: str | None = None,
        post_prompt_auth_user: str | None = None,
        post_prompt_auth_password: str | None = None,
        global_data: Mapping[str, Any] | None = None,
        pronounce: list[dict[str, Any]] | None = None,
        hints: list[str] | None = None,
        languages: list[dict[str, Any]] | None = None,
        SWAIG: Mapping[str, Any] | None = None,
        ai_params: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ActionStart[AIAction]:
        """Start an AI agent on the call; it runs until stopped or the call ends."""
        params = drop_none(
            {
                "agent": agent,
                "prompt": prompt,
                "post_prompt": post_prompt,
                "post_prompt_url": post_prompt_url,
                "post_prompt_auth_user": post_prompt_auth_user,
                "post_prompt_auth_password": post_prompt_auth_password,
                "global_data": global_data,
                "pronounce": pronounce,
                "hints": hints,
                "languages": languages,
                "SWAIG": SWAIG,
                "params": ai_params,
                **extra,
            }
        )
        return self._start(AIAction, "calling.ai", params, control_id)

    # -- one-shot commands ------------------------------------------------------------------

    async def send_digits(self, digits: str, *, control_id: str | None = None) -> SendDigitsEvent:
        """Send DTMF; returns the terminal ``SendDigitsEvent`` once they were sent."""
        call: Call = self  # type: ignore[assignment]
        if not isinstance(digits, str) or not digits:
            raise ValueError("send_digits needs a non-empty string of digits")
        control_id = control_id or str(uuid.uuid4())
        waiter = call._expect(
            "calling.call.send_digits",
            lambda e: e.control_id == control_id and e.params.get("state") == "finished",
        )
        try:
            await call._execute("calling.send_digits", {"control_id": control_id, "digits": digits})
            event = await waiter.result()
        finally:
            call._drop_waiter(waiter)
        assert isinstance(event, SendDigitsEvent)
        return event

    async def transfer(self, dest: str) -> dict[str, Any]:
        """Hand the call to a RELAY context or a SWML URL; it leaves this client."""
        call: Call = self  # type: ignore[assignment]
        result = await call._execute("calling.transfer", {"dest": dest})
        call._finish_transferred()
        return result

    async def connect(
        self,
        devices: Any,
        *,
        ringback: Media | None = None,
        tag: str | None = None,
        max_duration: int | None = None,
        max_price_per_minute: float | None = None,
        status_url: str | None = None,
    ) -> dict[str, Any]:
        """Bridge the call to new leg(s) (``calling.connect``); returns the ack.

        Follow the bridge with ``wait_for("calling.call.connect", ...)``.
        """
        params = {
            "devices": devices_to_wire(devices),
            "ringback": media_to_wire(ringback) if ringback is not None else None,
            "tag": tag or str(uuid.uuid4()),
            "max_duration": max_duration,
            "max_price_per_minute": max_price_per_minute,
            "status_url": status_url,
        }
        return await self._command("calling.connect", params)

    async def disconnect(self) -> dict[str, Any]:
        return await self._command("calling.disconnect")

    async def hold(self) -> dict[str, Any]:
        return await self._command("calling.hold")

    async def unhold(self) -> dict[str, Any]:
        return await self._command("calling.unhold")

    async def denoise(self) -> dict[str, Any]:
        return await self._command("calling.denoise")

    async def denoise_stop(self) -> dict[str, Any]:
        return await self._command("calling.denoise.stop")

    async def echo(
        self, *, timeout: float | None = None, status_url: str | None = None
    ) -> dict[str, Any]:
        params = {"timeout": timeout, "status_url": status_url}
        return await self._command("calling.echo", params)

    async def bind_digit(
        self,
        digits: str,
        bind_method: str,
        *,
        bind_params: Mapping[str, Any] | None = None,
        realm: str | None = None,
        max_triggers: int | None = None,
    ) -> dict[str, Any]:
        params = {
            "digits": digits,
            "bind_method": bind_method,
            "params": dict(bind_params) if bind_params else None,
            "realm": realm,
            "max_triggers": max_triggers,
        }
        return await self._command("calling.bind_digit", params)

    async def clear_digit_bindings(self, *, realm: str | None = None) -> dict[str, Any]:
        params = {"realm": realm}
        return await self._command("calling.clear_digit_bindings", params)

    async def user_event(self, event: Any = None, **extra: Any) -> dict[str, Any]:
        params = {"event": event, **extra}
        return await self._command("calling.user_event", params)

    async def refer(self, device: Any, *, status_url: str | None = None) -> dict[str, Any]:
        """SIP REFER the call to another SIP URI (SIP calls only)."""
        params = {"device": refer_device_to_wire(device), "status_url": status_url}
        return await self._command("calling.refer", params)

    async def live_transcribe(self, action: Any) -> dict[str, Any]:
        return await self._command("calling.live_transcribe", {"action": action})

    async def live_translate(self, action: Any, *, status_url: str | None = None) -> dict[str, Any]:
        params = {"action": action, "status_url": status_url}
        return await self._command("calling.live_translate", params)

    async def join_conference(self, name: str, **options: Any) -> dict[str, Any]:
        """Join (or create) the named conference; options as in the reference."""
        if "stream_obj" in options:
            options["stream"] = options.pop("stream_obj")
        params = {"name": name, **options}
        return await self._command("calling.join_conference", params)

    async def leave_conference(self, conference_id: str) -> dict[str, Any]:
        params = {"conference_id": conference_id}
        return await self._command("calling.leave_conference", params)

    async def join_room(self, name: str, *, status_url: str | None = None) -> dict[str, Any]:
        params = {"name": name, "status_url": status_url}
        return await self._command("calling.join_room", params)

    async def leave_room(self, **extra: Any) -> dict[str, Any]:
        return await self._command("calling.leave_room", extra)

    async def queue_enter(
        self,
        queue_name: str,
        *,
        control_id: str | None = None,
        status_url: str | None = None,
        wait_url: str | None = None,
    ) -> dict[str, Any]:
        """Put the call in the named queue (``calling.queue.enter``).

        Follow it with ``calling.call.queue`` events (``enqueue``, then
        ``dequeue`` or ``leave``).
        """
        call: Call = self  # type: ignore[assignment]
        control_id = control_id or str(uuid.uuid4())
        params = {
            "queue_name": queue_name,
            "control_id": control_id,
            "status_url": status_url,
            "wait_url": wait_url,
        }
        result = await self._command("calling.queue.enter", params)
        if call._queue_controls is None:
            call._queue_controls = {}
        call._queue_controls[queue_name] = control_id
        return result

    async def queue_leave(
        self,
        queue_name: str,
        *,
        control_id: str | None = None,
        queue_id: str | None = None,
        status_url: str | None = None,
    ) -> dict[str, Any]:
        """Take the call out of the named queue (``calling.queue.leave``).

        Without ``control_id`` the leave carries the control_id of this
        call's ``queue_enter`` for that queue, which names the entry.
        """
        call: Call = self  # type: ignore[assignment]
        queued = call._queue_controls or {}
        control_id = control_id or queued.get(queue_name) or str(uuid.uuid4())
        params = {
            "queue_name": queue_name,
            "control_id": control_id,
            "queue_id": queue_id,
            "status_url": status_url,
        }
        result = await self._command("calling.queue.leave", params)
        if queued.get(queue_name) == control_id:
            del queued[queue_name]
        return result

    async def amazon_bedrock(
        self,
        *,
        prompt: Any = None,
        SWAIG: Mapping[str, Any] | None = None,
        ai_params: Mapping[str, Any] | None = None,
        global_data: Mapping[str, Any] | None = None,
        post_prompt: Mapping[str, Any] | None = None,
        post_prompt_url: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        params = {
            "prompt": prompt,
            "SWAIG": SWAIG,
            "params": ai_params,
            "global_data": global_data,
            "post_prompt": post_prompt,
            "post_prompt_url": post_prompt_url,
            **extra,
        }
        return await self._command("calling.amazon_bedrock", params)

    async def ai_message(
        self,
        *,
        message_text: str | None = None,
        role: str | None = None,
        reset: Mapping[str, Any] | None = None,
        global_data: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        params = {
            "message_text": message_text,
            "role": role,
            "reset": reset,
            "global_data": global_data,
            **extra,
        }
        return await self._command("calling.ai_message", params)

    async def ai_hold(
        self, *, timeout: int | str | None = None, prompt: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        params = {"timeout": _wire_string(timeout), "prompt": prompt, **extra}
        return await self._command("calling.ai_hold", params)

    async def ai_unhold(self, *, prompt: str | None = None, **extra: Any) -> dict[str, Any]:
        params = {"prompt": prompt, **extra}
        return await self._command("calling.ai_unhold", params)


def _wire_string(value: object) -> str | None:
    """RELAY's pay/AI schemas type scalars as strings: ``True`` → ``"true"``, 3 → ``"3"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
