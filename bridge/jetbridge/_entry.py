"""The `jetbridge` command's entry point: it picks gRPC's I/O path, then runs the command.

gRPC's EventEngine client passes every call between more threads than its older I/O path; on
the bridge's hot path the older one saves ~10 % of CPU and of latency per call (bench/, A/B in
bench/analysis.md). gRPC reads the switch once, when it is first imported, so the command sets
it before importing anything that imports grpc, and never over an explicit GRPC_EXPERIMENTS (set
it empty to keep gRPC's defaults). `import jetbridge` alone changes nothing in the process.
"""

from __future__ import annotations

import os
import sys

OLDER_IO_PATH = "-event_engine_client,-event_engine_callback_cq"


def prefer_older_grpc_io_path() -> None:
    """Choose gRPC's older client I/O path, unless grpc is loaded or the choice was made."""
    if "grpc" not in sys.modules and "GRPC_EXPERIMENTS" not in os.environ:
        os.environ["GRPC_EXPERIMENTS"] = OLDER_IO_PATH


def main() -> None:
    """Entry point of the `jetbridge` command (and of `python -m jetbridge`)."""
    prefer_older_grpc_io_path()
    from jetbridge.cli import main as run

    run()
