"""TLS for the action server: its certificate, and optionally the clients it accepts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = ["ServerTLS"]


@dataclass(frozen=True, kw_only=True)
class ServerTLS:
    """Serve over TLS; with `client_ca_file`, over mutual TLS.

    Args:
        cert_file: PEM certificate chain of the server.
        key_file: PEM private key of that certificate.
        client_ca_file: PEM of the CAs that sign accepted client certificates. When set, a
            client (the bridge) must present a certificate signed by one of them.
    """

    cert_file: str
    key_file: str
    client_ca_file: str = ""

    def credentials(self) -> grpc.ServerCredentials:
        """The gRPC server credentials, read from the files now."""
        pair = (Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes())
        client_ca = Path(self.client_ca_file).read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
        )
