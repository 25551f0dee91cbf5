"""Small waits shared by the client tests."""

from __future__ import annotations

from signalwire_relay_trio import ConnectionState, RelayConnection


async def wait_for_state(relay: RelayConnection, wanted: ConnectionState) -> None:
    """Return once the connection is in ``wanted`` (at once if it already is)."""
    async with relay.states() as states:
        async for state in states:
            if state is wanted:
                return
