"""The reference's long-running call commands: each starts an action.

Names and parameters follow the Python RELAY reference's Call page. Each
method returns an :class:`ActionStart`: ``await`` it, or ``async with`` it to
stop the operation when the block exits. Typed builders and the reference's
dicts are both accepted and coerced here, once.

As in the official SDK, each takes ``on_completed=`` (a sync or async
callable, called once with the event that ended the action: see
``CallActions.completed``) and passes extra keyword arguments into the
request's params (a named argument wins over an extra of the same key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._action_kinds import (
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
)
from ._actions import ActionStart, Completion
from ._call_base import CallBase
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
    media_to_wire,
    pay_parameters_to_wire,
    pay_prompts_to_wire,
    record_audio_to_wire,
    tap_device_to_wire,
    tap_to_wire,
)
from ._params import merge_params, wire_string

__all__ = ["Media", "MediaCommands"]

Media = Any  # a media item or a list of them: builders or the reference's dicts
CollectSettings = Digits | Speech | Mapping[str, Any]


class MediaCommands(CallBase):
    """The commands of the reference's Call page that start an operation."""

    __slots__ = ()

    # -- playback ---------------------------------------------------------------

    def play(
        self,
        media: Media,
        *,
        volume: float | None = None,
        direction: str | None = None,
        loop: int | None = None,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[PlayAction]:
        """Play media items in order (``calling.play``).

        ``on_completed(event)``, if given, is called once (sync, or as a task
        if async) with the event that ended the action: its terminal event;
        the call's ``ended`` state event if the call ended first; an empty
        ``RelayEvent`` if it was stopped and no final event came. The same
        holds for every method here that takes ``on_completed``.
        """
        params = merge_params(
            {
                "play": media_to_wire(media),
                "volume": volume,
                "direction": direction,
                "loop": loop,
            },
            extra,
        )
        return self._start(
            PlayAction, "calling.play", params, control_id, on_completed=on_completed
        )

    def play_tts(
        self,
        text: str,
        *,
        language: str | None = None,
        gender: str | None = None,
        voice: str | None = None,
        volume: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[PlayAction]:
        tts = Tts(text, language=language, gender=gender, voice=voice)
        return self.play([tts], volume=volume, on_completed=on_completed)

    def play_audio(
        self, url: str, *, volume: float | None = None, on_completed: Completion | None = None
    ) -> ActionStart[PlayAction]:
        return self.play([Audio(url)], volume=volume, on_completed=on_completed)

    def play_silence(
        self, duration: float, *, on_completed: Completion | None = None
    ) -> ActionStart[PlayAction]:
        return self.play([Silence(duration)], on_completed=on_completed)

    def play_ringtone(
        self,
        name: str,
        *,
        duration: float | None = None,
        volume: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[PlayAction]:
        ringtone = Ringtone(name, duration=duration)
        return self.play([ringtone], volume=volume, on_completed=on_completed)

    # -- recording --------------------------------------------------------------

    def record(
        self,
        audio: RecordAudio | Mapping[str, Any] | None = None,
        *,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[RecordAction]:
        """Record the call (``calling.record``); ``audio`` holds the settings."""
        params = merge_params({"record": {"audio": record_audio_to_wire(audio)}}, extra)
        return self._start(
            RecordAction, "calling.record", params, control_id, on_completed=on_completed
        )

    # -- input --------------------------------------------------------------------

    def play_and_collect(
        self,
        media: Media,
        collect: CollectSettings,
        *,
        volume: float | None = None,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[CollectAction]:
        """Play a prompt, then collect digits or speech; the collect result ends it."""
        params = merge_params(
            {
                "play": media_to_wire(media),
                "collect": collect_config_to_wire(collect),
                "volume": volume,
            },
            extra,
        )
        return self._start(
            CollectAction, "calling.play_and_collect", params, control_id, on_completed=on_completed
        )

    def prompt_tts(
        self,
        text: str,
        collect: CollectSettings,
        *,
        language: str | None = None,
        gender: str | None = None,
        voice: str | None = None,
        volume: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[CollectAction]:
        tts = Tts(text, language=language, gender=gender, voice=voice)
        return self.play_and_collect([tts], collect, volume=volume, on_completed=on_completed)

    def prompt_audio(
        self,
        url: str,
        collect: CollectSettings,
        *,
        volume: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[CollectAction]:
        return self.play_and_collect(
            [Audio(url)], collect, volume=volume, on_completed=on_completed
        )

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
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[StandaloneCollectAction]:
        """Collect digits or speech without a prompt (``calling.collect``)."""
        named = collect_to_wire(
            digits=digits,
            speech=speech,
            initial_timeout=initial_timeout,
            partial_results=partial_results,
            continuous=continuous,
            send_start_of_input=send_start_of_input,
            start_input_timers=start_input_timers,
        )
        params = merge_params(named, extra)
        return self._start(
            StandaloneCollectAction,
            "calling.collect",
            params,
            control_id,
            on_completed=on_completed,
        )

    # -- detection -------------------------------------------------------------------

    def detect(
        self,
        detect: DetectConfig | Mapping[str, Any],
        *,
        timeout: float | None = None,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[DetectAction]:
        """Run a detector (machine, fax or digit); it ends on the first result."""
        params = merge_params({"detect": detect_to_wire(detect), "timeout": timeout}, extra)
        return self._start(
            DetectAction, "calling.detect", params, control_id, on_completed=on_completed
        )

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
        on_completed: Completion | None = None,
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
        return self.detect(machine, timeout=timeout, on_completed=on_completed)

    def detect_fax(
        self,
        *,
        tone: str | None = None,
        timeout: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[DetectAction]:
        return self.detect(FaxDetect(tone=tone), timeout=timeout, on_completed=on_completed)

    def detect_digit(
        self,
        *,
        digits: str | None = None,
        timeout: float | None = None,
        on_completed: Completion | None = None,
    ) -> ActionStart[DetectAction]:
        detector = DigitDetect(digits=digits)
        return self.detect(detector, timeout=timeout, on_completed=on_completed)

    # -- media forks, fax, pay, transcription, AI ----------------------------------------

    def tap(
        self,
        tap: Any,
        device: Any,
        *,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[TapAction]:
        """Fork the call's audio to an RTP or WebSocket ``device``."""
        params = merge_params(
            {"tap": tap_to_wire(tap), "device": tap_device_to_wire(device)}, extra
        )
        return self._start(TapAction, "calling.tap", params, control_id, on_completed=on_completed)

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
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[StreamAction]:
        """Stream the call's audio to a WebSocket endpoint."""
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"stream url must be a ws:// or wss:// URL, got {url!r}")
        params = merge_params(
            {
                "url": url,
                "name": name,
                "codec": codec,
                "track": track,
                "status_url": status_url,
                "status_url_method": status_url_method,
                "authorization_bearer_token": authorization_bearer_token,
                "custom_parameters": dict(custom_parameters) if custom_parameters else None,
            },
            extra,
        )
        return self._start(
            StreamAction, "calling.stream", params, control_id, on_completed=on_completed
        )

    def send_fax(
        self,
        document: str,
        *,
        identity: str | None = None,
        header_info: str | None = None,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[FaxAction]:
        """Send a fax document (a URL) on the call."""
        if not isinstance(document, str) or not document:
            raise ValueError("send_fax needs a document URL")
        named = {"document": document, "identity": identity, "header_info": header_info}
        params = merge_params(named, extra)
        return self._start(
            FaxAction, "calling.send_fax", params, control_id, "send_fax", on_completed=on_completed
        )

    def receive_fax(
        self,
        *,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[FaxAction]:
        """Receive a fax on the call."""
        params = merge_params({}, extra)
        return self._start(
            FaxAction,
            "calling.receive_fax",
            params,
            control_id,
            "receive_fax",
            on_completed=on_completed,
        )

    def pay(
        self,
        payment_connector_url: str,
        *,
        control_id: str | None = None,
        on_completed: Completion | None = None,
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
        **extra: Any,
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
        params = merge_params(
            {
                "payment_connector_url": payment_connector_url,
                "input": input_method,
                "status_url": status_url,
                "payment_method": payment_method,
                **{key: wire_string(value) for key, value in scalars.items()},
                "token_type": token_type,
                "currency": currency,
                "language": language,
                "voice": voice,
                "description": description,
                "valid_card_types": valid_card_types,
                "parameters": pay_parameters_to_wire(parameters) if parameters else None,
                "prompts": pay_prompts_to_wire(prompts) if prompts else None,
            },
            extra,
        )
        return self._start(PayAction, "calling.pay", params, control_id, on_completed=on_completed)

    def transcribe(
        self,
        *,
        status_url: str | None = None,
        control_id: str | None = None,
        on_completed: Completion | None = None,
        **extra: Any,
    ) -> ActionStart[TranscribeAction]:
        """Transcribe the call; the result comes with the terminal event."""
        params = merge_params({"status_url": status_url}, extra)
        return self._start(
            TranscribeAction, "calling.transcribe", params, control_id, on_completed=on_completed
        )

    def ai(
        self,
        *,
        control_id: str | None = None,
        on_completed: Completion | None = None,
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
        params = merge_params(
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
            },
            extra,
        )
        return self._start(AIAction, "calling.ai", params, control_id, on_completed=on_completed)
