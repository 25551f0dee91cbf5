"""The sans-I/O session in _protocol, fed with the sample frames and with broken ones.

Plain synchronous tests: no trio, no sockets. Fixture replies carry the ids of the
session that recorded them, so a reply is rewritten to our request id before it is fed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio
from frames import (
    FIXTURE_PROJECT,
    FIXTURE_TOKEN,
    dumps,
    events_from,
    first_frame,
    fixture_names,
    frames_from,
    load_steps,
    with_id,
)

from signalwire_relay_trio._errors import (
    AuthenticationError,
    CallEndedError,
    LocalProtocolError,
    RelayError,
    RemoteProtocolError,
)
from signalwire_relay_trio._groups import leaves, pick_error
from signalwire_relay_trio._protocol import (
    AGENT,
    Credentials,
    DisconnectRequest,
    EventNotice,
    PingRequest,
    RelaySession,
    Reply,
    SessionState,
    UnknownRequest,
    describe_frame,
    is_success_code,
    reply_error,
    scrub,
)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

CONNECT = "signalwire.connect"


# -- helpers -----------------------------------------------------------------------


def parse(text: str) -> dict[str, Any]:
    decoded = json.loads(text)
    assert isinstance(decoded, dict)
    return decoded


def connect_params(name: str) -> dict[str, Any]:
    """The params of the first signalwire.connect the client sends in a fixture."""
    return first_frame(name, "client", method=CONNECT)["params"]


def session_like(name: str) -> RelaySession:
    """A fresh session with the credentials and contexts of a fixture's connect frame."""
    params = connect_params(name)
    return RelaySession(Credentials(**params["authentication"]), params.get("contexts", ()))


def complete_connect(session: RelaySession, name: str = "connect-result") -> Reply:
    """Send a connect and answer it with the first server result in fixture ``name``."""
    request_id, _ = session.start_connect()
    result_frame = next(f for f in frames_from(name, "server") if "result" in f)
    reply = session.receive(dumps(with_id(result_frame, request_id)))
    assert isinstance(reply, Reply)
    session.handle_connect_reply(reply)
    return reply


def ready_session(**kwargs: Any) -> RelaySession:
    """A READY session with the fixture project/token and contexts office + support."""
    session = session_like("connect-request")
    for key, value in kwargs.items():
        setattr(session, key, value)
    complete_connect(session)
    assert session.state is SessionState.READY
    return session


def answer(
    session: RelaySession,
    method: str,
    *,
    result: Any = None,
    error: Any = None,
    omit: bool = False,
) -> Reply:
    """Send ``method`` and feed a response (``result`` or ``error``) for it."""
    request_id, _ = session.request(method, {})
    frame: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        frame["error"] = error
    elif not omit:
        frame["result"] = {} if result is None else result
    reply = session.receive(dumps(frame))
    assert isinstance(reply, Reply)
    assert reply.request_id == request_id
    assert reply.method == method
    return reply


def event_frame(
    event_id: str, event_type: str = "calling.call.play", **params: Any
) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": event_id,
        "method": "signalwire.event",
        "params": {"event_type": event_type, "params": params},
    }


def authorization_state_value() -> str:
    (event,) = events_from("authorization-state")
    return event["params"]["params"]["authorization_state"]


def fixture_secrets() -> set[str]:
    """Every credential value that appears anywhere in the fixtures."""
    found = {FIXTURE_PROJECT, FIXTURE_TOKEN, authorization_state_value()}
    for name in fixture_names():
        for frame in frames_from(name, "client"):
            if frame.get("method") == CONNECT:
                params = frame["params"]
                found.update(params["authentication"].values())
                if "authorization_state" in params:
                    found.add(params["authorization_state"])
    return found


# -- signalwire.connect --------------------------------------------------------------


def test_connect_frame_matches_the_sample() -> None:
    expected = first_frame("connect-request", "client", method=CONNECT)
    session = session_like("connect-request")
    assert session.state is SessionState.IDLE

    request_id, text = session.start_connect()

    frame = parse(text)
    assert session.state is SessionState.CONNECTING
    assert set(frame) == {"jsonrpc", "id", "method", "params"}
    assert frame["jsonrpc"] == "2.0"
    assert frame["method"] == CONNECT
    assert frame["id"] == request_id
    assert isinstance(request_id, str) and request_id
    params = frame["params"]
    assert params["version"] == {"major": 2, "minor": 0, "revision": 0}
    assert params["event_acks"] is True
    assert params["agent"] == AGENT
    assert params["authentication"] == {"project": FIXTURE_PROJECT, "token": FIXTURE_TOKEN}
    assert params["contexts"] == ["office", "support"]
    assert "protocol" not in params
    assert "authorization_state" not in params
    assert params == expected["params"]


