"""Conformance of our client framer (``_framing``) against wsproto, the reference.

* Frames we encode are parsed by a wsproto *server* into exactly the messages
  we meant (text of every length encoding, multi-byte UTF-8, random text).
* Frames a wsproto server produces are parsed by ours exactly as a wsproto
  *client* parses them, fed whole, byte by byte and in random chunks.
* Every protocol violation a client must catch raises ``FramingError`` with the
  close code wsproto's own parser picks for it (``ParseFailed.code``). Where
  wsproto has no such decision (the size cap) or decides otherwise on purpose
  (close code 1014), the test says so.

Violations are built by hand with ``raw`` below, which shares no code with
the framer.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.events import Event as WsEvent
from wsproto.events import Ping as WsPing
from wsproto.events import Pong as WsPong
from wsproto.frame_protocol import FrameProtocol, ParseFailed

from signalwire_relay_trio._framing import (
    MAX_MESSAGE_SIZE,
    Binary,
    Close,
    Event,
    FrameParser,
    FramingError,
    HandshakeError,
    Ping,
    Pong,
    accept_value,
    encode_close,
    encode_pong,
    encode_text,
    parse_upgrade_response,
    upgrade_request,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 100_000]
SAMPLES = ["", "a", "é", "€uro", "😀 grin", "mixed: aé€😀", '{"jsonrpc":"2.0"}']


# -- references and helpers -------------------------------------------------------------


def raw(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    length_bytes: int | None = None,
) -> bytes:
    """A frame built by hand, any field forced: the source of every violation."""
    declared = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if declared < 126 else 2 if declared < 65536 else 8
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes == 0:
        head = bytes([first, mask_bit | declared])
    elif length_bytes == 2:
        head = bytes([first, mask_bit | 126]) + declared.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + declared.to_bytes(8, "big")
    if mask is not None:
        head += mask
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + payload


def normalize(ws_events: Sequence[WsEvent], parts: list[str | bytes]) -> list[Event]:
    """wsproto's events as ours: messages assembled, control frames as our classes."""
    found: list[Event] = []
    for event in ws_events:
        if isinstance(event, Message):
            parts.append(event.data)
            if event.message_finished:
                if isinstance(event, TextMessage):
                    found.append("".join(str(part) for part in parts))
                else:
                    found.append(Binary(b"".join(bytes(part) for part in parts)))  # type: ignore[arg-type]
                parts.clear()
        elif isinstance(event, WsPing):
            found.append(Ping(bytes(event.payload)))
        elif isinstance(event, WsPong):
            found.append(Pong(bytes(event.payload)))
        elif isinstance(event, CloseConnection):
            found.append(Close(int(event.code), event.reason or ""))
    return found


def wsproto_client_parse(chunks: Sequence[bytes]) -> list[Event]:
    """How a wsproto client connection reads server bytes given in these chunks."""
    client = Connection(ConnectionType.CLIENT)
    parts: list[str | bytes] = []
    found: list[Event] = []
    for chunk in chunks:
        client.receive_data(chunk)
        found += normalize(list(client.events()), parts)
    return found


def wsproto_server_parse(data: bytes) -> list[Event]:
    """How a wsproto server connection reads client bytes."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(data)
    return normalize(list(server.events()), [])


def wsproto_verdict(data: bytes) -> int | None:
    """The close code wsproto's client-side parser fails with, or None if it accepts."""
    protocol = FrameProtocol(client=True, extensions=[])
    protocol.receive_bytes(data)
    try:
        list(protocol.received_frames())
    except ParseFailed as exc:
        return int(exc.code)
    return None


def our_parse(chunks: Sequence[bytes], max_message_size: int = MAX_MESSAGE_SIZE) -> list[Event]:
    parser = FrameParser(max_message_size)
    found: list[Event] = []
    for chunk in chunks:
        found += parser.feed(chunk)
    return found


def our_verdict(chunks: Sequence[bytes], max_message_size: int = MAX_MESSAGE_SIZE) -> int | None:
    try:
        our_parse(chunks, max_message_size)
    except FramingError as exc:
        return exc.code
    return None


