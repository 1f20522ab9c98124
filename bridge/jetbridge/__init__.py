"""jetbridge: Jet Admin's messages endpoint, served by gRPC action servers."""

__version__ = "0.1.0"

__all__ = ["__version__"]
