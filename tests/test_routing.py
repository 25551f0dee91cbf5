"""EventRouter in _routing: which registered target each event belongs to (§3.2).

The router only decides. These tests play the trio layer's part by hand: they register
calls, dials and messages the way _connection and _dial do, then check each decision.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from frames import events_from, first_frame

from signalwire_relay_trio._routing import EventRouter, Route, RouteKind

CALL_ID = "62016b18-2d19-47be-a618-d6eddd916241"


class Target:
    """Stands in for a Call, PendingDial or Message: identity is all that matters."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Target({self.name!r})"


Router = EventRouter[Target, Target, Target]


def inner(frame: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(event_type, inner params) of a signalwire.event frame."""
    envelope = frame["params"]
    return envelope["event_type"], envelope["params"]


def route(router: Router, frame: dict[str, Any]) -> Route[Target, Target, Target]:
    return router.route(*inner(frame))


def sample_event(name: str, index: int = 0) -> tuple[str, dict[str, Any]]:
    """A deep copy of the ``index``-th event of a fixture, ready to tweak."""
    return inner(copy.deepcopy(events_from(name)[index]))


# -- single decisions -----------------------------------------------------------------


def test_receive_is_a_new_call_until_the_call_is_registered() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("inbound-call-sequence")
    assert event_type == "calling.call.receive"

    first = router.route(event_type, params)
    assert first.kind is RouteKind.NEW_CALL
    assert first.key == params["call_id"]
    assert first.call is None

    call = router.calls[params["call_id"]] = Target("inbound")
    again = router.route(event_type, params)
    assert again.kind is RouteKind.CALL
    assert again.call is call
    assert again.key == params["call_id"]


def test_receive_without_a_call_id_is_unroutable() -> None:
    event_type, params = sample_event("inbound-call-sequence")
    del params["call_id"]
    assert EventRouter().route(event_type, params).kind is RouteKind.UNROUTABLE


def test_state_of_an_unknown_leg_with_a_pending_tag_is_a_dial_leg() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("dial-sequence", 1)  # leg A, created
    assert event_type == "calling.call.state"
    dial = router.dials[params["tag"]] = Target("dial")

    decision = router.route(event_type, params)

    assert decision.kind is RouteKind.DIAL_LEG
    assert decision.dial is dial
    assert decision.key == params["call_id"]


def test_state_of_an_unknown_call_without_a_pending_tag_is_unroutable() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("dial-sequence", 1)
    router.dials["some-other-tag"] = Target("other dial")
    assert router.route(event_type, params).kind is RouteKind.UNROUTABLE

    del params["tag"]
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.UNROUTABLE
    assert decision.key == params["call_id"]


def test_state_of_a_registered_call_goes_to_the_call_even_with_a_pending_tag() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("dial-sequence", 3)  # leg A, ringing
    router.dials[params["tag"]] = Target("dial")
    leg = router.calls[params["call_id"]] = Target("leg A")
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.CALL
    assert decision.call is leg


def test_dial_event_is_routed_by_tag() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("dial-sequence", -1)  # dial answered
    assert event_type == "calling.call.dial"
    assert "call_id" not in params  # the winner is only inside params.call
    dial = router.dials[params["tag"]] = Target("dial")

    decision = router.route(event_type, params)

    assert decision.kind is RouteKind.DIAL
    assert decision.dial is dial
    assert decision.key == params["tag"]


def test_dial_event_for_an_unknown_tag_is_unroutable() -> None:
    router: Router = EventRouter()
    router.dials["another-tag"] = Target("dial")
    event_type, params = sample_event("dial-sequence", -1)
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.UNROUTABLE
    assert decision.dial is None


def test_action_event_is_routed_by_call_id() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("play-stop")
    assert event_type == "calling.call.play"
    call = router.calls[params["call_id"]] = Target("call")
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.CALL
    assert decision.call is call
    assert decision.key == params["call_id"]


def test_action_event_without_a_call_id_falls_back_to_its_control_id() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("stream")
    assert event_type == "calling.call.stream"
    del params["call_id"]
    call = router.controls[params["control_id"]] = Target("streaming call")

    decision = router.route(event_type, params)

    assert decision.kind is RouteKind.CALL
    assert decision.call is call
    assert decision.key == params["control_id"]


def test_action_event_for_an_unknown_call_and_control_is_unroutable() -> None:
    router: Router = EventRouter()
    router.calls["someone-else"] = Target("other call")
    router.controls["other-control"] = Target("other call")
    event_type, params = sample_event("stream")
    assert router.route(event_type, params).kind is RouteKind.UNROUTABLE
    del params["call_id"]
    assert router.route(event_type, params).kind is RouteKind.UNROUTABLE


def test_calling_error_without_a_call_id_is_for_the_session() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("calling-error")
    assert event_type == "calling.error"
    del params["call_id"]
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.SESSION
    assert decision.call is None


def test_calling_error_with_a_call_id_goes_to_that_call() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("calling-error")
    assert router.route(event_type, params).kind is RouteKind.UNROUTABLE
    call = router.calls[params["call_id"]] = Target("call")
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.CALL
    assert decision.call is call


def test_messaging_state_is_routed_by_message_id() -> None:
    router: Router = EventRouter()
    event_type, params = sample_event("messaging-send")
    assert event_type == "messaging.state"

    unknown = router.route(event_type, params)
    assert unknown.kind is RouteKind.UNROUTABLE
    assert unknown.key == params["message_id"]

    message = router.messages[params["message_id"]] = Target("message")
    decision = router.route(event_type, params)
    assert decision.kind is RouteKind.MESSAGE
    assert decision.message is message
    assert decision.key == params["message_id"]


def test_messaging_receive_is_a_new_message() -> None:
    router: Router = EventRouter()
    for frame in events_from("messaging-receive"):
        event_type, params = inner(frame)
        assert event_type == "messaging.receive"
        decision = router.route(event_type, params)
        assert decision.kind is RouteKind.NEW_MESSAGE
        assert decision.key == params["message_id"]


def test_authorization_state_is_for_the_session() -> None:
    (frame,) = events_from("authorization-state")
    assert route(EventRouter(), frame).kind is RouteKind.SESSION


@pytest.mark.parametrize("event_type", ["video.room.joined", "signalwire.something_new", ""])
def test_unknown_event_types_are_unknown(event_type: str) -> None:
    router: Router = EventRouter()
    router.calls[CALL_ID] = Target("call")
    decision = router.route(event_type, {"call_id": CALL_ID})
    assert decision.kind is RouteKind.UNKNOWN
    assert decision.call is None


@pytest.mark.parametrize("bad", ["", None, 17, ["x"], {"id": "x"}])
def test_unusable_routing_keys_match_nothing(bad: object) -> None:
    router: Router = EventRouter()
    router.calls[""] = Target("registered under an empty key")
    router.dials[""] = Target("dial under an empty key")
    assert router.route("calling.call.play", {"call_id": bad}).kind is RouteKind.UNROUTABLE
    assert router.route("calling.call.dial", {"tag": bad}).kind is RouteKind.UNROUTABLE
    assert router.route("calling.call.receive", {"call_id": bad}).kind is RouteKind.UNROUTABLE


def test_route_repr_names_the_kind() -> None:
    assert "DIAL" in repr(Route(RouteKind.DIAL, "tag-1"))


# -- whole sequences ------------------------------------------------------------------


def test_outbound_dial_sequence() -> None:
    """dial-sequence.json, registering legs as _dial.PendingDial does."""
    router: Router = EventRouter()
    dial_request = first_frame("dial-sequence", "client", method="calling.dial")
    tag = dial_request["params"]["tag"]
    dial = router.dials[tag] = Target("dial")  # registered before the request is sent
    leg_a, leg_b = "35c2dd1f-9601-42d5-ba1a-950f8dd96971", "5f724d60-818b-4933-b862-f03a550f55ca"
    expected = [
        ("calling.call.dial", RouteKind.DIAL, tag),  # dialing
        ("calling.call.state", RouteKind.DIAL_LEG, leg_a),  # A created
        ("calling.call.state", RouteKind.DIAL_LEG, leg_b),  # B created
        ("calling.call.state", RouteKind.CALL, leg_a),  # A ringing
        ("calling.call.state", RouteKind.CALL, leg_b),  # B ringing
        ("calling.call.state", RouteKind.CALL, leg_a),  # A answered
        ("calling.call.state", RouteKind.CALL, leg_b),  # B ended
        ("calling.call.dial", RouteKind.DIAL, tag),  # answered, A wins
    ]
    events = events_from("dial-sequence")
    assert len(events) == len(expected)
    legs: dict[str, Target] = {}

    for frame, (event_type, kind, key) in zip(events, expected, strict=True):
        decision = route(router, frame)
        assert (inner(frame)[0], decision.kind, decision.key) == (event_type, kind, key)
        params = inner(frame)[1]
        if kind is RouteKind.DIAL_LEG:
            assert decision.dial is dial
            legs[key] = router.calls[key] = Target(f"leg {key[:4]}")
        elif kind is RouteKind.CALL:
            assert decision.call is legs[key]
            if params["call_state"] == "ended":
                del router.calls[key]  # _connection forgets an ended call
        else:
            assert decision.dial is dial
            if params["dial_state"] == "answered":
                assert params["call"]["call_id"] == leg_a
                assert params["call"]["dial_winner"] is True
                del router.dials[tag]  # the dial is done

    assert set(router.calls) == {leg_a}
    assert router.dials == {}
    # A late dial event for the finished dial no longer finds it.
    assert route(router, events[-1]).kind is RouteKind.UNROUTABLE


def test_inbound_call_sequence() -> None:
    """inbound-call-sequence.json, registering the call as _connection does."""
    router: Router = EventRouter()
    events = events_from("inbound-call-sequence")
    states = [inner(frame)[1].get("call_state") for frame in events]
    assert states == ["created", "answered", "ending", "ended"]

    first = route(router, events[0])
    assert first.kind is RouteKind.NEW_CALL
    assert first.key == CALL_ID
    call = router.calls[CALL_ID] = Target("inbound")

    for frame in events[1:]:
        decision = route(router, frame)
        assert decision.kind is RouteKind.CALL
        assert decision.call is call
        assert decision.key == CALL_ID
    del router.calls[CALL_ID]  # ended: the call is forgotten

    late = route(router, events[-1])
    assert late.kind is RouteKind.UNROUTABLE
    assert late.call is None


def test_bridge_sequence_registers_the_new_leg_by_the_connect_tag() -> None:
    """connect-bridge-sequence.json: the connect's tag is pending like a dial's."""
    router: Router = EventRouter()
    caller = router.calls[CALL_ID] = Target("caller")
    request = first_frame("connect-bridge-sequence", "client", method="calling.connect")
    tag = request["params"]["tag"]
    connect = router.dials[tag] = Target("connect")
    peer: Target | None = None

    for frame in events_from("connect-bridge-sequence"):
        event_type, params = inner(frame)
        decision = route(router, frame)
        if event_type == "calling.call.connect":
            assert decision.kind is RouteKind.CALL
            assert decision.call is caller
        elif peer is None:
            assert decision.kind is RouteKind.DIAL_LEG
            assert decision.dial is connect
            peer = router.calls[params["call_id"]] = Target("peer")
        else:
            assert decision.kind is RouteKind.CALL
            assert decision.call is peer
    assert peer is not None