def test_connect_frame_with_a_jwt_matches_the_sample() -> None:
    expected = first_frame("connect-jwt-request", "client", method=CONNECT)
    jwt = expected["params"]["authentication"]["jwt_token"]
    session = RelaySession(Credentials(jwt_token=jwt), ["office"])

    _, text = session.start_connect()

    params = parse(text)["params"]
    assert params["authentication"] == {"jwt_token": jwt}
    assert params == expected["params"]


def test_jwt_replaces_project_and_token_in_the_authentication_block() -> None:
    session = RelaySession(Credentials(project="p-1", token="t-1", jwt_token="jwt-1"))
    _, text = session.start_connect()
    assert parse(text)["params"]["authentication"] == {"jwt_token": "jwt-1"}


def test_connect_without_contexts_sends_no_contexts_and_duplicates_are_dropped() -> None:
    bare = RelaySession(Credentials(project="p", token="t"))
    assert "contexts" not in parse(bare.start_connect()[1])["params"]

    doubled = RelaySession(Credentials(project="p", token="t"), ["a", "b", "a"])
    assert parse(doubled.start_connect()[1])["params"]["contexts"] == ["a", "b"]


@pytest.mark.parametrize(
    "credentials",
    [Credentials(), Credentials(project="p"), Credentials(token="t")],
    ids=["nothing", "project-only", "token-only"],
)
def test_incomplete_credentials_cannot_build_a_connect(credentials: Credentials) -> None:
    session = RelaySession(credentials)
    with pytest.raises(LocalProtocolError):
        session.start_connect()


def test_connect_result_makes_the_session_ready() -> None:
    result = first_frame("connect-result", "server")["result"]
    session = session_like("connect-request")
    request_id, _ = session.start_connect()

    reply = session.receive(dumps(with_id(first_frame("connect-result", "server"), request_id)))

    assert isinstance(reply, Reply)
    assert reply.method == CONNECT
    assert reply.error is None
    session.handle_connect_reply(reply)
    assert session.state is SessionState.READY
    assert session.protocol == result["protocol"]
    assert session.identity == result["identity"]
    assert session.session_restored is False
    assert session.pending_count == 0


def test_jwt_connect_result_makes_the_session_ready() -> None:
    result = first_frame("connect-jwt-request", "server")["result"]
    session = session_like("connect-jwt-request")
    complete_connect(session, "connect-jwt-request")
    assert session.state is SessionState.READY
    assert session.protocol == result["protocol"]
    assert session.identity == result["identity"]


def test_connect_result_with_a_foreign_id_is_ignored() -> None:
    session = session_like("connect-request")
    session.start_connect()
    # The sample result still carries the recording session's id, not ours.
    assert session.receive(dumps(first_frame("connect-result", "server"))) is None
    assert session.state is SessionState.CONNECTING
    assert session.pending_count == 1


def test_connect_error_raises_authentication_error_with_the_int_code() -> None:
    rejection = first_frame("connect-auth-rejected", "server")
    session = session_like("connect-auth-rejected")
    request_id, _ = session.start_connect()

    reply = session.receive(dumps(with_id(rejection, request_id)))

    assert isinstance(reply, Reply)
    assert isinstance(reply.error, RelayError)
    with pytest.raises(AuthenticationError) as caught:
        session.handle_connect_reply(reply)
    assert caught.value.code == -32002
    assert type(caught.value.code) is int
    assert caught.value.message == "Authentication failed"
    assert session.state is not SessionState.READY
    with pytest.raises(LocalProtocolError):
        session.request("calling.answer", {})


def test_connect_result_without_a_protocol_is_a_remote_protocol_error() -> None:
    session = session_like("connect-request")
    request_id, _ = session.start_connect()
    reply = session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": {}}))
    assert isinstance(reply, Reply)
    with pytest.raises(RemoteProtocolError):
        session.handle_connect_reply(reply)
    assert session.state is not SessionState.READY


def test_requests_before_ready_are_local_protocol_errors() -> None:
    session = session_like("connect-request")
    with pytest.raises(LocalProtocolError):
        session.request("calling.answer", {"call_id": "c"})
    session.start_connect()
    with pytest.raises(LocalProtocolError):
        session.request("calling.answer", {"call_id": "c"})
    assert session.pending_count == 1  # only the connect


