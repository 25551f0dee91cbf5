"""Long-running call operations of the fake server, driven by a raw client.

Every test runs on the autojump clock over a memory stream, so durations
are checked exactly on trio's clock and cost no wall time. Leaving
``fake_server`` asserts that the fake recorded no internal error.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from fakeclient import (
    JSON,
    RawClient,
    answered_call,
    connected_client_and_call,
    fake_server,
    fixture_replies,
    fixture_request,
    normalize,
    raw_client,
)

from signalwire_relay_trio.testing import FakeCall, FakeOperation, FakeTimings

NOT_FOUND = {"code": "404", "message": "Operation not found"}
TTS = {"type": "tts", "params": {"text": "Hello"}}
RTP = {"type": "rtp", "params": {"addr": "203.0.113.10", "port": 5004}}


def silence(seconds: float) -> JSON:
    return {"type": "silence", "params": {"duration": seconds}}


def since(t0: float) -> float:
    return round(trio.current_time() - t0, 6)


async def inner(client: RawClient, event_type: str) -> JSON:
    """The inner params of the next event of ``event_type``."""
    params: JSON = (await client.event(event_type))["params"]
    return params


async def command(client: RawClient, method: str, call: FakeCall, **params: Any) -> JSON:
    return await client.command(method, call, **params)


def without_message(result: JSON) -> JSON:
    return {key: value for key, value in result.items() if key != "message"}


# -- ordering and controls ----------------------------------------------------------


async def test_the_first_event_follows_the_ack(autojump_clock: trio.testing.MockClock) -> None:
    tap = {"type": "audio", "params": {"direction": "both"}}
    device = {"type": "ws", "params": {"uri": "wss://tap.example.com"}}
    collect = {"digits": {"max": 1}}
    # method, params, first event type, events sent on .stop
    starts: list[tuple[str, JSON, str, int]] = [
        ("calling.play", {"play": [TTS]}, "calling.call.play", 1),
        ("calling.record", {"record": {"audio": {}}}, "calling.call.record", 1),
        ("calling.play_and_collect", {"play": [TTS], "collect": collect}, "calling.call.play", 2),
        ("calling.tap", {"tap": tap, "device": device}, "calling.call.tap", 1),
        ("calling.stream", {"url": "wss://example.com/s"}, "calling.call.stream", 1),
        ("calling.pay", {"payment_connector_url": "https://p.example.com"}, "calling.call.pay", 1),
        ("calling.transcribe", {}, "calling.call.transcribe", 1),
    ]
    with trio.fail_after(30):
        async with answered_call() as (fake, client, call):
            for number, (method, params, event_type, on_stop) in enumerate(starts):
                assert not client.inbox
                control_id = f"c{number}"
                frame_id = f"req-{number}"
                request = {"node_id": call.node_id, "call_id": call.call_id, **params}
                await client.send(
                    {
                        "jsonrpc": "2.0",
                        "id": frame_id,
                        "method": method,
                        "params": {**request, "control_id": control_id},
                    }
                )
                reply = await client.next()
                assert reply["id"] == frame_id and reply["result"]["code"] == "200", reply
                assert reply["result"]["control_id"] == control_id
                event = await client.next()
                assert event["method"] == "signalwire.event"
                assert event["params"]["params"]["control_id"] == control_id
                assert event["params"]["event_type"] == event_type
                assert trio.current_time() == reply_time(fake, frame_id)
                await command(client, f"{method}.stop", call, control_id=control_id)
                await client.events(on_stop)
                await client.nothing_more(0.5)


def reply_time(fake: Any, frame_id: str) -> float:
    (entry,) = [e for e in fake.journal if e.id == frame_id]
    time: float = entry.time
    return time


async def test_controls_of_unknown_finished_or_other_operations_are_404(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with answered_call() as (_fake, client, call):
            for method in ("calling.play.stop", "calling.record.pause", "calling.collect.stop"):
                assert await command(client, method, call, control_id="nope") == NOT_FOUND
            await command(client, "calling.play", call, control_id="p", play=[silence(1)])
            assert await command(client, "calling.record.stop", call, control_id="p") == NOT_FOUND
            result = await command(client, "calling.play.volume", call, control_id="p")
            assert result["code"] == "400"  # volume is required
            result = await command(client, "calling.play.stop", call)
            assert result["code"] == "400"  # control_id is required
            result = await command(client, "calling.play", call, control_id="p", play=[TTS])
            assert result["code"] == "409"  # still playing under that control_id
            await inner(client, "calling.call.play")
            assert (await inner(client, "calling.call.play"))["state"] == "finished"
            assert await command(client, "calling.play.stop", call, control_id="p") == NOT_FOUND
            result = await command(client, "calling.play", call, control_id="p", play=[TTS])
            assert result["code"] == "200"  # a finished control_id may be reused


# -- play ---------------------------------------------------------------------------


async def test_play_lifecycle_matches_fixture_and_freezes_while_paused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (fake, client, call):
            params = fixture_request("play-lifecycle.json", "calling.play")
            control_id = params["control_id"]
            t0 = trio.current_time()
            ours = [await command(client, "calling.play", call, **params)]
            ours.append(await client.event("calling.call.play"))
            assert since(t0) == 0
            op = call.operations[control_id]
            assert isinstance(op, FakeOperation)
            assert (op.kind, op.state, op.volume, op.done) == ("play", "playing", 0.0, False)
            await trio.sleep(1)
            ours.append(await command(client, "calling.play.pause", call, control_id=control_id))
            ours.append(await client.event("calling.call.play"))
            assert op.paused and op.state == "paused"
            await trio.sleep(10)
            ours.append(await command(client, "calling.play.resume", call, control_id=control_id))
            ours.append(await client.event("calling.call.play"))
            assert not call.operations[control_id].paused  # (a fresh read for mypy)
            volume = {"control_id": control_id, "volume": -4.0}
            ours.append(await command(client, "calling.play.volume", call, **volume))
            assert op.volume == -4.0
            ours.append(await client.event("calling.call.play"))
            # 32 characters of TTS, 1 s of silence and 3 s of audio, plus 10 s paused.
            assert since(t0) == pytest.approx(32 * 0.06 + 1 + 3 + 10)
            assert normalize(ours) == normalize(fixture_replies("play-lifecycle.json"))
            assert (op.state, op.done, op.stopped_by) == ("finished", True, None)
            assert [e["state"] for e in op.events] == ["playing", "paused", "playing", "finished"]
            assert fake.internal_errors == []


async def test_play_durations_loops_and_scripted_audio(
    autojump_clock: trio.testing.MockClock,
) -> None:
    url = "https://cdn.example.com/long.mp3"
    cases: list[tuple[JSON, float]] = [
        ({"play": [{"type": "audio", "params": {"url": url}}]}, 7.5),
        ({"play": [{"type": "audio", "params": {"url": "https://x.example.com/a.mp3"}}]}, 3.0),
        ({"play": [{"type": "tts", "params": {"text": "Hi"}}]}, 2.0),
        ({"play": [{"type": "ringtone", "params": {"name": "us"}}]}, 3.0),
        ({"play": [{"type": "ringtone", "params": {"name": "us", "duration": 1.5}}]}, 1.5),
        ({"play": [silence(1), silence(0.5)], "loop": 2}, 3.0),
    ]
    with trio.fail_after(900):
        async with answered_call() as (fake, client, call):
            fake.audio_durations[url] = 7.5
            fake.timings.tts_min = 2.0
            for number, (params, seconds) in enumerate(cases):
                t0 = trio.current_time()
                await command(client, "calling.play", call, control_id=f"p{number}", **params)
                assert (await inner(client, "calling.call.play"))["state"] == "playing"
                assert (await inner(client, "calling.call.play"))["state"] == "finished"
                assert since(t0) == pytest.approx(seconds), params
            # loop 0 plays until stopped
            await command(client, "calling.play", call, control_id="forever", play=[TTS], loop=0)
            await inner(client, "calling.call.play")
            await client.nothing_more(600)
            await command(client, "calling.play.stop", call, control_id="forever")
            assert (await inner(client, "calling.call.play"))["state"] == "finished"
            op = call.operations["forever"]
            assert (op.done, op.stopped_by) == (True, "stop")
    assert FakeTimings().tts_min == 0.5  # other fakes keep the defaults


async def test_play_stop_matches_fixture_and_bad_media_is_rejected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with answered_call() as (fake, client, call):
            params = fixture_request("play-stop.json", "calling.play")
            control_id = params["control_id"]
            ours = [await command(client, "calling.play", call, **params)]
            ours.append(await client.event("calling.call.play"))
            await trio.sleep(1)
            ours.append(await command(client, "calling.play.stop", call, control_id=control_id))
            ours.append(await client.event("calling.call.play"))
            expected = fixture_replies("play-stop.json")
            assert normalize(ours) == normalize(expected)
            bad_media: list[Any] = [
                [{"type": "video", "params": {"url": "x"}}],
                [{"type": "audio", "params": {}}],
                [{"type": "tts", "params": {"text": 5}}],
                [{"type": "silence", "params": {}}],
                [{"type": "tts", "params": ["flat"]}],
                [{"type": "tts", "text": 5}],  # flat, and text is not a string
                [{"type": "audio"}],  # flat, with no url
                [],
            ]
            for number, play in enumerate(bad_media):
                result = await command(
                    client, "calling.play", call, control_id=f"b{number}", play=play
                )
                assert result["code"] == "400", play
            result = await command(
                client, "calling.play", call, control_id="b", play=[TTS], loop=-1
            )
            assert result["code"] == "400"
            result = await command(client, "calling.play", call, control_id="b")
            assert result["code"] == "400"  # no play at all
            fake.broken_urls.add("https://cdn.example.com/broken.mp3")
            broken = [
                TTS,
                {"type": "audio", "params": {"url": "https://cdn.example.com/broken.mp3"}},
            ]
            t0 = trio.current_time()
            await command(client, "calling.play", call, control_id="e", play=broken)
            assert (await inner(client, "calling.call.play"))["state"] == "playing"
            assert (await inner(client, "calling.call.play"))["state"] == "error"
            assert since(t0) == 0.5 and call.operations["e"].state == "error"
            await client.nothing_more(1)


# -- record -------------------------------------------------------------------------


async def test_record_lifecycle_matches_fixture_shapes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script["caller_speaks_for"] = 600  # keep talking: only .stop ends it
            params = fixture_request("record-lifecycle.json", "calling.record")
            control_id = params["control_id"]
            url = f"https://fake-relay.invalid/recordings/{control_id}.mp3"
            ours = [await command(client, "calling.record", call, **params)]
            ours.append(await client.event("calling.call.record"))
            op = call.operations[control_id]
            await trio.sleep(2)
            pause = {"control_id": control_id, "behavior": "silence"}
            ours.append(await command(client, "calling.record.pause", call, **pause))
            ours.append(await client.event("calling.call.record"))
            assert (op.paused, op.pause_behavior, op.state) == (True, "silence", "paused")
            await trio.sleep(3)
            ours.append(await command(client, "calling.record.resume", call, control_id=control_id))
            ours.append(await client.event("calling.call.record"))
            await trio.sleep(3)
            ours.append(await command(client, "calling.record.stop", call, control_id=control_id))
            ours.append(await client.event("calling.call.record"))
            expected = fixture_replies("record-lifecycle.json")
            assert ours[0] == {
                "code": "200",
                "message": "Recording",
                "call_id": call.call_id,
                "control_id": control_id,
                "url": url,
            }
            for mine, theirs in zip(ours, expected, strict=True):
                assert set(mine) == set(theirs)
                if "params" in mine:
                    assert set(mine["params"]) == set(theirs["params"])
                    assert mine["params"]["record"] == theirs["params"]["record"]
                    assert mine["params"]["url"] == url
            states = [m["params"]["state"] for m in ours if "params" in m]
            assert states == ["recording", "paused", "recording", "finished"]
            finished = ours[-1]["params"]
            assert (finished["duration"], finished["size"]) == (8.0, 128000)  # silence counts
            assert finished["end_time"] - finished["start_time"] == pytest.approx(8.0)
            assert (op.state, op.done, op.stopped_by) == ("finished", True, "stop")


async def test_record_pause_skip_excludes_the_paused_span(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script["recording_url"] = "https://rec.example.com/r.wav"
            result = await command(client, "calling.record", call, control_id="r", record={})
            assert result["url"] == "https://rec.example.com/r.wav"
            assert (await inner(client, "calling.call.record"))["record"] == {
                "audio": {"format": "mp3", "direction": "speak", "stereo": False}
            }
            await trio.sleep(2)
            await command(client, "calling.record.pause", call, control_id="r", behavior="skip")
            paused = await inner(client, "calling.call.record")
            assert paused["pause_behavior"] == "skip"
            result = await command(
                client, "calling.record.pause", call, control_id="r", behavior="x"
            )
            assert result["code"] == "400"
            await trio.sleep(5)
            await command(client, "calling.record.resume", call, control_id="r")
            await inner(client, "calling.call.record")
            await trio.sleep(3)
            await command(client, "calling.record.stop", call, control_id="r")
            finished = await inner(client, "calling.call.record")
            assert (finished["state"], finished["duration"], finished["size"]) == (
                "finished",
                5.0,
                80000,
            )
            assert finished["url"] == "https://rec.example.com/r.wav"


async def test_record_ends_by_silence_no_input_or_terminator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            t0 = trio.current_time()
            record = {"audio": {"end_silence_timeout": 2.0, "format": "wav"}}
            await command(client, "calling.record", call, control_id="a", record=record)
            await inner(client, "calling.call.record")
            finished = await inner(client, "calling.call.record")
            assert since(t0) == 5.0  # the caller talks 3 s, then 2 s of silence
            assert (finished["state"], finished["duration"]) == ("finished", 5.0)
            assert finished["url"].endswith("/a.wav")

            call.script["caller_speaks_for"] = 0
            t0 = trio.current_time()
            record = {"audio": {"initial_timeout": 4.0, "end_silence_timeout": 2.0}}
            await command(client, "calling.record", call, control_id="b", record=record)
            await inner(client, "calling.call.record")
            no_input = await inner(client, "calling.call.record")
            assert since(t0) == 4.0
            assert {"state", "url", "duration", "size", "record"} <= set(no_input)
            assert (no_input["state"], call.operations["b"].state) == ("no_input", "no_input")

            t0 = trio.current_time()
            record = {"audio": {"terminators": "#*"}}
            await command(client, "calling.record", call, control_id="c", record=record)
            await inner(client, "calling.call.record")
            await trio.sleep(1.5)
            await call.press("1")  # not a terminator: nobody takes it
            assert call.pending_input == [("digit", "1")]
            await client.nothing_more(10)
            await call.press("*")
            finished = await inner(client, "calling.call.record")
            assert (finished["state"], finished["duration"]) == ("finished", 11.5)
            assert since(t0) == 11.5 and call.pending_input == [("digit", "1")]
            with pytest.raises(ValueError, match="not DTMF"):
                await call.press("1x")


async def test_hangup_finalises_recordings_between_ending_and_ended(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("record-stopped-by-hangup.json", "calling.record")
            control_id = params["control_id"]
            call.script["caller_speaks_for"] = 600
            await command(client, "calling.record", call, **params)
            await command(client, "calling.transcribe", call, control_id="t")
            await command(client, "calling.play", call, control_id="p", play=[silence(60)])
            await client.events(3)
            await trio.sleep(14.2)
            await call.hangup()
            events = [await client.event() for _ in range(4)]
            kinds = [
                (e["event_type"], e["params"].get("call_state") or e["params"]["state"])
                for e in events
            ]
            assert kinds == [
                ("calling.call.state", "ending"),
                ("calling.call.record", "finished"),
                ("calling.call.transcribe", "finished"),
                ("calling.call.state", "ended"),
            ]
            record = events[1]["params"]
            expected = fixture_replies("record-stopped-by-hangup.json")[3]["params"]
            assert set(record) == set(expected)
            assert (record["duration"], record["size"]) == (14.2, 227200)
            assert events[2]["params"]["duration"] == 14.2
            await client.nothing_more(1)  # the play ends silently: the client uses `ended`
            for op in call.operations.values():
                assert (op.done, op.stopped_by) == (True, "hangup")
            assert call.operations["p"].state == "ended"
            assert call.operations[control_id].state == "finished"
            result = await command(client, "calling.record.stop", call, control_id=control_id)
            assert result["code"] == "410"


async def test_hangup_without_record_finalisation(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script["record_finalize_on_hangup"] = False
            await command(client, "calling.record", call, control_id="r", record={"audio": {}})
            await command(client, "calling.transcribe", call, control_id="t")
            await client.events(2)
            await call.hangup()
            ending, ended = await client.events(2)
            assert [ending["params"]["call_state"], ended["params"]["call_state"]] == [
                "ending",
                "ended",
            ]
            await client.nothing_more(1)
            assert all(op.stopped_by == "hangup" and op.done for op in call.operations.values())


# -- collect and play_and_collect ---------------------------------------------------


async def test_play_and_collect_digits_matches_fixture(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("play-and-collect-digits.json", "calling.play_and_collect")
            t0 = trio.current_time()
            ours = [await command(client, "calling.play_and_collect", call, **params)]
            ours.append(await client.event("calling.call.play"))
            ours.append(await client.event("calling.call.play"))
            assert since(t0) == pytest.approx(44 * 0.06)  # the whole prompt played
            op = call.operations[params["control_id"]]
            assert (op.kind, op.state) == ("play_and_collect", "collecting")
            await trio.sleep(1)
            await call.press("4821#")
            ours.append(await client.event("calling.call.collect"))
            assert normalize(ours) == normalize(fixture_replies("play-and-collect-digits.json"))
            assert (op.state, op.done, op.stopped_by) == ("digit", True, None)
            await client.nothing_more(10)


async def test_input_during_the_prompt_cuts_it_short(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            prompt = [{"type": "audio", "params": {"url": "https://x.example.com/p.mp3"}}]
            collect = {"digits": {"max": 2}, "send_start_of_input": True}
            t0 = trio.current_time()
            await command(
                client,
                "calling.play_and_collect",
                call,
                control_id="q",
                play=prompt,
                collect=collect,
            )
            await inner(client, "calling.call.play")
            await trio.sleep(1)
            await call.press("1")
            assert (await inner(client, "calling.call.play"))["state"] == "finished"
            start = await inner(client, "calling.call.collect")
            assert start["result"] == {"type": "start_of_input"} and since(t0) == 1
            await call.press("23")
            result = await inner(client, "calling.call.collect")
            assert result["result"] == {
                "type": "digit",
                "params": {"digits": "12", "terminator": ""},
            }
            assert call.pending_input == [("digit", "3")]  # max reached: type-ahead for later


async def test_collect_digits_end_on_max_terminator_or_digit_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cases: list[tuple[JSON, str, JSON, float]] = [
        ({"max": 3}, "123", {"digits": "123", "terminator": ""}, 0),
        ({"max": 8, "terminators": "#*"}, "45*", {"digits": "45", "terminator": "*"}, 0),
        ({"max": 8, "digit_timeout": 2.0}, "7", {"digits": "7", "terminator": ""}, 2.0),
        ({"max": 8}, "98", {"digits": "98", "terminator": ""}, 3.0),
    ]
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            for number, (digits, pressed, expected, seconds) in enumerate(cases):
                await command(
                    client, "calling.collect", call, control_id=f"c{number}", digits=digits
                )
                t0 = trio.current_time()
                await call.press(pressed)
                result = await inner(client, "calling.call.collect")
                assert result["result"] == {"type": "digit", "params": expected}
                assert since(t0) == seconds
                assert set(result) == {"node_id", "call_id", "control_id", "result"}
            bad_configs: list[JSON] = [{}, {"digits": {}}, {"digits": {"max": 0}}, {"speech": "x"}]
            for bad in bad_configs:
                result = await command(client, "calling.collect", call, control_id="bad", **bad)
                assert result["code"] == "400", bad


async def test_no_input_and_held_timers(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(600):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("collect-no-input.json", "calling.collect")
            control_id = params["control_id"]
            ours = [await command(client, "calling.collect", call, **params)]
            await client.nothing_more(100)  # timers held: no no_input
            t0 = trio.current_time()
            start = {"control_id": control_id}
            ours.append(await command(client, "calling.collect.start_input_timers", call, **start))
            ours.append(await client.event("calling.call.collect"))
            assert since(t0) == 4.0
            assert normalize(ours) == normalize(fixture_replies("collect-no-input.json"))
            assert call.operations[control_id].state == "no_input"

            t0 = trio.current_time()
            await command(client, "calling.collect", call, control_id="d", digits={"max": 1})
            no_input = await inner(client, "calling.call.collect")
            assert no_input["result"] == {"type": "no_input"} and since(t0) == 5.0

            # play_and_collect: the timer starts after the prompt, also when held
            t0 = trio.current_time()
            collect: JSON = {"initial_timeout": 1.0, "digits": {"max": 1}}
            pac: JSON = {"play": [silence(2)], "collect": collect}
            await command(client, "calling.play_and_collect", call, control_id="q1", **pac)
            await client.events(2, "calling.call.play")
            no_input = await inner(client, "calling.call.collect")
            assert no_input["result"] == {"type": "no_input"} and since(t0) == 3.0
            held = {**pac, "collect": {**collect, "start_input_timers": False}}
            await command(client, "calling.play_and_collect", call, control_id="q2", **held)
            await client.events(2, "calling.call.play")
            await client.nothing_more(50)
            t0 = trio.current_time()
            start = {"control_id": "q2"}
            result = await command(client, "calling.collect.start_input_timers", call, **start)
            assert result["code"] == "200"
            no_input = await inner(client, "calling.call.collect")
            assert no_input["result"] == {"type": "no_input"} and since(t0) == 1.0


async def test_type_ahead_feeds_the_next_collect(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            await call.press("12#3")
            await call.say("yes please")
            assert call.pending_input == [
                ("digit", "1"),
                ("digit", "2"),
                ("digit", "#"),
                ("digit", "3"),
                ("speech", "yes please"),
            ]
            digits = {"max": 5, "terminators": "#"}
            t0 = trio.current_time()
            await command(client, "calling.collect", call, control_id="a", digits=digits)
            first = await inner(client, "calling.call.collect")
            assert first["result"]["params"] == {"digits": "12", "terminator": "#"}
            assert since(t0) == 0
            pac = {"play": [silence(5)], "collect": {"digits": digits}}
            await command(client, "calling.play_and_collect", call, control_id="b", **pac)
            _playing, finished = await client.events(2, "calling.call.play")
            assert finished["params"]["state"] == "finished" and since(t0) == 0  # barge-in
            # "3" was taken; then speech reaches a digits-only collect: no_match
            assert (await inner(client, "calling.call.collect"))["result"] == {"type": "no_match"}
            assert call.operations["b"].state == "no_match"
            assert call.pending_input == []


async def test_speech_results_hints_and_wrong_kind(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            speech = {"hints": ["balance", "Agent"]}
            await command(client, "calling.collect", call, control_id="a", speech=speech)
            t0 = trio.current_time()
            await call.say("I want pizza")
            result = await inner(client, "calling.call.collect")
            assert result["result"] == {"type": "no_match"} and since(t0) == 0.05
            await command(client, "calling.collect", call, control_id="b", speech=speech)
            await call.say("talk to an agent please")
            result = await inner(client, "calling.call.collect")
            assert result["result"] == {
                "type": "speech",
                "params": {"text": "talk to an agent please", "confidence": 0.92},
            }
            await command(client, "calling.collect", call, control_id="c", speech={})
            await call.press("5")  # DTMF into a speech-only collect
            assert (await inner(client, "calling.call.collect"))["result"] == {"type": "no_match"}
            await command(client, "calling.collect", call, control_id="d", digits={"max": 2})
            await call.say("five")  # speech into a digits-only collect
            assert (await inner(client, "calling.call.collect"))["result"] == {"type": "no_match"}
            both = {"digits": {"max": 1}, "speech": {}}
            await command(client, "calling.collect", call, control_id="e", **both)
            await call.say("hello")
            assert (await inner(client, "calling.call.collect"))["result"]["type"] == "speech"


async def test_speech_with_start_of_input_and_partials_matches_fixture(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("collect-speech.json", "calling.collect")
            ack = await command(client, "calling.collect", call, **params)
            await trio.sleep(2)
            t0 = trio.current_time()
            await call.say("i'd like to check my balance")
            events = await client.events(4, "calling.call.collect")
            results = [e["params"] for e in events]
            assert results[0]["result"] == {"type": "start_of_input"} and "final" not in results[0]
            assert [r.get("final") for r in results] == [None, False, False, True]
            texts = [r["result"]["params"]["text"] for r in results[1:]]
            assert texts == ["i'd like to", "i'd like to check", "i'd like to check my balance"]
            assert results[3]["result"]["params"]["confidence"] == 0.92
            assert since(t0) == pytest.approx(0.15)
            expected = fixture_replies("collect-speech.json")
            assert normalize([ack])[0] == normalize(expected[:1])[0]
            assert normalize([events[0], events[3]])[0] == normalize(expected[1:2])[0]
            for mine, theirs in zip(results[1:], [e["params"] for e in expected[2:]], strict=False):
                assert set(mine) == set(theirs)
                assert mine["result"]["type"] == theirs["result"]["type"]


async def test_continuous_collect_goes_on_until_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(600):
        async with answered_call() as (_fake, client, call):
            config = {"digits": {"max": 2, "terminators": "#"}, "continuous": True}
            await command(client, "calling.collect", call, control_id="c", **config)
            await client.nothing_more(100)  # no no_input for a continuous collect
            await call.press("12")
            await call.press("3#")
            first, second = [e["params"] for e in await client.events(2, "calling.call.collect")]
            assert first["state"] == second["state"] == "collecting"
            assert first["result"]["params"] == {"digits": "12", "terminator": ""}
            assert second["result"]["params"] == {"digits": "3", "terminator": "#"}
            op = call.operations["c"]
            assert not op.done and op.state == "collecting"
            result = await command(client, "calling.collect.stop", call, control_id="c")
            assert result == {
                "code": "200",
                "message": "Stopping",
                "call_id": call.call_id,
                "control_id": "c",
            }
            final = await inner(client, "calling.call.collect")
            assert final == {
                "node_id": call.node_id,
                "call_id": call.call_id,
                "control_id": "c",
                "state": "finished",
            }
            assert (op.done, op.state, op.stopped_by) == (True, "finished", "stop")
            assert [e["result"]["type"] for e in op.events if "result" in e] == ["digit", "digit"]


async def test_stopping_collects(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            await command(client, "calling.collect", call, control_id="a", digits={"max": 1})
            await command(client, "calling.collect.stop", call, control_id="a")
            assert await inner(client, "calling.call.collect") == {
                "node_id": call.node_id,
                "call_id": call.call_id,
                "control_id": "a",
                "state": "finished",
            }
            pac = {"play": [silence(9)], "collect": {"speech": {}}, "volume": 2.0}
            await command(client, "calling.play_and_collect", call, control_id="b", **pac)
            await inner(client, "calling.call.play")
            op = call.operations["b"]
            assert op.volume == 2.0
            volume = {"control_id": "b", "volume": -3}
            assert (await command(client, "calling.play_and_collect.volume", call, **volume))[
                "code"
            ] == "200"
            assert op.volume == -3.0
            await trio.sleep(1)
            await command(client, "calling.play_and_collect.stop", call, control_id="b")
            assert (await inner(client, "calling.call.play"))["state"] == "finished"
            assert (await inner(client, "calling.call.collect"))["state"] == "finished"
            assert (op.done, op.stopped_by) == (True, "stop")
            result = await command(client, "calling.play_and_collect.stop", call, control_id="b")
            assert result == NOT_FOUND
            await client.nothing_more(20)


# -- detect, send_digits, tap, stream ---------------------------------------------------


async def test_detect_machine_script_matches_fixture(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script.update(detect=["MACHINE", "NOT_READY", "READY"], beep=True)
            params = fixture_request("detect-machine.json", "calling.detect")
            t0 = trio.current_time()
            ours: list[JSON] = [await command(client, "calling.detect", call, **params)]
            times = []
            for _ in range(4):
                ours.append(await client.event("calling.call.detect"))
                times.append(since(t0))
            assert times == [1.0, 2.0, 3.0, 3.05]
            assert normalize(ours) == normalize(fixture_replies("detect-machine.json"))
            op = call.operations[params["control_id"]]
            assert (op.kind, op.state, op.done) == ("detect", "finished", True)


async def test_detect_human_fax_and_timeouts(autojump_clock: trio.testing.MockClock) -> None:
    def event(envelope: JSON) -> str:
        value: str = envelope["params"]["detect"]["params"]["event"]
        return value

    with trio.fail_after(60):
        async with answered_call() as (fake, client, call):
            await command(
                client, "calling.detect", call, control_id="h", detect={"type": "machine"}
            )
            assert [event(e) for e in await client.events(2)] == ["HUMAN", "finished"]

            params = fixture_request("detect-fax.json", "calling.detect")
            ours = [await command(client, "calling.detect", call, **params)]
            ours += await client.events(2, "calling.call.detect")
            for envelope in ours[1:]:
                envelope["params"].pop("segment_id")  # the fax fixture has none
            assert normalize(ours) == normalize(fixture_replies("detect-fax.json"))

            call.script["fax_tone"] = "CNG"
            detect = {"type": "fax", "params": {"tone": "CED"}}
            await command(client, "calling.detect", call, control_id="f", detect=detect)
            assert [event(e) for e in await client.events(2)] == ["CNG", "finished"]

            call.script["detect"] = ["MACHINE", "NOT_READY", "READY"]
            fake.timings.detect_gap = 0.5
            t0 = trio.current_time()
            detect = {"type": "machine", "params": {}}
            await command(
                client, "calling.detect", call, control_id="m", detect=detect, timeout=1.2
            )
            assert [event(e) for e in await client.events(3)] == [
                "MACHINE",
                "NOT_READY",
                "finished",
            ]
            assert since(t0) == 1.2  # the timeout cut the script short

            for bad in (
                {},
                {"detect": {"type": "voice"}},
                {"detect": {"type": "fax"}, "timeout": "x"},
            ):
                result = await command(client, "calling.detect", call, control_id="x", **bad)
                assert result["code"] == "400", bad


async def test_detect_digits(autojump_clock: trio.testing.MockClock) -> None:
    def event(envelope: JSON) -> str:
        value: str = envelope["params"]["detect"]["params"]["event"]
        return value

    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            detect = {"type": "digit", "params": {"digits": "123#"}}
            t0 = trio.current_time()
            await command(client, "calling.detect", call, control_id="d", detect=detect, timeout=10)
            await trio.sleep(2)
            await call.press("19#")
            assert [event(e) for e in await client.events(2)] == ["1", "#"]
            assert call.pending_input == [("digit", "9")]  # not one the detector listens for
            assert event(await client.event("calling.call.detect")) == "finished"
            assert since(t0) == 10
            await command(client, "calling.detect", call, control_id="e", detect={"type": "digit"})
            await call.press("5")
            assert event(await client.event()) == "5"
            await command(client, "calling.detect.stop", call, control_id="e")
            assert event(await client.event()) == "finished"
            assert call.operations["e"].stopped_by == "stop"


async def test_send_digits_matches_fixture(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (fake, client, call):
            params = fixture_request("send-digits.json", "calling.send_digits")
            t0 = trio.current_time()
            ours = [await command(client, "calling.send_digits", call, **params)]
            ours.append(await client.event("calling.call.send_digits"))
            assert since(t0) == pytest.approx(0.6)  # six characters, 0.1 s each
            assert normalize(ours) == normalize(fixture_replies("send-digits.json"))
            fake.timings.send_digit_seconds = 1.0
            t0 = trio.current_time()
            await command(client, "calling.send_digits", call, control_id="s", digits="12")
            await client.event("calling.call.send_digits")
            assert since(t0) == 2.0
            for digits in ("", "12x", None):
                result = await command(
                    client, "calling.send_digits", call, control_id="b", digits=digits
                )
                assert result["code"] == "400"


async def test_tap_and_stream_match_fixtures(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(300):
        async with answered_call() as (_fake, client, call):
            for name, method in (("tap.json", "calling.tap"), ("stream.json", "calling.stream")):
                params = fixture_request(name, method)
                event_type = method.replace("calling.", "calling.call.")
                ours = [await command(client, method, call, **params)]
                ours.append(await client.event(event_type))
                await trio.sleep(30)
                stop = {"control_id": params["control_id"]}
                ours.append(await command(client, f"{method}.stop", call, **stop))
                ours.append(await client.event(event_type))
                expected = fixture_replies(name)
                mine, theirs = normalize(ours), normalize(expected)
                assert [mine[1], mine[3]] == [theirs[1], theirs[3]]  # the events, exactly
                assert without_message(mine[2]) == without_message(theirs[2])
                if method == "calling.tap":
                    assert ours[0]["source_device"] == {
                        "type": "rtp",
                        "params": {
                            "addr": "192.0.2.10",
                            "port": 30000,
                            "codec": "PCMU",
                            "ptime": 20,
                        },
                    }
                assert set(ours[0]) == set(expected[0])
            device = {"type": "rtp", "params": {"addr": "203.0.113.1", "port": 4000}}
            for bad in ({"device": device}, {"tap": {"type": "audio"}, "device": device}):
                result = await command(client, "calling.tap", call, control_id="x", **bad)
                assert result["code"] == "400", bad
            result = await command(client, "calling.stream", call, control_id="x")
            assert result["code"] == "400"


# -- fax, pay, transcribe, ai -----------------------------------------------------------


async def test_send_fax_pages_then_finished(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("fax-send.json", "calling.send_fax")
            t0 = trio.current_time()
            ours: list[JSON] = [await command(client, "calling.send_fax", call, **params)]
            times = []
            for _ in range(3):
                ours.append(await client.event("calling.call.fax"))
                times.append(since(t0))
            assert times == [2.0, 4.0, 4.0]
            expected = fixture_replies("fax-send.json")
            mine, theirs = normalize(ours), normalize(expected)
            assert mine[:3] == theirs[:3]
            finished = ours[3]["params"]["fax"]
            assert finished["type"] == "finished"
            assert set(finished["params"]) == set(expected[3]["params"]["fax"]["params"])
            assert finished["params"] == {
                "direction": "send",
                "identity": "+15551230000",
                "remote_identity": "+15559870001",
                "document": params["document"],
                "pages": 2,
                "success": True,
                "result": "0",
                "result_text": "",
                "format": "pdf",
            }
            result = await command(client, "calling.send_fax", call, control_id="x")
            assert result["code"] == "400"  # no document


async def test_receive_fax_failure_and_stop(autojump_clock: trio.testing.MockClock) -> None:
    def fax(envelope: JSON) -> JSON:
        value: JSON = envelope["params"]["fax"]
        return value

    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script.update(fax_pages=3, fax_success=False)
            result = await command(client, "calling.receive_fax", call, control_id="r")
            assert result["message"] and result["control_id"] == "r"
            events = [fax(e) for e in await client.events(4, "calling.call.fax")]
            assert [e["type"] for e in events] == ["page", "page", "page", "finished"]
            assert events[2]["params"] == {"direction": "receive", "number": 3}
            done = events[3]["params"]
            assert (done["success"], done["result"], done["pages"]) == (False, "1", 3)
            assert done["document"] == "https://fake-relay.invalid/faxes/r.pdf"
            assert (done["identity"], done["remote_identity"]) == ("+15551230000", "+15559870001")
            assert call.operations["r"].state == "error"
            document = {"document": "https://files.example.com/a.pdf"}
            await command(client, "calling.send_fax", call, control_id="s", **document)
            await trio.sleep(3)
            await command(client, "calling.send_fax.stop", call, control_id="s")
            page, error = [fax(e) for e in await client.events(2, "calling.call.fax")]
            assert page == {"type": "page", "params": {"direction": "send", "number": 1}}
            assert error["type"] == "error" and error["params"]["direction"] == "send"
            sent = call.operations["s"]
            assert (sent.state, sent.stopped_by) == ("error", "stop")
            await command(client, "calling.receive_fax", call, control_id="r2")
            await command(client, "calling.receive_fax.stop", call, control_id="r2")
            error = fax(await client.event("calling.call.fax"))
            assert error["type"] == "error" and error["params"]["pages"] == 0
            result = await command(client, "calling.receive_fax.stop", call, control_id="r2")
            assert result == NOT_FOUND


async def test_pay_success_matches_fixture_steps(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("pay.json", "calling.pay")
            t0 = trio.current_time()
            ours: list[JSON] = [await command(client, "calling.pay", call, **params)]
            times = []
            for _ in range(6):
                ours.append(await client.event("calling.call.pay"))
                times.append(since(t0))
            assert times == [0, 1, 2, 3, 4, 5]
            expected = fixture_replies("pay.json")
            steps = [e["params"].get("for") for e in ours[1:]]
            assert steps == [e["params"].get("for") for e in expected[1:-1]] + ["payment-completed"]
            for mine, theirs in zip(ours[1:-1], expected[1:-1], strict=True):
                assert set(theirs["params"]) <= set(mine["params"])
            final = ours[-1]["params"]
            assert set(expected[-1]["params"]) <= set(final)
            assert (final["state"], final["result"]) == ("finished", "success")
            assert final["payment_token"].startswith("tok_")
            assert call.operations[params["control_id"]].state == "finished"


async def test_pay_failure_stop_and_skipped_steps(autojump_clock: trio.testing.MockClock) -> None:
    def steps(events: list[JSON]) -> list[str]:
        return [e["params"]["for"] for e in events]

    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            call.script["pay_result"] = "too-many-failed-attempts"
            pay = {"payment_connector_url": "https://pay.example.com", "security_code": "false"}
            await command(client, "calling.pay", call, control_id="a", **pay)
            events = await client.events(5, "calling.call.pay")
            assert steps(events) == [
                "payment-card-number",
                "expiration-date",
                "postal-code",
                "payment-processing",
                "payment-failed",
            ]
            final = events[-1]["params"]
            assert (final["state"], final["result"]) == ("error", "too-many-failed-attempts")
            assert call.operations["a"].state == "error"

            await command(client, "calling.pay", call, control_id="b", **pay)
            await trio.sleep(1.5)
            result = await command(client, "calling.pay.stop", call, control_id="b")
            assert result["code"] == "200"
            events = await client.events(3, "calling.call.pay")
            assert steps(events) == ["payment-card-number", "expiration-date", "payment-canceled"]
            final = events[-1]["params"]
            assert (final["state"], final["result"]) == ("finished", "relay-pay-stop")
            await client.nothing_more(10)
            result = await command(client, "calling.pay", call, control_id="c")
            assert result["code"] == "400"  # no payment_connector_url


async def test_transcribe_matches_fixture_shapes(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(120):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("transcribe.json", "calling.transcribe")
            control_id = params["control_id"]
            ours = [await command(client, "calling.transcribe", call, **params)]
            ours.append(await client.event("calling.call.transcribe"))
            await trio.sleep(42.7)
            ours.append(
                await command(client, "calling.transcribe.stop", call, control_id=control_id)
            )
            ours.append(await client.event("calling.call.transcribe"))
            expected = fixture_replies("transcribe.json")
            mine, theirs = normalize(ours), normalize(expected)
            assert mine[1] == theirs[1]
            assert without_message(mine[0]) == without_message(theirs[0])
            assert set(ours[3]["params"]) == set(expected[3]["params"])
            finished = ours[3]["params"]
            assert (finished["state"], finished["duration"], finished["size"]) == (
                "finished",
                42.7,
                683200,
            )


async def test_ai_sends_no_events(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(300):
        async with answered_call() as (_fake, client, call):
            params = fixture_request("ai.json", "calling.ai")
            control_id = params["control_id"]
            replies = [await command(client, "calling.ai", call, **params)]
            message = fixture_request("ai.json", "calling.ai_message")
            replies.append(await command(client, "calling.ai_message", call, **message))
            for method in ("calling.ai_hold", "calling.ai_unhold"):
                assert (await command(client, method, call, timeout="10"))["code"] == "200"
            op = call.operations[control_id]
            assert (op.kind, op.state, op.done) == ("ai", "running", False)
            await client.nothing_more(60)
            replies.append(await command(client, "calling.ai.stop", call, control_id=control_id))
            expected = fixture_replies("ai.json")
            assert [without_message(r) for r in normalize(replies)] == [
                without_message(r) for r in normalize(expected)
            ]
            assert (op.done, op.stopped_by, op.state) == (True, "stop", "finished")
            assert (
                await command(client, "calling.ai.stop", call, control_id=control_id) == NOT_FOUND
            )
            await client.nothing_more(1)


# -- hang-up and transfer ------------------------------------------------------------------


async def test_hangup_stops_every_operation_silently(
    autojump_clock: trio.testing.MockClock,
) -> None:
    starts: list[tuple[str, JSON]] = [
        ("calling.play", {"play": [silence(100)]}),
        ("calling.collect", {"digits": {"max": 4}, "start_input_timers": False}),
        ("calling.play_and_collect", {"play": [silence(100)], "collect": {"speech": {}}}),
        ("calling.detect", {"detect": {"type": "digit"}}),
        ("calling.tap", {"tap": {"type": "audio", "params": {}}, "device": RTP}),
        ("calling.stream", {"url": "wss://s.example.com"}),
        ("calling.send_fax", {"document": "https://f.example.com/a.pdf"}),
        ("calling.pay", {"payment_connector_url": "https://p.example.com"}),
        ("calling.ai", {}),
        ("calling.send_digits", {"digits": "1" * 100}),
    ]
    with trio.fail_after(600):
        async with answered_call() as (_fake, client, call):
            for number, (method, params) in enumerate(starts):
                result = await command(client, method, call, control_id=f"o{number}", **params)
                assert result["code"] == "200", method
            await trio.sleep(0.5)  # between two pay steps
            client.inbox.clear()
            await client.request("signalwire.ping", {})  # drain what is in flight
            client.inbox.clear()
            await call.hangup()
            ending, ended = await client.events(2)
            assert [ending["params"]["call_state"], ended["params"]["call_state"]] == [
                "ending",
                "ended",
            ]
            await client.nothing_more(200)
            kinds = sorted(op.kind for op in call.operations.values())
            assert len(kinds) == len(starts)
            for op in call.operations.values():
                assert (op.done, op.stopped_by, op.state) == (True, "hangup", "ended"), op


async def test_our_own_hangup_also_finalises_recordings(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            await command(client, "calling.record", call, control_id="r", record={})
            await inner(client, "calling.call.record")
            await trio.sleep(2)
            await command(client, "calling.end", call, reason="hangup")
            events = await client.events(3)
            assert [e["event_type"] for e in events] == [
                "calling.call.state",
                "calling.call.record",
                "calling.call.state",
            ]
            assert events[1]["params"]["duration"] == 2.0


async def test_transfer_hands_the_call_away(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(300):
        async with answered_call() as (_fake, client, call):
            await command(client, "calling.play", call, control_id="p", play=[silence(50)])
            await inner(client, "calling.call.play")
            result = await command(client, "calling.transfer", call, dest="support")
            assert result == {"code": "200", "message": "Transferring", "call_id": call.call_id}
            assert call.transferred_to == "support" and call.session is None
            op = call.operations["p"]
            assert (op.done, op.stopped_by) == (True, "transfer")
            await call.hangup()
            await client.nothing_more(60)
            result = await command(client, "calling.transfer", call)
            assert result["code"] == "410"


# -- non-action commands -------------------------------------------------------------------


async def test_hold_denoise_and_refer_match_fixtures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            for name, methods, event_count in (
                ("hold.json", ("calling.hold", "calling.unhold"), 1),
                ("denoise.json", ("calling.denoise", "calling.denoise.stop"), 1),
                ("refer.json", ("calling.refer",), 2),
            ):
                ours: list[JSON] = []
                for method in methods:
                    ours.append(
                        await command(client, method, call, **fixture_request(name, method))
                    )
                    ours += await client.events(event_count)
                    if method == "calling.hold":
                        assert call.held
                    if method == "calling.denoise":
                        assert call.denoised
                assert normalize(ours) == normalize(fixture_replies(name)), name
            assert not call.held and not call.denoised
            result = await command(client, "calling.echo", call)
            assert result["code"] == "200"
            echo = await inner(client, "calling.call.echo")
            assert echo == {"node_id": call.node_id, "call_id": call.call_id, "state": "echoing"}
            call.script["refer_state"] = "busy"
            device = {"type": "sip", "params": {"uri": "sip:a@pbx.example.com"}}
            await command(client, "calling.refer", call, device=device)
            states = [e["params"]["state"] for e in await client.events(2, "calling.call.refer")]
            assert states == ["inProgress", "busy"]
            result = await command(client, "calling.refer", call, device={"type": "sip"})
            assert result["code"] == "400"


async def test_connect_bridge_matches_fixture(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (fake, client, call):
            params = fixture_request("connect-bridge-sequence.json", "calling.connect")
            t0 = trio.current_time()
            ours: list[JSON] = [await command(client, "calling.connect", call, **params)]
            ours += await client.events(5)
            assert since(t0) == 1.0  # the default ring time
            leg = call.peer
            assert leg is not None and leg.peer is call and leg.tag == params["tag"]
            assert fake.calls[leg.call_id] is leg and leg.state == "answered"
            await trio.sleep(30)
            await leg.hangup()
            ours += await client.events(3)
            assert normalize(ours) == normalize(fixture_replies("connect-bridge-sequence.json"))
            assert call.peer is None and call.state == "answered"


def peer_of(call: FakeCall) -> FakeCall:
    assert call.peer is not None
    return call.peer


async def test_connect_failure_disconnect_and_caller_hangup(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def connect_states(events: list[JSON]) -> list[str]:
        return [
            e["params"]["connect_state"]
            for e in events
            if e["event_type"] == "calling.call.connect"
        ]

    with trio.fail_after(120):
        async with answered_call() as (fake, client, call):
            params = fixture_request("connect-failed.json", "calling.connect")
            fake.set_dial_outcome("+15553330000", "no_answer", ring_time=30)
            t0 = trio.current_time()
            ack = await command(client, "calling.connect", call, **params)
            events = await client.events(5)  # connecting, leg created/ringing/ended, failed
            assert connect_states(events) == ["connecting", "failed"]
            assert since(t0) == 30
            mine = [ack, *[e for e in events if e["event_type"] == "calling.call.connect"]]
            assert normalize(mine) == normalize(fixture_replies("connect-failed.json"))
            assert call.peer is None

            devices = [[{"type": "phone", "params": {"to_number": "+15554440000"}}]]
            await command(client, "calling.connect", call, devices=devices, tag="t2")
            events = await client.events(5)
            assert connect_states(events) == ["connecting", "connected"]
            leg = peer_of(call)
            result = await command(client, "calling.connect", call, devices=devices)
            assert result["code"] == "409"
            result = await command(client, "calling.disconnect", call)
            assert result["code"] == "200"
            disconnected = await inner(client, "calling.call.connect")
            assert disconnected["connect_state"] == "disconnected"
            assert disconnected["peer"]["call_id"] == leg.call_id
            assert call.peer is None and leg.peer is None and not leg.ended
            assert (await command(client, "calling.disconnect", call))["code"] == "400"

            await command(client, "calling.connect", call, devices=devices, tag="t3")
            await client.events(5)
            leg = peer_of(call)
            await call.hangup()
            events = await client.events(4)
            assert [(e["params"]["call_id"], e["params"]["call_state"]) for e in events] == [
                (call.call_id, "ending"),
                (call.call_id, "ended"),
                (leg.call_id, "ending"),
                (leg.call_id, "ended"),
            ]
            await client.nothing_more(5)


async def test_queue_enter_leave_and_dequeue(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (fake, client, call):
            enter = fixture_request("queue.json", "calling.queue.enter")
            ours = [await command(client, "calling.queue.enter", call, **enter)]
            ours.append(await client.event("calling.call.queue"))
            entry_id = ours[1]["params"]["id"]
            assert fake.queues["support"] == [call]
            await trio.sleep(31)
            leave = {**fixture_request("queue.json", "calling.queue.leave"), "queue_id": entry_id}
            ours.append(await command(client, "calling.queue.leave", call, **leave))
            ours.append(await client.event("calling.call.queue"))
            expected = fixture_replies("queue.json")
            mine, theirs = normalize(ours), normalize(expected)
            assert [without_message(r) for r in (mine[0], mine[2])] == [
                without_message(r) for r in (theirs[0], theirs[2])
            ]
            for number in (1, 3):
                envelope, fixture_envelope = ours[number], expected[number]
                assert set(envelope["params"]) == set(fixture_envelope["params"])
            enqueue, left = ours[1]["params"], ours[3]["params"]
            assert (enqueue["status"], left["status"], left["id"]) == ("enqueue", "leave", entry_id)
            assert (enqueue["position"], enqueue["size"], enqueue["leave_ts"]) == (1, 1, 0)
            assert left["leave_ts"] - left["enqueue_ts"] == pytest.approx(31_000_000, abs=10)
            assert fake.queues["support"] == []
            result = await command(client, "calling.queue.leave", call, **leave)
            assert result["code"] == "400"  # not in the queue; 404 would mean the call is gone

            await command(client, "calling.queue.enter", call, control_id="q2", queue_name="sales")
            await client.event("calling.call.queue")
            await call.dequeue()
            dequeued = await inner(client, "calling.call.queue")
            assert (dequeued["status"], dequeued["position"], dequeued["control_id"]) == (
                "dequeue",
                0,
                "q2",
            )
            assert dequeued["dequeue_ts"] > 0 and call.queue_entry is None
            with pytest.raises(AssertionError, match="not in a queue"):
                await call.dequeue()
            result = await command(client, "calling.queue.enter", call, control_id="q3")
            assert result["code"] == "400"  # no queue_name


async def test_conference_join_and_leave(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with fake_server() as fake, raw_client(fake, memory=True) as client:
            first, _ = await connected_client_and_call(fake, client)
            second = await fake.inbound_call()
            await client.event("calling.call.receive")
            join = fixture_request("conference.json", "calling.join_conference")
            ours = [await command(client, "calling.join_conference", first, **join)]
            start = await client.event("calling.conference")
            assert start["params"]["status"] == "conference-start"
            assert "call_id" not in start["params"]  # about the conference, not a participant
            ours.append(await client.event("calling.conference"))
            other = await command(client, "calling.join_conference", second, name=join["name"])
            assert other["conference_id"] == ours[0]["conference_id"]
            joined = await inner(client, "calling.conference")
            assert (joined["size"], joined["call_id"]) == (2, second.call_id)
            conference_id = ours[0]["conference_id"]
            leave = {"conference_id": conference_id}
            ours.append(await command(client, "calling.leave_conference", first, **leave))
            ours.append(await client.event("calling.conference"))
            expected = fixture_replies("conference.json")
            mine, theirs = normalize(ours), normalize(expected)
            for number in (1, 3):  # the fixture's conference had other participants
                mine[number]["params"].pop("size")
                theirs[number]["params"].pop("size")
                mine[number]["params"].pop("conference_id")
                theirs[number]["params"].pop("conference_id")
            assert mine[1:] == theirs[1:]
            assert ours[3]["params"]["size"] == 1
            assert without_message(ours[2]) == {"code": "200", "call_id": first.call_id}
            result = await command(client, "calling.leave_conference", first, **leave)
            assert result["code"] == "400"  # no longer in it; 404 would mean the call is gone
            result = await command(client, "calling.join_conference", first)
            assert result["code"] == "400"


async def test_plain_acks(autojump_clock: trio.testing.MockClock) -> None:
    methods = [
        "calling.join_room",
        "calling.leave_room",
        "calling.bind_digit",
        "calling.clear_digit_bindings",
        "calling.user_event",
        "calling.live_transcribe",
        "calling.live_translate",
        "calling.amazon_bedrock",
    ]
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            for method in methods:
                result = await command(client, method, call)
                assert result == {"code": "200", "message": "OK", "call_id": call.call_id}
            await client.nothing_more(5)


async def test_wait_for_operation(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(60):
        async with answered_call() as (_fake, client, call):
            async with trio.open_nursery() as nursery:
                found: list[FakeOperation] = []

                async def wait() -> None:
                    found.append(await call.wait_for_operation("record"))

                nursery.start_soon(wait)
                await trio.testing.wait_all_tasks_blocked()
                await command(client, "calling.play", call, control_id="p", play=[TTS])
                await command(client, "calling.record", call, control_id="r", record={})
            assert found[0] is call.operations["r"]
            await trio.sleep(1)
            assert (await call.wait_for_operation()).control_id == "r"  # "p" finished by now
            op = await call.wait_for_operation("play", include_done=True)
            assert op.control_id == "p" and op.done
            await call.hangup()
            with pytest.raises(AssertionError, match="ended"):
                await call.wait_for_operation("collect")
