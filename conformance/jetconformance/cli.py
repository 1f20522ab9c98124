"""`jetbridge conformance`: the suite as a command, for action servers in any language.

`jetbridge.cli` hands every argument after `conformance` to `main`; this module owns the flags.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from jetconformance._runner import run

SECRET_ENV = "JETBRIDGE_SECRET"

DESCRIPTION = """\
Check an action server against the ActionService contract: directly over gRPC, and through a
bridge this command starts on a free 127.0.0.1 port. By default the checks follow from what the
server declares in ListActions (any server); --spec shop checks the example shop of
examples/ACTIONS.md exactly. Prints one line per check; exits 0 when none failed, 1 otherwise,
2 for a usage error. Every action is run: point it at a development server."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `jetbridge conformance`."""
    parser = argparse.ArgumentParser(prog="jetbridge conformance", description=DESCRIPTION)
    parser.add_argument("address", help="the action server's gRPC address, HOST:PORT")
    parser.add_argument(
        "--spec",
        choices=["shop"],
        help="check the example shop's exact answers instead of the generic checks",
    )
    parser.add_argument(
        "--prefix",
        default="",
        help="with --spec shop: what the server puts in front of every action and model name",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="ACTION",
        help="generic checks: never run this action (side effects); repeatable",
    )
    parser.add_argument(
        "--secret",
        default=None,
        help=(
            f"the shared secret the server requires (env {SECRET_ENV}): sent on every call, and "
            "calls without it must be refused"
        ),
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
    return parser


async def main(argv: Sequence[str]) -> int:
    """Run the suite as `argv` asks; 0 when no check failed, 1 otherwise (2: usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.spec is None and args.prefix:
        parser.error("--prefix needs --spec shop (the generic checks read names from ListActions)")
    if args.spec is not None and args.exclude:
        parser.error("--exclude is for the generic checks; --spec shop runs exactly its actions")
    secret = os.environ.get(SECRET_ENV, "") if args.secret is None else args.secret
    # The bridge logs every 4xx it answers; the suite provokes several on purpose.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    report = await run(
        args.address,
        suite=args.spec or "generic",
        prefix=args.prefix,
        exclude=args.exclude,
        secret=secret,
        grpc_checks=not args.bridge_only,
        bridge_checks=not args.grpc_only,
    )
    print(report.json() if args.json else report.text())
    return 0 if report.ok else 1