def test_request_frame_shape() -> None:
    session = ready_session()
    params = {"node_id": "n@us-east", "call_id": "c-1"}
    request_id, text = session.request("calling.answer", params)
    assert parse(text) == {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "calling.answer",
        "params": params,
    }
    assert session.pending_count == 1


def test_closed_session_refuses_to_connect() -> None:
    session = ready_session()
    session.request("calling.answer", {})
    session.close()
    assert session.state is SessionState.CLOSED
    assert session.pending_count == 0
    with pytest.raises(LocalProtocolError):
        session.start_connect()
    session.connection_lost()
    assert session.state is SessionState.CLOSED


# -- resume and restart ----------------------------------------------------------------


def _ready_with_authorization_state() -> RelaySession:
    session = ready_session()
    assert not session.has_authorization_state
    (event,) = events_from("authorization-state")
    notice = session.receive(dumps(event))
    assert isinstance(notice, EventNotice)
    assert notice.event_type == "signalwire.authorization.state"
    assert session.has_authorization_state
    return session


def test_resume_after_a_disconnect_sends_protocol_and_authorization_state() -> None:
    session = _ready_with_authorization_state()
    old_protocol = session.protocol
    disconnect = frames_from("session-resume", "server")[0]
    ack = frames_from("session-resume", "client")[0]

    notice = session.receive(dumps(disconnect))
    assert isinstance(notice, DisconnectRequest)
    assert notice.restart is False
    assert parse(session.ack(notice.request_id)) == ack
    session.connection_lost()
    assert session.state is SessionState.IDLE

    request_id, text = session.start_connect()
    params = parse(text)["params"]
    assert params["protocol"] == old_protocol
    assert params["authorization_state"] == authorization_state_value()
    assert params == connect_params("session-resume")
    assert session.resuming

    restored = frames_from("session-resume", "server")[-1]
    assert restored["result"]["session_restored"] is True
    reply = session.receive(dumps(with_id(restored, request_id)))
    assert isinstance(reply, Reply)
    session.handle_connect_reply(reply)
    assert session.state is SessionState.READY
    assert session.protocol == old_protocol
    assert session.session_restored is True


def test_restart_disconnect_then_forgetting_resume_state_connects_fresh() -> None:
    session = _ready_with_authorization_state()
    old_protocol = session.protocol
    disconnect = frames_from("server-disconnect-restart", "server")[0]
    ack = frames_from("server-disconnect-restart", "client")[0]

    notice = session.receive(dumps(disconnect))
    assert isinstance(notice, DisconnectRequest)
    assert notice.restart is True
    assert parse(session.ack(notice.request_id)) == ack
    session.forget_resume_state()
    session.connection_lost()

    request_id, text = session.start_connect()
    params = parse(text)["params"]
    assert "protocol" not in params
    assert "authorization_state" not in params
    assert params == connect_params("server-disconnect-restart")
    assert not session.resuming

    fresh = frames_from("server-disconnect-restart", "server")[-1]
    reply = session.receive(dumps(with_id(fresh, request_id)))
    assert isinstance(reply, Reply)
    session.handle_connect_reply(reply)
    assert session.protocol == fresh["result"]["protocol"] != old_protocol
    assert session.session_restored is False


def test_resume_without_an_authorization_state_sends_the_protocol_alone() -> None:
    session = ready_session()
    protocol = session.protocol
    session.connection_lost()
    params = parse(session.start_connect()[1])["params"]
    assert params["protocol"] == protocol
    assert "authorization_state" not in params


def test_newest_authorization_state_wins_and_empty_ones_are_ignored() -> None:
    session = ready_session()
    for event_id, value in [("a-1", "first-state"), ("a-2", "second-state"), ("a-3", "")]:
        session.receive(
            dumps(
                event_frame(event_id, "signalwire.authorization.state", authorization_state=value)
            )
        )
    session.connection_lost()
    params = parse(session.start_connect()[1])["params"]
    assert params["authorization_state"] == "second-state"


def test_session_restored_needs_the_same_protocol() -> None:
    session = ready_session()
    session.connection_lost()
    request_id, _ = session.start_connect()
    result = {"protocol": "signalwire_other_protocol", "identity": "i", "session_restored": True}
    reply = session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": result}))
    assert isinstance(reply, Reply)
    session.handle_connect_reply(reply)
    assert session.protocol == "signalwire_other_protocol"
    assert session.session_restored is False


# -- every sample frame ----------------------------------------------------------------


