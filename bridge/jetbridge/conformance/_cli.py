"""`jetbridge conformance`: the suite as a command, for action servers in any language."""

from __future__ import annotations

import argparse
import logging

from jetbridge.conformance._runner import run
from jetbridge.conformance.spec import ACTIONS_DOC

DESCRIPTION = f"""\
Check an ActionService implementation of the example shop ({ACTIONS_DOC}): directly over gRPC,
and through a bridge this command starts on a free 127.0.0.1 port. Prints one line per check;
exits 0 when every check passes, 1 otherwise."""


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `conformance` subcommand to the `jetbridge` command line."""
    parser = commands.add_parser(
        "conformance",
        help="check an action server of the example shop, directly and through a bridge",
        description=DESCRIPTION,
    )
    parser.add_argument("address", help="the action server's gRPC address, HOST:PORT")
    parser.add_argument(
        "--prefix",
        default="",
        help="the prefix the server puts in front of every action and model name (e.g. go_)",
    )
    layers = parser.add_mutually_exclusive_group()
    layers.add_argument(
        "--grpc-only", action="store_true", help="only the checks that call the server directly"
    )
    layers.add_argument(
        "--bridge-only", action="store_true", help="only the checks through the bridge"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--verbose", action="store_true", help="show the log of the bridge the suite starts"
    )


async def main(args: argparse.Namespace) -> int:
    """Run the suite as `args` ask; the exit status is 0 when every check passed."""
    # The bridge logs every 4xx it answers; the suite provokes several on purpose.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    report = await run(
        args.address,
        prefix=args.prefix,
        grpc_checks=not args.bridge_only,
        bridge_checks=not args.grpc_only,
    )
    print(report.json() if args.json else report.text())
    return 0 if report.ok else 1
