"""Tests for frontdesk.py, against the fake RELAY server of signalwire_relay_trio."""

from frontdesk import NO_CHOICE, REPLIES, handle

from signalwire_relay_trio.testing import serving


def spoken(fake_relay):
    """Every text the app played with calling.play, from the journal of what it sent."""
    return [
        item["params"]["text"]
        for play in fake_relay.journal.all("calling.play")
        for item in play.params["play"]
    ]


async def test_pressing_1_reaches_sales(fake_relay, relay, autojump_clock):
    async with serving(relay, handle):  # relay.serve(handle) for the block
        caller = await fake_relay.inbound_call(context="office")
        await caller.wait_for_state("answered")
        await caller.press("1")
        await caller.wait_for_state("ended")
    assert REPLIES["1"] in spoken(fake_relay)


async def test_silence_gets_a_goodbye(fake_relay, relay, autojump_clock):
    async with serving(relay, handle):
        caller = await fake_relay.inbound_call(context="office")
        await caller.wait_for_state("ended")  # presses nothing: digit_timeout passes
    assert NO_CHOICE in spoken(fake_relay)