def _check_server_request(frame: dict[str, Any], incoming: object) -> None:
    method = frame["method"]
    if method == "signalwire.event":
        assert isinstance(incoming, EventNotice)
        assert incoming.request_id == frame["id"]
        assert incoming.event_type == frame["params"]["event_type"]
        assert incoming.payload == frame["params"]
        assert incoming.params == frame["params"].get("params", {})
        assert incoming.duplicate is False
    elif method == "signalwire.ping":
        assert isinstance(incoming, PingRequest)
        assert incoming.request_id == frame["id"]
    elif method == "signalwire.disconnect":
        assert isinstance(incoming, DisconnectRequest)
        assert incoming.restart is bool(frame["params"].get("restart"))
    else:
        assert isinstance(incoming, UnknownRequest)


def _check_reply(session: RelaySession, frame: dict[str, Any], reply: Reply) -> None:
    if reply.method == CONNECT:
        if "error" in frame:
            with pytest.raises(AuthenticationError):
                session.handle_connect_reply(reply)
        else:
            session.handle_connect_reply(reply)
            assert session.state is SessionState.READY
        return
    failed = "error" in frame or not is_success_code(frame["result"].get("code", "200"))
    assert (reply.error is not None) == failed, frame


def replay(name: str) -> RelaySession:
    """Play a whole fixture through a session, checking every frame on the way."""
    steps = load_steps(name)
    opening = next(step for step in steps if "frame" in step)
    our_ids: dict[str, str] = {}
    if opening["from"] == "client" and opening["frame"].get("method") == CONNECT:
        session = session_like(name)
    elif opening["from"] == "server" and "method" not in opening["frame"]:
        # A bare connect result: its request is the one in connect-request.json.
        session = session_like("connect-request")
        our_ids[opening["frame"]["id"]] = session.start_connect()[0]
    else:
        session = ready_session()
    unanswered: dict[str, object] = {}
    for step in steps:
        if "action" in step:
            if step["action"] == "close":
                session.connection_lost()
            continue
        frame = step["frame"]
        if step["from"] == "client" and "method" in frame:
            if frame["method"] == CONNECT:
                request_id, text = session.start_connect()
            else:
                request_id, text = session.request(frame["method"], frame["params"])
                assert parse(text)["params"] == frame["params"]
            assert parse(text)["method"] == frame["method"]
            our_ids[frame["id"]] = request_id
        elif step["from"] == "client":
            incoming = unanswered.pop(frame["id"])
            if isinstance(incoming, PingRequest):
                ours = session.reply_to_ping(incoming)
            else:
                assert isinstance(incoming, (EventNotice, DisconnectRequest))
                ours = session.ack(incoming.request_id)
            assert parse(ours) == frame
        elif "method" in frame:
            incoming = session.receive(dumps(frame))
            _check_server_request(frame, incoming)
            unanswered[frame["id"]] = incoming
        else:
            request_id = our_ids[frame["id"]]
            reply = session.receive(dumps(with_id(frame, request_id)))
            assert isinstance(reply, Reply), frame
            assert reply.request_id == request_id
            _check_reply(session, frame, reply)
    return session


@pytest.mark.parametrize("name", fixture_names())
def test_every_sample_frame_goes_through_the_session(name: str) -> None:
    replay(name)


def test_event_ack_is_the_sample_ack() -> None:
    event, ack = frames_from("event-ack", "server")[0], frames_from("event-ack", "client")[0]
    session = ready_session()
    notice = session.receive(dumps(event))
    assert isinstance(notice, EventNotice)
    assert parse(session.ack(notice.request_id)) == ack


def test_ack_echoes_odd_ids_exactly() -> None:
    odd = 'id "with" quotes\\ and é ✓'
    assert parse(RelaySession.ack(odd)) == {"jsonrpc": "2.0", "id": odd, "result": {}}


def test_ping_reply_is_the_sample_reply() -> None:
    ping, reply = frames_from("server-ping", "server")[0], frames_from("server-ping", "client")[0]
    session = ready_session()
    notice = session.receive(dumps(ping))
    assert isinstance(notice, PingRequest)
    assert parse(session.reply_to_ping(notice)) == reply
    assert parse(session.reply_to_ping(notice))["result"]["timestamp"] == 1767225600.25


def test_ping_without_timestamp_gets_an_empty_result() -> None:
    session = ready_session()
    ping = session.receive(dumps({"jsonrpc": "2.0", "id": "p-1", "method": "signalwire.ping"}))
    assert isinstance(ping, PingRequest)
    assert parse(session.reply_to_ping(ping)) == {"jsonrpc": "2.0", "id": "p-1", "result": {}}


