"""The installed jetbridge distribution's version: pyproject.toml is its one source."""

import importlib.metadata

__version__ = importlib.metadata.version("jetbridge")
