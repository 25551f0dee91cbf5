"""The package's pytest plugin, for a checkout that was never ``pip install``-ed.

Installed, the plugin comes from the ``pytest11`` entry point and this does
nothing; in a bare checkout it registers the same module under the same
name, so the ``fake_relay``/``relay`` fixtures and the marker exist either
way (``-p no:signalwire_relay_trio`` still turns it off).
"""

from __future__ import annotations

import pytest

from signalwire_relay_trio.testing import _plugin

PLUGIN_NAME = "signalwire_relay_trio"  # the entry point's name


def pytest_configure(config: pytest.Config) -> None:
    manager = config.pluginmanager
    if not manager.is_registered(_plugin) and not manager.is_blocked(PLUGIN_NAME):
        manager.register(_plugin, PLUGIN_NAME)