@pytest.mark.parametrize(
    ("params", "restart"),
    [(None, False), ({}, False), ({"restart": False}, False), ({"restart": True}, True)],
)
def test_disconnect_restart_flag(params: dict[str, Any] | None, restart: bool) -> None:
    frame: dict[str, Any] = {"jsonrpc": "2.0", "id": "d-1", "method": "signalwire.disconnect"}
    if params is not None:
        frame["params"] = params
    notice = ready_session().receive(dumps(frame))
    assert isinstance(notice, DisconnectRequest)
    assert notice.request_id == "d-1"
    assert notice.restart is restart


def test_bytes_frames_are_accepted_when_utf8() -> None:
    notice = ready_session().receive(dumps(event_frame("e-1", note="héllo")).encode("utf-8"))
    assert isinstance(notice, EventNotice)
    assert notice.params == {"note": "héllo"}


# -- result codes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["200", "201", "204", "299", 200, 204], ids=lambda c: f"{type(c).__name__}-{c}"
)
def test_2xx_codes_are_success(code: object) -> None:
    result = {"code": code, "message": "ok", "control_id": "ctl-1"}
    reply = answer(ready_session(), "calling.play", result=result)
    assert reply.error is None
    assert reply.unwrap() == result


def test_result_without_a_code_is_success() -> None:
    reply = answer(ready_session(), "calling.play", result={"message": "no code here"})
    assert reply.error is None
    assert reply.unwrap() == {"message": "no code here"}


@pytest.mark.parametrize("code", ["200", "201", "204", "299", 200, 204, 299])
def test_is_success_code_accepts_2xx(code: object) -> None:
    assert is_success_code(code)


@pytest.mark.parametrize(
    "code", ["300", "404", "199", "2000", "20", "2x0", "", "abc", None, 404, 199, 300, True]
)
def test_is_success_code_rejects_the_rest(code: object) -> None:
    assert not is_success_code(code)


def test_call_gone_sample_replies_are_call_ended_errors() -> None:
    """error-result-code.json: 404/410 mean the call is gone; 409/400 are plain failures."""
    session = ready_session()
    sent: dict[str, tuple[str, str]] = {}
    for step in load_steps("error-result-code"):
        frame = step["frame"]
        if step["from"] == "client":
            request_id, _ = session.request(frame["method"], frame["params"])
            sent[frame["id"]] = (request_id, frame["method"])
            continue
        request_id, method = sent[frame["id"]]
        reply = session.receive(dumps(with_id(frame, request_id)))
        assert isinstance(reply, Reply)
        expected_code = int(frame["result"]["code"])
        assert isinstance(reply.error, RelayError)
        assert reply.error.code == expected_code
        assert reply.error.message == frame["result"]["message"]
        if expected_code in (404, 410):
            assert isinstance(reply.error, CallEndedError), method
        else:
            assert not isinstance(reply.error, CallEndedError), method
        with pytest.raises(RelayError) as caught:
            reply.unwrap()
        assert caught.value is reply.error


@pytest.mark.parametrize(("code", "number"), [("404", 404), ("410", 410), (404, 404)])
def test_404_and_410_on_a_call_command_mean_the_call_ended(code: object, number: int) -> None:
    reply = answer(ready_session(), "calling.play", result={"code": code, "message": "gone"})
    assert isinstance(reply.error, CallEndedError)
    assert reply.error.code == number
    assert type(reply.error.code) is int
    assert reply.error.message == "gone"


@pytest.mark.parametrize("code", ["409", "400", "500"])
def test_other_failures_are_relay_errors(code: str) -> None:
    reply = answer(ready_session(), "calling.play", result={"code": code, "message": "no way"})
    assert type(reply.error) is RelayError
    assert reply.error.code == int(code)
    assert reply.error.message == "no way"
    assert code in str(reply.error)


@pytest.mark.parametrize("method", ["calling.dial", "calling.begin"])
def test_404_on_a_dial_is_not_call_ended(method: str) -> None:
    reply = answer(ready_session(), method, result={"code": "404", "message": "no route"})
    assert type(reply.error) is RelayError
    assert reply.error.code == 404


@pytest.mark.parametrize("method", ["messaging.send", "signalwire.receive"])
def test_404_on_a_command_that_is_not_about_a_call_is_not_call_ended(method: str) -> None:
    # §1.6: only *call* commands (calling.*, except dial/begin/receive) mean "call gone".
    error = reply_error(method, {"code": "404", "message": "not found"})
    assert isinstance(error, RelayError)
    assert not isinstance(error, CallEndedError)
    assert error.code == 404