def chunkings(data: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and a few seeded random cuts."""
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    rng = random.Random(len(data))
    for _ in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 5))) if data else []
        bounds = [0, *cuts, len(data)]
        ways.append([data[a:b] for a, b in itertools.pairwise(bounds)])
    return ways


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted({p % (len(data) + 1) for p in points}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def unmask(frame: bytes) -> tuple[int, bytes, bytes]:
    """(first byte, key, payload) of a masked frame, read by hand."""
    assert frame[1] & 0x80, "a client frame must be masked"
    size, at = frame[1] & 0x7F, 2
    if size == 126:
        size, at = int.from_bytes(frame[2:4], "big"), 4
    elif size == 127:
        size, at = int.from_bytes(frame[2:10], "big"), 10
    key, body = frame[at : at + 4], frame[at + 4 :]
    assert len(body) == size
    return frame[0], key, bytes(byte ^ key[i % 4] for i, byte in enumerate(body))


# -- frames we send, read by a wsproto server ---------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_text_of_every_length_encoding_reads_back_in_wsproto(size: int) -> None:
    text = ("x" * size)[:size]
    frame = encode_text(text)
    assert wsproto_server_parse(frame) == [text]
    assert frame[0] == 0x81
    header = 2 + (0 if size < 126 else 2 if size < 65536 else 8) + 4
    assert len(frame) == header + size


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("repeat", [1, 40, 20_000])
def test_multibyte_text_reads_back_in_wsproto(sample: str, repeat: int) -> None:
    text = sample * repeat
    assert wsproto_server_parse(encode_text(text)) == [text]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=8))
def test_random_text_reads_back_in_wsproto(texts: list[str]) -> None:
    assert wsproto_server_parse(b"".join(encode_text(text) for text in texts)) == texts


def test_masking_is_the_rfc_xor_with_a_fresh_key_per_frame() -> None:
    text = "the same text, framed again and again"
    frames = [encode_text(text) for _ in range(100)]
    keys = set()
    for frame in frames:
        first, key, payload = unmask(frame)
        assert first == 0x81
        assert payload == text.encode()
        keys.add(key)
    assert len(keys) == 100  # 100 draws of 32 random bits: a repeat is a 1-in-a-million event


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_reuse_the_parents_next_keys() -> None:
    encode_text("fill the pool")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, unmask(encode_text("x"))[1])
        os._exit(0)
    os.close(write_end)
    child_key = os.read(read_end, 4)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_key) == 4
    assert child_key != unmask(encode_text("x"))[1]


def test_text_we_cannot_encode_raises_like_wsproto() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_text("\ud800")
    with pytest.raises(UnicodeEncodeError):
        Connection(ConnectionType.CLIENT).send(TextMessage(data="\ud800"))


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, ""), (1000, "bye"), (1001, "going away"), (1009, "too big"), (4000, "é€😀"),
     (3000, "x" * 123)],
)  # fmt: skip
def test_close_reads_back_in_wsproto(code: int, reason: str) -> None:
    assert wsproto_server_parse(encode_close(code, reason)) == [Close(code, reason)]


def test_close_without_a_code_reads_as_1005_in_wsproto() -> None:
    assert wsproto_server_parse(encode_close(None)) == [Close(1005, "")]
    assert unmask(encode_close(None))[2] == b""


@pytest.mark.parametrize("reason", ["x" * 124, "é" * 70, "😀" * 40, "a" + "€" * 50])
def test_a_long_close_reason_is_cut_on_a_character_like_wsproto(reason: str) -> None:
    ours = wsproto_server_parse(encode_close(1000, reason))
    theirs = wsproto_server_parse(
        Connection(ConnectionType.CLIENT).send(CloseConnection(code=1000, reason=reason))
    )
    assert ours == theirs
    assert len(unmask(encode_close(1000, reason))[2]) <= 125


@pytest.mark.parametrize("code", [0, 999, 1004, 1006, 1015, 1016, 2999, 5000])
def test_a_close_code_no_endpoint_may_send_is_refused(code: int) -> None:
    with pytest.raises(ValueError):
        encode_close(code)


@pytest.mark.parametrize("payload", [b"", b"p", b"\x00\xff" * 62 + b"!"])
def test_pong_reads_back_in_wsproto(payload: bytes) -> None:
    assert wsproto_server_parse(encode_pong(payload)) == [Pong(payload)]


def test_a_pong_longer_than_a_control_frame_allows_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_pong(b"x" * 126)


# -- frames a wsproto server sends, read by us and by a wsproto client ---------------------


def server_bytes(events: Sequence[WsEvent]) -> bytes:
    server = Connection(ConnectionType.SERVER)
    return b"".join(server.send(event) for event in events)


SEQUENCES: dict[str, list[WsEvent]] = {
    **{f"text {size}": [TextMessage(data="t" * size)] for size in SIZES},
    **{f"binary {size}": [BytesMessage(data=b"\x00\xff" * (size // 2))] for size in SIZES},
    "multibyte": [TextMessage(data=sample * 50) for sample in SAMPLES],
    "many": [TextMessage(data=f"message {i}" * i) for i in range(60)],
    "fragmented text": [
        TextMessage(data="ab", message_finished=False),
        TextMessage(data="", message_finished=False),
        TextMessage(data="€😀" * 100, message_finished=False),
        TextMessage(data="end"),
        TextMessage(data="next"),
    ],
    "fragmented with control frames between": [
        TextMessage(data="one", message_finished=False),
        WsPing(payload=b"ping in the middle"),
        TextMessage(data="two" * 50_000, message_finished=False),
        WsPong(payload=b"pong in the middle"),
        TextMessage(data="three"),
    ],
    "fragmented binary": [
        BytesMessage(data=b"\x01" * 70_000, message_finished=False),
        BytesMessage(data=b"\x02"),
    ],
    "pings and pongs": [
        WsPing(payload=b""),
        WsPing(payload=b"x" * 125),
        WsPong(payload=b""),
        WsPong(payload=b"\xff" * 10),
    ],
    "close with code and reason": [TextMessage(data="last"), CloseConnection(1001, "é bye")],
    "close with a private code": [CloseConnection(4321, "")],
    "close without a code": [TextMessage(data="last"), CloseConnection(1005)],
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_server_frames_read_like_wsproto_in_any_chunking(name: str) -> None:
    data = server_bytes(SEQUENCES[name])
    expected = wsproto_client_parse([data])
    assert expected, "the reference saw nothing"
    small = len(data) < 20_000
    for chunks in chunkings(data) if small else [[data], cut(data, [1, 7, 300, 5000, 70_001])]:
        assert our_parse(chunks) == expected
        assert wsproto_client_parse(chunks) == expected


def test_nothing_is_read_after_a_close_frame_like_wsproto() -> None:
    data = server_bytes([TextMessage(data="a"), CloseConnection(1000, "done")])
    data += raw(1, b"after the close") + b"\xff\xff\xff garbage"
    assert our_parse([data]) == wsproto_client_parse([data]) == ["a", Close(1000, "done")]
    parser = FrameParser()
    parser.feed(data)
    assert parser.closed
    assert parser.feed(raw(1, b"more")) == []


def test_a_character_split_between_fragments_is_assembled() -> None:
    encoded = "a€😀".encode()
    data = b"".join(
        [
            raw(1, encoded[:2], fin=False),
            raw(0, encoded[2:4], fin=False),
            raw(0, encoded[4:]),
        ]
    )
    for chunks in chunkings(data):
        assert our_parse(chunks) == wsproto_client_parse(chunks) == ["a€😀"]


control_events = st.one_of(
    st.binary(max_size=125).map(lambda payload: WsPing(payload=payload)),
    st.binary(max_size=125).map(lambda payload: WsPong(payload=payload)),
)


@st.composite
def server_streams(draw: st.DrawFn) -> list[WsEvent]:
    events: list[WsEvent] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "fragments", "control"]))
        if kind == "text":
            size = draw(st.sampled_from([0, 10, 125, 126, 200, 70_000]))
            events.append(TextMessage(data=draw(st.text(min_size=1, max_size=20)) * size))
        elif kind == "binary":
            events.append(BytesMessage(data=draw(st.binary(max_size=300))))
        elif kind == "fragments":
            parts = draw(st.lists(st.text(max_size=40), min_size=2, max_size=5))
            for part in parts[:-1]:
                events.append(TextMessage(data=part, message_finished=False))
                if draw(st.booleans()):
                    events.append(draw(control_events))
            events.append(TextMessage(data=parts[-1]))
        else:
            events.append(draw(control_events))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999]))
        events.append(CloseConnection(code, draw(st.text(max_size=30))))
    return events


@settings(max_examples=200, deadline=None)
@given(server_streams(), st.lists(st.integers(min_value=0), max_size=12))
def test_random_server_streams_read_like_wsproto(events: list[WsEvent], points: list[int]) -> None:
    data = server_bytes(events)
    chunks = cut(data, points)
    expected = wsproto_client_parse([data])
    assert our_parse(chunks) == expected
    assert our_parse([data]) == expected


# -- violations ----------------------------------------------------------------------------

PROTOCOL_ERROR, INVALID_PAYLOAD, TOO_BIG = 1002, 1007, 1009

VIOLATIONS: dict[str, tuple[bytes, int]] = {
    "masked server frame": (raw(1, b"hello", mask=b"\x01\x02\x03\x04"), PROTOCOL_ERROR),
    "masked empty ping": (raw(9, mask=b"abcd"), PROTOCOL_ERROR),
    "rsv1": (raw(1, b"x", rsv=0x40), PROTOCOL_ERROR),
    "rsv2": (raw(1, b"x", rsv=0x20), PROTOCOL_ERROR),
    "rsv3": (raw(1, b"x", rsv=0x10), PROTOCOL_ERROR),
    "rsv1 on a ping": (raw(9, rsv=0x40), PROTOCOL_ERROR),
    **{f"opcode {op:#x}": (raw(op, b"x"), PROTOCOL_ERROR) for op in [3, 4, 5, 6, 7]},
    **{f"opcode {op:#x}": (raw(op), PROTOCOL_ERROR) for op in [0xB, 0xC, 0xD, 0xE, 0xF]},
    "fragmented ping": (raw(9, b"p", fin=False), PROTOCOL_ERROR),
    "fragmented close": (raw(8, b"\x03\xe8", fin=False), PROTOCOL_ERROR),
    "ping of 126 bytes": (raw(9, b"p" * 126), PROTOCOL_ERROR),
    "pong of 65536 bytes": (raw(10, b"p" * 65536), PROTOCOL_ERROR),
    "close of 126 bytes": (raw(8, b"\x03\xe8" + b"r" * 124), PROTOCOL_ERROR),
    "continuation without a start": (raw(0, b"x"), PROTOCOL_ERROR),
    "final continuation without a start": (raw(0, b"x", fin=True), PROTOCOL_ERROR),
    "text inside a fragmented text": (raw(1, b"a", fin=False) + raw(1, b"b"), PROTOCOL_ERROR),
    "binary inside a fragmented text": (raw(1, b"a", fin=False) + raw(2, b"b"), PROTOCOL_ERROR),
    "text after a finished fragmented text": (
        raw(1, b"a", fin=False) + raw(0, b"b") + raw(0, b"c"),
        PROTOCOL_ERROR,
    ),
    "2-byte length for 5 bytes": (raw(1, b"hello", length_bytes=2), PROTOCOL_ERROR),
    "8-byte length for 200 bytes": (raw(1, b"h" * 200, length_bytes=8), PROTOCOL_ERROR),
    "8-byte length with the top bit": (raw(2, length=1 << 63), PROTOCOL_ERROR),
    "invalid utf-8": (raw(1, b"\xff\xfe"), INVALID_PAYLOAD),
    "utf-16 surrogate in utf-8": (raw(1, b"\xed\xa0\x80"), INVALID_PAYLOAD),
    "overlong utf-8": (raw(1, b"\xc0\xaf"), INVALID_PAYLOAD),
    "code point above U+10FFFF": (raw(1, b"\xf4\x90\x80\x80"), INVALID_PAYLOAD),
    "truncated utf-8": (raw(1, "€".encode()[:2]), INVALID_PAYLOAD),
    "invalid utf-8 in a fragment": (raw(1, b"ok", fin=False) + raw(0, b"\xff"), INVALID_PAYLOAD),
    "utf-8 cut at the end of fragments": (
        raw(1, b"ok", fin=False) + raw(0, "€".encode()[:1]),
        INVALID_PAYLOAD,
    ),
    "close with 1 byte": (raw(8, b"\x03"), PROTOCOL_ERROR),
    **{
        f"close code {code}": (raw(8, code.to_bytes(2, "big")), PROTOCOL_ERROR)
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
    },
    "close reason not utf-8": (raw(8, b"\x03\xe8\xff"), INVALID_PAYLOAD),
    "violation after good frames": (raw(1, b"good") + raw(9) + raw(1, b"x", rsv=0x40), 1002),
}


@pytest.mark.parametrize("name", VIOLATIONS)
def test_violations_are_rejected_with_the_code_wsproto_picks(name: str) -> None:
    data, code = VIOLATIONS[name]
    assert wsproto_verdict(data) == code
    for chunks in chunkings(data) if len(data) < 5000 else [[data], cut(data, [3, 100])]:
        assert our_verdict(chunks) == code


def test_what_came_before_a_violation_is_kept_and_the_error_sticks() -> None:
    parser = FrameParser()
    with pytest.raises(FramingError) as info:
        parser.feed(raw(1, b"good") + raw(9, b"hi") + raw(1, b"bad", rsv=0x40) + raw(1, b"x"))
    assert info.value.code == 1002
    assert info.value.events == ["good", Ping(b"hi")]
    with pytest.raises(FramingError) as again:
        parser.feed(raw(1, b"later"))
    assert again.value is info.value


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012])
def test_close_codes_both_accept(code: int) -> None:
    data = raw(8, code.to_bytes(2, "big") + b"why")
    assert wsproto_verdict(data) is None
    assert our_parse([data]) == wsproto_client_parse([data]) == [Close(code, "why")]


@pytest.mark.parametrize("code", [1013, 3000, 3999, 4000, 4999])
def test_registered_and_private_close_codes_are_accepted(code: int) -> None:
    data = raw(8, code.to_bytes(2, "big"))
    assert wsproto_verdict(data) is None
    assert our_parse([data]) == [Close(code, "")]


def test_close_code_1014_is_accepted_where_wsproto_refuses_it() -> None:
    """1014 (Bad Gateway) is in the IANA registry; wsproto 1.x predates it."""
    data = raw(8, (1014).to_bytes(2, "big"))
    assert wsproto_verdict(data) == 1002
    assert our_parse([data]) == [Close(1014, "")]


# -- the size cap (wsproto has none) ------------------------------------------------------


def test_a_message_at_the_cap_passes_and_one_byte_more_fails_from_the_header() -> None:
    assert our_parse([raw(1, b"a" * 1000)], max_message_size=1000) == ["a" * 1000]
    too_big = raw(1, b"a" * 1001)
    assert our_verdict([too_big[:4]], max_message_size=1000) == TOO_BIG


def test_the_cap_counts_every_fragment_of_a_message() -> None:
    first, second = raw(1, b"a" * 600, fin=False), raw(0, b"b" * 400)
    assert our_parse([first + second], max_message_size=1000) == ["a" * 600 + "b" * 400]
    over = raw(0, b"b" * 401)
    assert our_verdict([first, over[:4]], max_message_size=1000) == TOO_BIG
    # Control frames in between do not count.
    between = first + raw(9, b"p" * 125) + second
    assert our_parse([between], max_message_size=1000) == [Ping(b"p" * 125), "a" * 600 + "b" * 400]


@pytest.mark.parametrize("length", [MAX_MESSAGE_SIZE + 1, 1 << 40, (1 << 63) - 1])
def test_a_huge_length_is_refused_before_its_payload(length: int) -> None:
    parser = FrameParser()
    with pytest.raises(FramingError) as info:
        parser.feed(raw(1, length=length))  # the header alone
    assert info.value.code == TOO_BIG
    assert wsproto_verdict(raw(1, length=length)) is None  # wsproto would wait and buffer


def test_a_message_of_exactly_the_default_cap_passes_in_reads_of_16_kib() -> None:
    data = raw(1, b"m" * MAX_MESSAGE_SIZE) + raw(1, b"after")
    parser = FrameParser()
    found: list[Event] = []
    for at in range(0, len(data), 16 * 1024):
        found += parser.feed(data[at : at + 16 * 1024])
    assert len(found) == 2
    assert found[0] == "m" * MAX_MESSAGE_SIZE
    assert found[1] == "after"


def test_bytearray_and_memoryview_reads_are_accepted() -> None:
    data = raw(1, b"hello") + raw(1, b"world")
    parser = FrameParser()
    assert parser.feed(bytearray(data[:4])) == []
    assert parser.feed(memoryview(data)[4:]) == ["hello", "world"]


# -- the upgrade ---------------------------------------------------------------------------


def test_accept_value_matches_the_rfc_example() -> None:
    assert accept_value(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade_with_wsproto(
    host: str = "relay.example.com", target: str = "/api/relay/wss", answer: WsEvent | None = None
) -> tuple[bytes, bytes, Request]:
    """Our request through a wsproto server; return its answer bytes, our accept, its view."""
    request, accept = upgrade_request(host, target)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(request)
    seen = list(server.events())
    assert len(seen) == 1
    assert isinstance(seen[0], Request)
    return server.send(answer or AcceptConnection()), accept, seen[0]


def test_the_upgrade_is_accepted_by_wsproto_and_its_answer_by_us() -> None:
    answer, accept, seen = upgrade_with_wsproto()
    assert seen.host == "relay.example.com"
    assert seen.target == "/api/relay/wss"
    assert seen.extensions == []
    assert seen.subprotocols == []
    assert parse_upgrade_response(answer, accept) == len(answer)
    for size in range(len(answer)):
        assert parse_upgrade_response(answer[:size], accept) is None


def test_frames_right_after_the_upgrade_are_left_for_the_parser() -> None:
    answer, accept, _ = upgrade_with_wsproto()
    frames = server_bytes([TextMessage(data="early"), WsPing(payload=b"p")])
    head = parse_upgrade_response(answer + frames, accept)
    assert head == len(answer)
    assert our_parse([(answer + frames)[head:]]) == ["early", Ping(b"p")]


@pytest.mark.parametrize("status", [400, 403, 404, 426, 500, 200])
def test_a_refused_upgrade_reports_the_status(status: int) -> None:
    answer, accept, _ = upgrade_with_wsproto(answer=RejectConnection(status_code=status))
    with pytest.raises(HandshakeError) as info:
        parse_upgrade_response(answer, accept)
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)


GOOD_HEAD = (
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: {accept}\r\n"
)


def answer(accept: bytes, extra: str = "", head: str = GOOD_HEAD) -> bytes:
    return (head.format(accept=accept.decode()) + extra + "\r\n").encode()


def test_an_upgrade_answer_with_other_spellings_is_accepted() -> None:
    _, accept = upgrade_request("h")
    spelled = (
        "HTTP/1.1 101 Switching\r\n"
        "upgrade:WebSocket\r\n"
        "CONNECTION: keep-alive, upgrade\r\n"
        "sec-websocket-accept:   {accept}  \r\n"
        "Server: test\r\n"
    )
    data = answer(accept, head=spelled)
    assert parse_upgrade_response(data, accept) == len(data)


@pytest.mark.parametrize(
    "bad",
    [
        GOOD_HEAD.replace("{accept}", "c3BvdA=="),
        GOOD_HEAD.replace("Sec-WebSocket-Accept: {accept}\r\n", ""),
        GOOD_HEAD + "Sec-WebSocket-Accept: {accept}\r\n",
        GOOD_HEAD.replace("Upgrade: websocket\r\n", ""),
        GOOD_HEAD.replace("Upgrade: websocket", "Upgrade: h2c"),
        GOOD_HEAD.replace("Connection: Upgrade", "Connection: keep-alive"),
        GOOD_HEAD + "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        GOOD_HEAD + "Sec-WebSocket-Protocol: chat\r\n",
        GOOD_HEAD.replace("HTTP/1.1", "HTTP/1.0"),
        GOOD_HEAD.replace("HTTP/1.1 101", "HTTP/1.1 1O1"),
        GOOD_HEAD + "no colon here\r\n",
        GOOD_HEAD + "Bad Name: value\r\n",
        GOOD_HEAD + " folded: continuation\r\n",
        "SSH-2.0-OpenSSH_9.6\r\n",
    ],
)
def test_a_wrong_upgrade_answer_is_refused(bad: str) -> None:
    _, accept = upgrade_request("h")
    with pytest.raises(HandshakeError) as info:
        parse_upgrade_response(answer(accept, head=bad), accept)
    assert info.value.status is None


def test_an_endless_upgrade_answer_is_refused() -> None:
    _, accept = upgrade_request("h")
    assert parse_upgrade_response(b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 1000, accept) is None
    with pytest.raises(HandshakeError):
        parse_upgrade_response(b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 4000, accept)


@pytest.mark.parametrize(
    ("host", "target"),
    [("a b", "/"), ("h\r\nX-Evil: 1", "/"), ("", "/"), ("h", "relay"), ("h", "/a b"),
     ("h", "/\r\n"), ("h\u00e9 x", "/"), ("h", "/\u00e9")],
)  # fmt: skip
def test_a_host_or_target_that_could_smuggle_a_header_is_refused(host: str, target: str) -> None:
    with pytest.raises(ValueError):
        upgrade_request(host, target)


def test_a_host_beyond_ascii_goes_out_in_idna_like_wsproto() -> None:
    _, _, seen = upgrade_with_wsproto(host="b\u00fccher.example:8443")
    assert seen.host == "b\u00fccher.example:8443"  # wsproto decodes the IDNA form back
    theirs = WSConnection(ConnectionType.CLIENT).send(
        Request(host="b\u00fccher.example", target="/")
    )
    assert b"Host: xn--bcher-kva.example\r\n" in theirs
    assert b"Host: xn--bcher-kva.example\r\n" in upgrade_request("b\u00fccher.example")[0]


def test_each_upgrade_uses_a_fresh_key() -> None:
    requests = {upgrade_request("h")[0] for _ in range(20)}
    assert len(requests) == 20
