"""Builders and dict coercion in _models: wire shapes, normalisation and bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalwire_relay_trio._models import (
    RINGTONES,
    Audio,
    DigitDetect,
    Digits,
    FaxDetect,
    MachineDetect,
    MediaItem,
    PayParameter,
    PayPrompt,
    PayPromptAction,
    Phone,
    RecordAudio,
    Ringtone,
    RtpDevice,
    Silence,
    Sip,
    Speech,
    TapAudio,
    Tts,
    WebRTC,
    WsDevice,
    collect_config_to_wire,
    collect_to_wire,
    detect_to_wire,
    device_to_wire,
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

FRAMES = Path(__file__).parent / "fixtures" / "frames"
IDS = ("node_id", "call_id", "control_id")


def bad(value: object) -> Any:
    """Hide a deliberately wrong argument from mypy."""
    return value


def client_params(name: str, method: str) -> dict[str, Any]:
    """The params of the first client frame calling `method` in a fixture file."""
    for step in json.loads((FRAMES / name).read_text()):
        frame = step.get("frame")
        if step["from"] == "client" and frame and frame.get("method") == method:
            params: dict[str, Any] = frame["params"]
            return params
    raise LookupError(f"{method} not in {name}")


# --- wire shapes against the sample frames ---------------------------------------


def test_play_list_matches_play_lifecycle_frame() -> None:
    expected = client_params("play-lifecycle.json", "calling.play")["play"]
    media: list[MediaItem] = [
        Tts(text="Thanks for calling. Please hold.", language="en-US", gender="female"),
        Silence(duration=1.0),
        Audio(url="https://cdn.example.com/audio/hold-music.mp3"),
    ]
    assert media_to_wire(media) == expected
    assert media_to_wire(copy.deepcopy(expected)) == expected


def test_dial_devices_match_dial_sequence_frame() -> None:
    expected = client_params("dial-sequence.json", "calling.dial")["devices"]
    group = [
        Phone(to_number="+15553330000", from_number="+15551230000", timeout=30),
        Phone(to_number="+15553330001", from_number="+15551230000", timeout=30),
    ]
    assert devices_to_wire([group]) == expected
    assert devices_to_wire(copy.deepcopy(expected)) == expected


def test_connect_devices_and_ringback_match_frame() -> None:
    params = client_params("connect-bridge-sequence.json", "calling.connect")
    phone = Phone(to_number="+15553330000", from_number="+15551230000", timeout=30)
    assert devices_to_wire(phone) == params["devices"]
    assert media_to_wire([Ringtone(name="us")]) == params["ringback"]


def test_play_and_collect_matches_frame() -> None:
    params = client_params("play-and-collect-digits.json", "calling.play_and_collect")
    prompt = Tts(text="Enter your account number, then press pound.")
    assert media_to_wire(prompt) == params["play"]
    digits = Digits(max=8, digit_timeout=3.0, terminators="#")
    assert collect_to_wire(digits=digits, initial_timeout=5.0) == params["collect"]
    assert collect_config_to_wire(params["collect"]) == params["collect"]


def test_collect_speech_matches_frame() -> None:
    params = client_params("collect-speech.json", "calling.collect")
    speech = Speech(
        end_silence_timeout=1.0,
        speech_timeout=30.0,
        language="en-US",
        hints=["balance", "payment", "agent"],
    )
    wire = collect_to_wire(
        speech=speech, initial_timeout=5.0, partial_results=True, send_start_of_input=True
    )
    assert wire == {k: v for k, v in params.items() if k not in IDS}


def test_collect_no_input_keeps_false_flags() -> None:
    params = client_params("collect-no-input.json", "calling.collect")
    wire = collect_to_wire(
        digits={"max": 4, "digit_timeout": 5.0, "terminators": "#"},
        initial_timeout=4.0,
        start_input_timers=False,
    )
    assert wire == {k: v for k, v in params.items() if k not in IDS}
    assert wire["start_input_timers"] is False


def test_record_audio_matches_record_lifecycle_frame() -> None:
    expected = client_params("record-lifecycle.json", "calling.record")["record"]["audio"]
    audio = RecordAudio(
        beep=True,
        format="mp3",
        stereo=False,
        direction="both",
        initial_timeout=5.0,
        end_silence_timeout=3.0,
        terminators="#",
    )
    assert record_audio_to_wire(audio) == expected
    assert record_audio_to_wire(dict(expected)) == expected
    assert record_audio_to_wire(None) == {}
    assert record_audio_to_wire(RecordAudio()) == {}


def test_tap_matches_tap_frame() -> None:
    params = client_params("tap.json", "calling.tap")
    assert tap_to_wire(TapAudio()) == params["tap"]
    device = RtpDevice(addr="203.0.113.10", port=5004, codec="PCMU", ptime=20)
    assert tap_device_to_wire(device) == params["device"]
    assert tap_device_to_wire(copy.deepcopy(params["device"])) == params["device"]


def test_detect_matches_detect_frames() -> None:
    machine = client_params("detect-machine.json", "calling.detect")["detect"]
    amd = MachineDetect(
        initial_timeout=4.5,
        end_silence_timeout=1.0,
        machine_voice_threshold=1.25,
        machine_words_threshold=6,
        detect_message_end=True,
    )
    assert detect_to_wire(amd) == machine
    fax = client_params("detect-fax.json", "calling.detect")["detect"]
    assert detect_to_wire(FaxDetect(tone="CED")) == fax
    assert detect_to_wire({"type": "fax", "tone": "CED"}) == fax


def test_refer_device_matches_refer_frame() -> None:
    expected = client_params("refer.json", "calling.refer")["device"]
    assert refer_device_to_wire(copy.deepcopy(expected)) == expected
    flat = {"type": "sip", "to": "sip:queue-42@pbx.example.com", "headers": {"X-Ticket": "T-9001"}}
    assert refer_device_to_wire(flat) == expected


# --- every builder's wire form ----------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "wire"),
    [
        (Tts("hi"), {"type": "tts", "params": {"text": "hi"}}),
        (
            Tts("hi", language="en-GB", gender="male", voice="Polly.Brian"),
            {
                "type": "tts",
                "params": {
                    "text": "hi",
                    "language": "en-GB",
                    "gender": "male",
                    "voice": "Polly.Brian",
                },
            },
        ),
        (Audio("https://a/b.mp3"), {"type": "audio", "params": {"url": "https://a/b.mp3"}}),
        (Silence(2), {"type": "silence", "params": {"duration": 2}}),
        (Ringtone("uk", duration=5), {"type": "ringtone", "params": {"name": "uk", "duration": 5}}),
    ],
)
def test_media_builders(builder: Any, wire: dict[str, Any]) -> None:
    assert media_to_wire([builder]) == [wire]


def test_phone_full() -> None:
    phone = Phone(
        to_number="+15553330000",
        from_number="+15551230000",
        timeout=20,
        max_duration=3600,
        call_state_url="https://app/cs",
        call_state_events=["answered", "ended"],
    )
    assert device_to_wire(phone) == {
        "type": "phone",
        "params": {
            "to_number": "+15553330000",
            "from_number": "+15551230000",
            "timeout": 20,
            "max_duration": 3600,
            "call_state_url": "https://app/cs",
            "call_state_events": ["answered", "ended"],
        },
    }


def test_sip_full_renames_from_and_emits_header_list() -> None:
    sip = Sip(
        to="sip:desk@pbx",
        from_="sip:bot@example.com",
        from_name="Bot",
        headers={"X-A": "1", "X-B": "2"},
        codecs=("PCMU", "OPUS"),
        webrtc_media=False,
        session_timeout=1800,
        timeout=25,
        max_duration=600,
    )
    assert device_to_wire(sip) == {
        "type": "sip",
        "params": {
            "to": "sip:desk@pbx",
            "from": "sip:bot@example.com",
            "from_name": "Bot",
            "headers": [{"name": "X-A", "value": "1"}, {"name": "X-B", "value": "2"}],
            "codecs": ["PCMU", "OPUS"],
            "webrtc_media": False,
            "session_timeout": 1800,
            "timeout": 25,
            "max_duration": 600,
        },
    }


def test_sip_headers_accept_list_form() -> None:
    listed = Sip("sip:a", "sip:b", headers=[{"name": "X-A", "value": "1"}])
    mapped = Sip("sip:a", "sip:b", headers={"X-A": "1"})
    assert listed == mapped
    assert device_to_wire(listed)["params"]["headers"] == [{"name": "X-A", "value": "1"}]


def test_webrtc() -> None:
    assert device_to_wire(WebRTC(to="room-1", from_="agent", timeout=10)) == {
        "type": "webrtc",
        "params": {"to": "room-1", "from": "agent", "timeout": 10},
    }


def test_collect_builders() -> None:
    assert collect_to_wire(digits=Digits(max=1)) == {"digits": {"max": 1}}
    speech = Speech(hints="yes", model="enhanced.phone_call", engine="Deepgram")
    assert collect_to_wire(speech=speech) == {
        "speech": {"hints": ["yes"], "model": "enhanced.phone_call", "engine": "Deepgram"}
    }
    both = collect_to_wire(digits=Digits(2), speech=Speech(), continuous=True)
    assert both == {"digits": {"max": 2}, "speech": {}, "continuous": True}


def test_record_audio_every_field() -> None:
    audio = RecordAudio(direction="speak", input_sensitivity=44.0, format="wav")
    assert record_audio_to_wire(audio) == {
        "format": "wav",
        "direction": "speak",
        "input_sensitivity": 44.0,
    }


def test_detect_builders() -> None:
    full = MachineDetect(machine_ready_timeout=2.0, detect_interruptions=True)
    assert detect_to_wire(full) == {
        "type": "machine",
        "params": {"machine_ready_timeout": 2.0, "detect_interruptions": True},
    }
    assert detect_to_wire(MachineDetect()) == {"type": "machine", "params": {}}
    assert detect_to_wire(FaxDetect()) == {"type": "fax", "params": {}}
    assert detect_to_wire(DigitDetect("12#")) == {"type": "digit", "params": {"digits": "12#"}}


def test_tap_builders() -> None:
    assert tap_to_wire(TapAudio("listen")) == {"type": "audio", "params": {"direction": "listen"}}
    ws = WsDevice(uri="wss://media.example.com/tap", codec="OPUS", rate=16000)
    assert tap_device_to_wire(ws) == {
        "type": "ws",
        "params": {"uri": "wss://media.example.com/tap", "codec": "OPUS", "rate": 16000},
    }


def test_pay_builders() -> None:
    prompt = PayPrompt(
        for_="payment-card-number",
        actions=[
            PayPromptAction("Say", "Enter your card"),
            {"type": "Play", "phrase": "https://a"},
        ],
        card_type="visa amex",
        error_type="timeout",
        attempts=2,
    )
    assert pay_prompts_to_wire([prompt]) == [
        {
            "for": "payment-card-number",
            "actions": [
                {"type": "Say", "phrase": "Enter your card"},
                {"type": "Play", "phrase": "https://a"},
            ],
            "card_type": "visa amex",
            "error_type": "timeout",
            "attempts": "2",
        }
    ]
    as_dict = {"for": "expiration-date", "actions": [{"type": "Say", "phrase": "Expiry?"}]}
    assert pay_prompts_to_wire(as_dict) == [as_dict]
    assert pay_parameters_to_wire([PayParameter("merchant", "m-1")]) == [
        {"name": "merchant", "value": "m-1"}
    ]
    assert pay_parameters_to_wire({"merchant": "m-1", "lane": "2"}) == [
        {"name": "merchant", "value": "m-1"},
        {"name": "lane", "value": "2"},
    ]
    assert pay_parameters_to_wire([{"name": "merchant", "value": "m-1"}]) == [
        {"name": "merchant", "value": "m-1"}
    ]


def test_builders_are_frozen_and_hashable() -> None:
    sip = Sip("sip:a", "sip:b", headers={"X": "1"}, codecs=["PCMU"])
    assert hash(sip) == hash(
        Sip("sip:a", "sip:b", headers=[{"name": "X", "value": "1"}], codecs=("PCMU",))
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        sip.to = "sip:c"  # type: ignore[misc]


# --- flat to nested, passthrough, None dropping -----------------------------------


@pytest.mark.parametrize(
    ("flat", "nested"),
    [
        ({"type": "tts", "text": "Hello"}, {"type": "tts", "params": {"text": "Hello"}}),
        ({"type": "audio", "url": "https://a"}, {"type": "audio", "params": {"url": "https://a"}}),
        ({"type": "silence", "duration": 1}, {"type": "silence", "params": {"duration": 1}}),
        ({"type": "ringtone", "name": "de"}, {"type": "ringtone", "params": {"name": "de"}}),
    ],
)
def test_flat_media_is_nested(flat: dict[str, Any], nested: dict[str, Any]) -> None:
    assert media_to_wire([flat]) == [nested]
    assert media_to_wire(flat) == [nested]


def test_flat_device_detect_and_tap_are_nested() -> None:
    phone = {"type": "phone", "to_number": "+15553330000", "from_number": "+15551230000"}
    assert device_to_wire(phone) == {
        "type": "phone",
        "params": {"to_number": "+15553330000", "from_number": "+15551230000"},
    }
    sip = {"type": "sip", "to": "sip:a", "from": "sip:b", "headers": {"X": "1"}}
    assert device_to_wire(sip)["params"] == {
        "to": "sip:a",
        "from": "sip:b",
        "headers": [{"name": "X", "value": "1"}],
    }
    assert detect_to_wire({"type": "digit", "digits": "123"}) == DIGIT_123
    assert tap_to_wire({"type": "audio", "direction": "speak"}) == {
        "type": "audio",
        "params": {"direction": "speak"},
    }
    assert tap_to_wire({"type": "audio"}) == {"type": "audio", "params": {"direction": "both"}}
    rtp = {"type": "rtp", "addr": "192.0.2.1", "port": 4000}
    assert tap_device_to_wire(rtp) == {"type": "rtp", "params": {"addr": "192.0.2.1", "port": 4000}}


DIGIT_123 = {"type": "digit", "params": {"digits": "123"}}


def test_dict_input_is_not_mutated_and_output_is_a_copy() -> None:
    items: list[dict[str, Any]] = [
        {"type": "tts", "params": {"text": "hi", "language": None}},
        {"type": "silence", "duration": 0.5},
    ]
    before = copy.deepcopy(items)
    wire = media_to_wire(items)
    assert items == before
    assert wire == [
        {"type": "tts", "params": {"text": "hi"}},
        {"type": "silence", "params": {"duration": 0.5}},
    ]
    wire[0]["params"]["text"] = "changed"
    assert items[0]["params"]["text"] == "hi"

    matrix: Any = [
        [{"type": "sip", "params": {"to": "sip:a", "from": "sip:b", "headers": {"X": "1"}}}]
    ]
    assert devices_to_wire(copy.deepcopy(matrix)) == devices_to_wire(matrix)
    assert matrix[0][0]["params"]["headers"] == {"X": "1"}


def test_unknown_params_pass_through() -> None:
    item = {"type": "tts", "params": {"text": "hi", "engine": "gcloud"}}
    assert media_to_wire([item]) == [item]
    digits = {"max": 3, "future_flag": True, "skip": None}
    assert collect_to_wire(digits=digits) == {"digits": {"max": 3, "future_flag": True}}
    cfg = {"digits": Digits(3), "continue": True, "partial_results": None}
    assert collect_config_to_wire(cfg) == {"digits": {"max": 3}, "continue": True}


def test_other_device_kinds_pass_through() -> None:
    queue = {"type": "queue", "params": {"queue_name": "support", "queue_id": None}}
    assert device_to_wire(queue) == {"type": "queue", "params": {"queue_name": "support"}}
    assert device_to_wire({"type": "call", "node_id": "n", "call_id": "c"}) == {
        "type": "call",
        "params": {"node_id": "n", "call_id": "c"},
    }


def test_none_is_never_sent() -> None:
    assert media_to_wire(Tts("hi", language=None)) == [{"type": "tts", "params": {"text": "hi"}}]
    assert collect_to_wire(digits=Digits(1), initial_timeout=None, continuous=None) == {
        "digits": {"max": 1}
    }
    assert drop_none({"a": 1, "b": None, "c": False, "d": 0, "e": ""}) == {
        "a": 1,
        "c": False,
        "d": 0,
        "e": "",
    }
    source = {"a": None}
    assert drop_none(source) == {} and source == {"a": None}


def test_collect_config_accepts_builders_alone() -> None:
    assert collect_config_to_wire(Digits(4)) == {"digits": {"max": 4}}
    assert collect_config_to_wire(Speech(language="en-US")) == {"speech": {"language": "en-US"}}


def test_the_converter_writes_builders_as_commands_do() -> None:
    from signalwire_relay_trio._convert import converter

    sip = Sip("sip:a", "sip:b", headers={"X": "1"}, codecs=["PCMU"], timeout=None)
    assert converter.unstructure(sip) == device_to_wire(sip)["params"]
    prompt = PayPrompt(for_="payment-card-number", actions=[PayPromptAction("Say", "Card?")])
    assert [converter.unstructure(prompt)] == pay_prompts_to_wire(prompt)
    assert converter.unstructure(TapAudio()) == {"direction": "both"}


# --- the device matrix -------------------------------------------------------------

A = Phone("+15550000001", "+15551230000")
B = Sip("sip:b@x", "sip:me@x")
A_WIRE = device_to_wire(A)
B_WIRE = device_to_wire(B)


@pytest.mark.parametrize(
    ("devices", "matrix"),
    [
        (A, [[A_WIRE]]),
        (A_WIRE, [[A_WIRE]]),
        ([A, B], [[A_WIRE], [B_WIRE]]),
        ((A, B), [[A_WIRE], [B_WIRE]]),
        ([[A, B]], [[A_WIRE, B_WIRE]]),
        ([[A], [B]], [[A_WIRE], [B_WIRE]]),
        ([[A, B], B], [[A_WIRE, B_WIRE], [B_WIRE]]),
        ([A_WIRE, [B_WIRE]], [[A_WIRE], [B_WIRE]]),
    ],
)
def test_matrix_shapes(devices: Any, matrix: list[list[dict[str, Any]]]) -> None:
    assert devices_to_wire(devices) == matrix


@pytest.mark.parametrize("devices", [[], (), [[]], [A, []]])
def test_empty_matrix_or_group_is_rejected(devices: Any) -> None:
    with pytest.raises(ValueError, match=r"empty|at least one"):
        devices_to_wire(devices)


@pytest.mark.parametrize("devices", ["+15550000001", 5, [[[A]]], [Tts("x")]])
def test_matrix_of_wrong_things_is_a_type_error(devices: Any) -> None:
    with pytest.raises(TypeError):
        devices_to_wire(devices)


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Silence(duration=-1), "Silence.duration"),
        (lambda: Silence(duration=0), "Silence.duration"),
        (lambda: Silence(duration=float("nan")), "Silence.duration"),
        (lambda: Ringtone(name="xx"), "Ringtone.name"),
        (lambda: Ringtone(name="us", duration=-2), "Ringtone.duration"),
        (lambda: Tts(text=""), "Tts.text"),
        (lambda: Audio(url=""), "Audio.url"),
        (lambda: Digits(max=0), "Digits.max"),
        (lambda: Digits(max=4, terminators="#x"), "Digits.terminators"),
        (lambda: Digits(max=4, digit_timeout=-1), "Digits.digit_timeout"),
        (lambda: Phone(to_number=None, from_number="+15551230000"), "Phone.to_number"),  # type: ignore[arg-type]
        (lambda: Phone(to_number="", from_number="+15551230000"), "Phone.to_number"),
        (lambda: Phone("+1555", "+1556", timeout=-5), "Phone.timeout"),
        (lambda: Sip(to="sip:a", from_=""), "Sip.from_"),
        (lambda: RecordAudio(format="ogg"), "RecordAudio.format"),
        (lambda: RecordAudio(direction="up"), "RecordAudio.direction"),
        (lambda: FaxDetect(tone="XYZ"), "FaxDetect.tone"),
        (lambda: DigitDetect(digits="9z"), "DigitDetect.digits"),
        (lambda: TapAudio(direction="sideways"), "TapAudio.direction"),
        (lambda: RtpDevice("192.0.2.1", port=70000), "RtpDevice.port"),
        (lambda: RtpDevice("192.0.2.1", port=0), "RtpDevice.port"),
        (lambda: WsDevice(uri="https://not-ws"), "WsDevice.uri"),
        (lambda: WsDevice(uri="wss://x", rate=0), "WsDevice.rate"),
        (lambda: PayPromptAction(type="Shout", phrase="x"), "PayPromptAction.type"),
        (lambda: PayPrompt(for_="x", actions=[]), "PayPrompt.actions"),
        (lambda: PayPrompt(for_="x", actions=[{"type": "Say"}]), "'phrase'"),
        (
            lambda: PayPrompt(for_="x", actions=[PayPromptAction("Say", "a")], attempts=0),
            "attempts",
        ),
        (lambda: media_to_wire([]), "at least one"),
        (lambda: media_to_wire([{"params": {"text": "hi"}}]), "no 'type'"),
        (lambda: media_to_wire([{"type": "video", "url": "x"}]), "unknown media item type 'video'"),
        (lambda: media_to_wire([{"type": "tts"}]), "'text'"),
        (lambda: media_to_wire([{"type": "tts", "params": {"text": None}}]), "'text'"),
        (lambda: media_to_wire([{"type": "silence", "duration": -1}]), "Silence.duration"),
        (lambda: media_to_wire([{"type": "tts", "params": {"text": "a"}, "x": 1}]), "mixes"),
        (lambda: device_to_wire({"type": "fax", "to": "x"}), "unknown device type"),
        (lambda: device_to_wire({"type": "phone", "to_number": "+1555"}), "'from_number'"),
        (lambda: detect_to_wire({"type": "smoke"}), "unknown detect type"),
        (lambda: tap_device_to_wire({"type": "rtp", "addr": "h"}), "'port'"),
        (lambda: collect_to_wire(), "digits, speech"),
        (lambda: collect_to_wire(digits={}), "'max'"),
        (lambda: collect_to_wire(digits=Digits(1), initial_timeout=-1), "initial_timeout"),
        (lambda: refer_device_to_wire({"type": "sip", "params": {}}), "'to'"),
        (lambda: refer_device_to_wire({"type": "phone", "to_number": "+1"}), "'sip'"),
        (lambda: pay_parameters_to_wire({"name": "a", "value": "b"}), "in a list"),
        (lambda: pay_parameters_to_wire([{"name": "a"}]), "'value'"),
    ],
)
def test_value_errors_name_the_field(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Tts(text=bad(5)), "Tts.text"),
        (lambda: Silence(duration=bad("1")), "Silence.duration"),
        (lambda: Silence(duration=True), "Silence.duration"),
        (lambda: Digits(max=bad(2.5)), "Digits.max"),
        (lambda: RecordAudio(beep=bad("yes")), "RecordAudio.beep"),
        (lambda: Speech(hints=bad(5)), "Speech.hints"),
        (lambda: Speech(hints=["ok", 3]), "Speech.hints"),
        (lambda: Sip("sip:a", "sip:b", headers=bad([("X", 1)])), "Sip.headers"),
        (lambda: Sip("sip:a", "sip:b", headers=bad(5)), "Sip.headers"),
        (lambda: PayParameter("a", bad(5)), "PayParameter.value"),
        (lambda: media_to_wire(bad("hello")), "media"),
        (lambda: media_to_wire([bad(Phone("+1555", "+1556"))]), "media item"),
        (lambda: media_to_wire([{"type": 3}]), "'type'"),
        (lambda: media_to_wire([{"type": "tts", "params": "hi"}]), "'params'"),
        (lambda: detect_to_wire(bad(TapAudio())), "detect"),
        (lambda: tap_to_wire(bad(Audio("https://a"))), "tap"),
        (lambda: record_audio_to_wire(bad(["beep"])), "record audio"),
        (lambda: collect_to_wire(digits=bad(Speech())), "collect digits"),
        (lambda: collect_config_to_wire(bad("digits")), "collect"),
    ],
)
def test_type_errors_name_the_field(make: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        make()


def test_missing_required_argument_is_pythons_type_error() -> None:
    with pytest.raises(TypeError, match="to_number"):
        Phone(from_number="+15551230000")  # type: ignore[call-arg]


def test_every_listed_ringtone_is_accepted() -> None:
    assert len(RINGTONES) == 39
    for code in RINGTONES:
        assert media_to_wire(Ringtone(code)) == [{"type": "ringtone", "params": {"name": code}}]


# --- properties ----------------------------------------------------------------------


def _outcome(make: Any) -> Any:
    try:
        return make()
    except (ValueError, TypeError) as exc:
        return type(exc)


@given(st.text())
def test_tts_builder_equals_flat_dict(text: str) -> None:
    built = _outcome(lambda: media_to_wire([Tts(text=text)]))
    flat = _outcome(lambda: media_to_wire([{"type": "tts", "text": text}]))
    assert built == flat
    if text:
        assert built == [{"type": "tts", "params": {"text": text}}]


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_silence_builder_equals_nested_dict(duration: float) -> None:
    built = _outcome(lambda: media_to_wire(Silence(duration)))
    nested = _outcome(lambda: media_to_wire({"type": "silence", "params": {"duration": duration}}))
    assert built == nested


MODEL_LAYER = (
    "_models",
    "_media_builders",
    "_device_builders",
    "_input_builders",
    "_pay_builders",
    "_field_rules",
    "_wire_shape",
)


@pytest.mark.parametrize("name", MODEL_LAYER)
def test_model_layer_imports_only_attrs_cattrs_and_the_stdlib(name: str) -> None:
    import ast

    import signalwire_relay_trio

    path = Path(signalwire_relay_trio.__file__).parent / f"{name}.py"
    tree = ast.parse(path.read_text())
    outside = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    inside = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level
    }
    assert outside <= {"__future__", "attrs", "cattrs", "collections", "math", "typing"}
    assert inside <= {*MODEL_LAYER, "_convert"}