def test_failure_without_a_message_names_the_method() -> None:
    error = reply_error("calling.record", {"code": "500"})
    assert isinstance(error, RelayError)
    assert error.code == 500
    assert "calling.record" in error.message


def test_jsonrpc_error_samples_become_relay_errors() -> None:
    session = ready_session()
    client, server = frames_from("jsonrpc-error", "client"), frames_from("jsonrpc-error", "server")
    expected = {"calling.teleport": -32601, "calling.play": -32602}
    for request, response in zip(client, server, strict=True):
        request_id, _ = session.request(request["method"], request["params"])
        reply = session.receive(dumps(with_id(response, request_id)))
        assert isinstance(reply, Reply)
        assert type(reply.error) is RelayError
        assert reply.error.code == expected[request["method"]]
        assert reply.error.message == response["error"]["message"]
        assert reply.result == {}


def test_jsonrpc_error_without_data_or_message() -> None:
    reply = answer(ready_session(), "calling.answer", error={"code": -32603})
    assert type(reply.error) is RelayError
    assert reply.error.code == -32603
    assert isinstance(reply.error.message, str) and reply.error.message


def test_response_with_neither_result_nor_error_is_a_failure() -> None:
    reply = answer(ready_session(), "calling.answer", omit=True)
    assert isinstance(reply.error, RelayError)
    assert reply.error.code is None


def test_non_object_result_is_wrapped() -> None:
    reply = answer(ready_session(), "signalwire.ping", result=["odd"])
    assert reply.error is None
    assert reply.result == {"raw": ["odd"]}


# -- late replies ---------------------------------------------------------------------


def test_reply_with_an_unknown_id_is_dropped() -> None:
    session = ready_session()
    request_id, _ = session.request("calling.answer", {})
    assert session.receive(dumps({"jsonrpc": "2.0", "id": "nobody", "result": {}})) is None
    assert session.pending_count == 1
    assert isinstance(
        session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": {}})), Reply
    )


def test_reply_after_forget_is_dropped() -> None:
    session = ready_session()
    request_id, _ = session.request("calling.answer", {})
    session.forget(request_id)
    assert session.pending_count == 0
    assert session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": {}})) is None
    session.forget(request_id)  # forgetting twice is harmless


def test_second_reply_to_the_same_id_is_dropped() -> None:
    session = ready_session()
    request_id, _ = session.request("calling.answer", {})
    frame = dumps({"jsonrpc": "2.0", "id": request_id, "result": {"code": "200"}})
    assert isinstance(session.receive(frame), Reply)
    assert session.receive(frame) is None


# -- malformed frames -----------------------------------------------------------------

_GOOD_EVENT = event_frame("e-good", call_id="c-1", control_id="ctl-1", state="playing")

