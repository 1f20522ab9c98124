"""jetbridge: Jet Admin's messages endpoint, served by gRPC action servers.

The `jetbridge` command is the usual way to run it. To serve it from code, or inside an aiohttp
application of your own:

```python
from aiohttp import web
from jetbridge import Auth, ServiceConfig, Settings, create_app

settings = Settings(
    services=(ServiceConfig(name="shop", target="127.0.0.1:50051"),),
    auth=Auth(bearer_keys=("a-long-random-key",)),
)
web.run_app(create_app(settings), host="127.0.0.1", port=8888)
```

Settings come in groups, each handed to the part of the bridge it configures: `http`, `limits`,
`calls`, `tls`, `auth`, `cors`, `observability` (README's tables name each one's fields).

The names below load on first use, so that `import jetbridge` imports no gRPC (the command picks
gRPC's I/O path before grpc loads: `jetbridge._entry`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jetbridge._version import __version__

if TYPE_CHECKING:
    from jetbridge.app import create_app
    from jetbridge.config import (
        HTTP,
        TLS,
        Auth,
        Calls,
        ConfigError,
        Cors,
        Limits,
        Observability,
        ServiceConfig,
        Settings,
        load_settings,
    )
    from jetbridge.server import BridgeRunner

__all__ = [
    "HTTP",
    "TLS",
    "Auth",
    "BridgeRunner",
    "Calls",
    "ConfigError",
    "Cors",
    "Limits",
    "Observability",
    "ServiceConfig",
    "Settings",
    "__version__",
    "create_app",
    "load_settings",
]

_HOMES = {
    **dict.fromkeys(
        ("HTTP", "TLS", "Auth", "Calls", "Cors", "Limits", "Observability"), "jetbridge.config"
    ),
    "BridgeRunner": "jetbridge.server",
    "ConfigError": "jetbridge.config",
    "ServiceConfig": "jetbridge.config",
    "Settings": "jetbridge.config",
    "create_app": "jetbridge.app",
    "load_settings": "jetbridge.config",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'jetbridge' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
