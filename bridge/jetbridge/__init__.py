"""jetbridge: Jet Admin's messages endpoint, served by gRPC action servers."""

import os
import sys

# gRPC's EventEngine client passes every call between more threads than its older I/O path; on
# the bridge's hot path the older one saves ~10 % of CPU and of latency per call (bench/, A/B in
# bench/analysis.md). gRPC reads the switch once, when it is first imported, so it is set here,
# before anything imports grpc, and only then: never under a process that already uses gRPC, and
# never over an explicit GRPC_EXPERIMENTS (set it empty to keep gRPC's defaults).
if "grpc" not in sys.modules and "GRPC_EXPERIMENTS" not in os.environ:
    os.environ["GRPC_EXPERIMENTS"] = "-event_engine_client,-event_engine_callback_cq"

from jetbridge._version import __version__

__all__ = ["__version__"]