MALFORMED: dict[str, str | bytes] = {
    "invalid-json": '{"jsonrpc": "2.0", "id": ',
    "empty": "",
    "array": dumps([_GOOD_EVENT]),
    "number": "42",
    "string": '"signalwire.event"',
    "null": "null",
    "method-not-a-string": dumps({"jsonrpc": "2.0", "id": "m-1", "method": 7, "params": {}}),
    "request-without-id": dumps({k: v for k, v in _GOOD_EVENT.items() if k != "id"}),
    "event-without-event-type": dumps(
        {"jsonrpc": "2.0", "id": "m-2", "method": "signalwire.event", "params": {"params": {}}}
    ),
    "event-type-not-a-string": dumps(event_frame("m-3", 12)),  # type: ignore[arg-type]
    "event-params-a-list": dumps(
        {
            "jsonrpc": "2.0",
            "id": "m-4",
            "method": "signalwire.event",
            "params": {"event_type": "calling.call.play", "params": [1, 2]},
        }
    ),
    "request-params-a-list": dumps(
        {"jsonrpc": "2.0", "id": "m-5", "method": "signalwire.ping", "params": [1]}
    ),
    "response-with-null-id": dumps({"jsonrpc": "2.0", "id": None, "result": {}}),
    "bytes-not-utf8": b'{"jsonrpc": "2.0", "id": "\xff\xfe", "result": {}}',
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_and_leave_the_session_usable(raw: str | bytes) -> None:
    session = ready_session()
    request_id, _ = session.request("calling.answer", {})

    with pytest.raises(RemoteProtocolError):
        session.receive(raw)

    assert session.state is SessionState.READY
    assert session.pending_count == 1
    notice = session.receive(dumps(_GOOD_EVENT))
    assert isinstance(notice, EventNotice)
    assert notice.duplicate is False
    reply = session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": {}}))
    assert isinstance(reply, Reply)
    assert reply.error is None


def test_a_rejected_event_is_not_remembered_as_seen() -> None:
    session = ready_session()
    broken = event_frame("e-7", call_id="c-1")
    broken["params"]["params"] = "not an object"
    with pytest.raises(RemoteProtocolError):
        session.receive(dumps(broken))
    notice = session.receive(dumps(event_frame("e-7", call_id="c-1")))
    assert isinstance(notice, EventNotice)
    assert notice.duplicate is False


def test_unknown_server_method_gets_a_method_not_found_error() -> None:
    session = ready_session()
    frame = {"jsonrpc": "2.0", "id": "u-1", "method": "signalwire.frobnicate", "params": {}}
    incoming = session.receive(dumps(frame))
    assert isinstance(incoming, UnknownRequest)
    assert incoming.method == "signalwire.frobnicate"
    assert incoming.request_id == "u-1"
    reply = parse(session.reply_unknown(incoming))
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == "u-1"
    assert "result" not in reply
    assert reply["error"]["code"] == -32601
    assert isinstance(reply["error"]["message"], str)


# -- duplicates, ids, lost connections ------------------------------------------------


def test_the_same_event_id_twice_is_a_duplicate() -> None:
    session = ready_session()
    first = session.receive(dumps(_GOOD_EVENT))
    second = session.receive(dumps(_GOOD_EVENT))
    other = session.receive(dumps(event_frame("e-other", call_id="c-1", state="playing")))
    assert isinstance(first, EventNotice) and first.duplicate is False
    assert isinstance(second, EventNotice) and second.duplicate is True
    assert second.request_id == first.request_id
    assert isinstance(other, EventNotice) and other.duplicate is False


def test_duplicates_are_recognised_across_a_resume() -> None:
    session = ready_session()
    session.receive(dumps(_GOOD_EVENT))
    session.connection_lost()
    complete_connect(session, "session-resume")
    again = session.receive(dumps(_GOOD_EVENT))
    assert isinstance(again, EventNotice)
    assert again.duplicate is True


def test_the_dedupe_window_forgets_the_oldest_ids() -> None:
    session = RelaySession(Credentials(project="p", token="t"), dedupe_window=3)
    complete_connect(session)
    for event_id in ("e-1", "e-2", "e-3", "e-4"):
        notice = session.receive(dumps(event_frame(event_id)))
        assert isinstance(notice, EventNotice) and not notice.duplicate
    newest = session.receive(dumps(event_frame("e-4")))
    oldest = session.receive(dumps(event_frame("e-1")))
    assert isinstance(newest, EventNotice) and newest.duplicate is True
    assert isinstance(oldest, EventNotice) and oldest.duplicate is False


def test_request_ids_are_unique() -> None:
    session = session_like("connect-request")
    connect_id, _ = session.start_connect()
    reply_frame = with_id(first_frame("connect-result", "server"), connect_id)
    reply = session.receive(dumps(reply_frame))
    assert isinstance(reply, Reply)
    session.handle_connect_reply(reply)

    ids = [connect_id]
    for number in range(2000):
        request_id, text = session.request("calling.play", {"n": number})
        assert parse(text)["id"] == request_id
        assert isinstance(request_id, str) and request_id
        ids.append(request_id)
    assert len(set(ids)) == len(ids)
    assert session.pending_count == 2000

    other = ready_session()
    other_ids = {other.request("calling.play", {})[0] for _ in range(50)}
    assert other_ids.isdisjoint(ids)


def test_connection_lost_returns_the_pending_ids_and_empties_them() -> None:
    session = ready_session()
    sent = {session.request("calling.play", {})[0] for _ in range(3)}

    lost = session.connection_lost()

    assert set(lost) == sent
    assert len(lost) == 3
    assert session.pending_count == 0
    assert session.state is SessionState.IDLE
    assert session.connection_lost() == []
    for request_id in sent:
        assert session.receive(dumps({"jsonrpc": "2.0", "id": request_id, "result": {}})) is None
    with pytest.raises(LocalProtocolError):
        session.request("calling.play", {})


def test_connection_lost_while_connecting_returns_the_connect_id() -> None:
    session = session_like("connect-request")
    connect_id, _ = session.start_connect()
    assert session.connection_lost() == [connect_id]
    assert session.state is SessionState.IDLE


# -- secrets --------------------------------------------------------------------------


def test_credentials_repr_hides_every_secret() -> None:
    jwt = first_frame("connect-jwt-request", "client")["params"]["authentication"]["jwt_token"]
    for credentials in (
        Credentials(project=FIXTURE_PROJECT, token=FIXTURE_TOKEN),
        Credentials(jwt_token=jwt),
        Credentials(project=FIXTURE_PROJECT, token=FIXTURE_TOKEN, jwt_token=jwt),
    ):
        for shown in (repr(credentials), str(credentials), f"{credentials!r}"):
            for secret in (FIXTURE_PROJECT, FIXTURE_TOKEN, jwt):
                assert secret not in shown


def test_scrub_hides_credentials_in_a_resume_connect() -> None:
    session = _ready_with_authorization_state()
    session.connection_lost()
    _, text = session.start_connect()
    frame = parse(text)
    before = json.dumps(frame)

    scrubbed = scrub(frame)

    shown = json.dumps(scrubbed)
    for secret in (FIXTURE_PROJECT, FIXTURE_TOKEN, authorization_state_value()):
        assert secret in before
        assert secret not in shown
    assert json.dumps(frame) == before  # the original is not modified
    assert scrubbed["method"] == CONNECT
    assert scrubbed["params"]["contexts"] == ["office", "support"]
    assert scrubbed["params"]["protocol"] == session.protocol
    described = describe_frame(text, limit=100_000)
    for secret in (FIXTURE_PROJECT, FIXTURE_TOKEN, authorization_state_value()):
        assert secret not in described


def test_scrub_hides_a_jwt() -> None:
    frame = first_frame("connect-jwt-request", "client")
    jwt = frame["params"]["authentication"]["jwt_token"]
    assert jwt not in json.dumps(scrub(frame))
    assert jwt not in describe_frame(dumps(frame), limit=100_000)


def _paths_holding(value: Any, secret: str, path: str = "") -> list[str]:
    """Where ``secret`` still appears inside a decoded frame, as dotted key paths."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths_holding(v, secret, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths_holding(v, secret, f"{path}[{i}]")]
    return [path or "<frame>"] if isinstance(value, str) and secret in value else []


def test_describe_frame_never_shows_a_credential_from_the_samples() -> None:
    secrets = fixture_secrets()
    leaks: dict[str, set[str]] = {}
    for name in fixture_names():
        for step in load_steps(name):
            if "frame" not in step:
                continue
            shown = describe_frame(dumps(step["frame"]), limit=1_000_000)
            for secret in secrets:
                if secret in shown:
                    paths = _paths_holding(scrub(step["frame"]), secret)
                    leaks.setdefault(name, set()).update(paths)
    assert not leaks, "\n".join(f"{name}: {sorted(paths)}" for name, paths in leaks.items())


def test_describe_frame_of_text_that_is_not_json_shows_none_of_it() -> None:
    text = f'{{"token": "{FIXTURE_TOKEN}", broken'
    shown = describe_frame(text)
    assert FIXTURE_TOKEN not in shown
    assert "not JSON" in shown


def test_describe_frame_truncates_long_frames() -> None:
    frame = event_frame("e-long", call_id="c", blob="x" * 5000)
    shown = describe_frame(dumps(frame), limit=200)
    assert len(shown) <= 203
    assert shown.endswith("...")


# -- exception groups at the API edges (_groups) ---------------------------------------


def _real_cancelled() -> trio.Cancelled:
    caught: list[trio.Cancelled] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled as exc:
                caught.append(exc)
                raise

    trio.run(main)
    return caught[0]


def test_leaves_flattens_nested_groups_depth_first() -> None:
    a, b, c = ValueError("a"), KeyError("b"), RuntimeError("c")
    group = ExceptionGroup("outer", [a, ExceptionGroup("inner", [b]), c])
    assert leaves(group) == [a, b, c]
    assert leaves(a) == [a]


def test_pick_error_prefers_the_body_exception() -> None:
    body, other = ValueError("body"), RuntimeError("other")
    group = ExceptionGroup("g", [other, ExceptionGroup("inner", [body])])
    assert pick_error(group, prefer=body) is body
    assert pick_error(group, prefer=KeyError("absent")) is other
    assert pick_error(body) is body


def test_pick_error_skips_cancelled_but_never_swallows_it() -> None:
    cancelled = _real_cancelled()
    failure = RuntimeError("boom")
    mixed = BaseExceptionGroup("g", [cancelled, failure])
    assert pick_error(mixed) is failure
    assert pick_error(mixed, prefer=cancelled) is failure

    only_cancelled = BaseExceptionGroup("g", [cancelled, _real_cancelled()])
    assert pick_error(only_cancelled) is only_cancelled
