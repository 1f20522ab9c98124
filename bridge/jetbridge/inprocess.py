"""In-process action servers: the bridge calls a Python ``ActionServer``'s handlers directly.

For single-process deployments the bridge can load the action server's module itself and skip
the network hop. Give the service as

    --service shop=inprocess:MODULE:ATTR

where MODULE is a dotted module name (imported with the working directory on ``sys.path``, as
``python -m`` would) or the path of a ``.py`` file (its directory goes on ``sys.path``, as
``python file.py`` would), and ATTR names either a ``jetactions.ActionServer`` or a callable
that takes no arguments and returns one, for example
``inprocess:examples/python/shop.py:build_app`` or ``inprocess:myactions.shop:app``.

The calls go through the SDK's public in-process transport, ``jetactions.InProcessChannel``: the
same servicer the SDK's gRPC server runs answers them, through the generated stub, without
serialization or sockets. Deadlines, cancellation, metadata and gRPC statuses behave as over the
network (every failure is the ``grpc.aio.AioRpcError`` a real channel raises), so routing and
discovery treat both kinds of service alike. Sync handlers run in the app's own bounded
``sync_pool``. Each bridge process builds its own copy of the action server: state kept in memory
by the handlers is not shared between processes.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from jetactions import ActionServer, InProcessChannel
from jetactions.v1 import actions_pb2_grpc

__all__ = [
    "PREFIX",
    "connect",
    "is_inprocess",
    "load_registry",
    "resolve",
]

log = logging.getLogger(__name__)

PREFIX = "inprocess:"


def is_inprocess(target: str) -> bool:
    """Whether a service target names an in-process action server."""
    return target.startswith(PREFIX)


def _split(target: str) -> tuple[str, str]:
    spec = target.removeprefix(PREFIX).strip()
    module, sep, attr = spec.rpartition(":")
    if not sep or not module.strip() or not attr.strip():
        raise ValueError(
            f"{target!r} is not {PREFIX}MODULE:ATTR "
            f"(e.g. {PREFIX}examples/python/shop.py:build_app or {PREFIX}mypackage.actions:app)"
        )
    return module.strip(), attr.strip()


def _import(module: str) -> ModuleType:
    if module.endswith(".py") or "/" in module:
        path = Path(module).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {module}")
        name = "_jetbridge_inprocess_" + re.sub(r"\W", "_", str(path))
        if name in sys.modules:
            return sys.modules[name]
        # Like `python file.py`: the file's own directory first, so its sibling imports work.
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {module} as a Python module")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        return loaded
    # Like `python -m`: modules are looked up from the working directory too (the console
    # script's sys.path does not have it).
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(module)


def resolve(target: str) -> Callable[[], ActionServer]:
    """Import the module of `target` and return what builds its action server.

    Raises ValueError, with a message that names the problem, when the module cannot be imported
    or the attribute is neither an ActionServer nor a callable. A factory is not called here.
    """
    module_name, attr = _split(target)
    try:
        module = _import(module_name)
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(f"cannot import {module_name}: {type(error).__name__}: {error}") from None
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name} has no attribute {attr!r}") from None
    if isinstance(value, ActionServer):
        app = value
        return lambda: app
    if callable(value):
        factory: Callable[[], object] = value

        def build() -> ActionServer:
            built = factory()
            if not isinstance(built, ActionServer):
                raise ValueError(
                    f"{module_name}:{attr}() returned {type(built).__name__}, not an ActionServer"
                )
            return built

        return build
    raise ValueError(
        f"{module_name}:{attr} is a {type(value).__name__}, "
        "not an ActionServer nor a callable that returns one"
    )


def load_registry(target: str) -> ActionServer:
    """The registry named by `target`, built now (a factory is called once per call)."""
    return resolve(target)()


def connect(target: str) -> tuple[InProcessChannel, actions_pb2_grpc.ActionServiceStub]:
    """Build the action server named by `target` and return a channel and a stub for it.

    The server is frozen, as ``ActionServer.start`` freezes it: later registrations would not be
    served, so they fail loudly.
    """
    app = load_registry(target)
    app.freeze("it is served in-process by the bridge")
    channel = InProcessChannel(app)
    return channel, channel.stub
