"""jetbridge: Jet Admin's messages endpoint, served by gRPC action servers."""

from jetbridge._version import __version__

__all__ = ["__version__"]
