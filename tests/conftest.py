"""Registers the suite's fixtures (tests/plugin.py); the helpers are in tests/support.py."""

pytest_plugins = ["tests.plugin"]
