"""In-process action servers: the bridge calls a Python ``ActionServer``'s handlers directly.

For single-process deployments the bridge can load the action server's module itself and skip
the network hop. Give the service as

    --service shop=inprocess:MODULE:ATTR

where MODULE:ATTR is read as ``jetactions serve MODULE:ATTR`` reads it: MODULE is a dotted
module name (imported with the working directory on ``sys.path``, as ``python -m`` would) or the
path of a ``.py`` file (its directory goes on ``sys.path``, as ``python file.py`` would), and
ATTR names either a ``jetactions.ActionServer`` or a callable that takes no arguments and returns
one, for example ``inprocess:examples/python/shop.py:build_app`` or
``inprocess:myactions.shop:app``.

The calls go through the SDK's public in-process transport, ``jetactions.InProcessChannel``: the
same servicer the SDK's gRPC server runs answers them, through the generated stub, without
serialization or sockets. Deadlines, cancellation, metadata and gRPC statuses behave as over the
network (every failure is the ``grpc.aio.AioRpcError`` a real channel raises), so routing and
discovery treat both kinds of service alike. Sync handlers run in the app's own bounded
``sync_pool``. Each bridge process builds its own copy of the action server: state kept in memory
by the handlers is not shared between processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from jetactions import ActionServer, InProcessChannel
from jetactions.cli import resolve_app
from jetactions.v1 import actions_pb2_grpc
from jetbridge.config import INPROCESS_PREFIX as PREFIX
from jetbridge.config import is_inprocess

__all__ = [
    "PREFIX",
    "connect",
    "is_inprocess",
    "load_registry",
    "resolve",
]

log = logging.getLogger(__name__)


def resolve(target: str) -> Callable[[], ActionServer]:
    """Import the module of `target` and return what builds its action server (the SDK's
    loader: `jetactions serve` reads MODULE:ATTR the same way). A factory is not called here.

    Raises ValueError (`jetactions.cli.AppLoadError`), with a message that names the problem,
    when the module cannot be imported or the attribute is neither an ActionServer nor a
    callable.
    """
    return resolve_app(target.removeprefix(PREFIX).strip())


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
