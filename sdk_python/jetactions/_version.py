"""The version of the jetactions distribution: its one source (pyproject reads it too)."""

__version__ = "0.1.0"
