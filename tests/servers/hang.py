"""An action server whose sync handler hangs forever, for the sync pool's tests.

Run: python tests/servers/hang.py --address 127.0.0.1:PORT [--sync-workers N] [--grace SECONDS]
"""

from __future__ import annotations

import argparse
import threading

from jetactions import ActionContext, ActionServer

NEVER = threading.Event()  # never set: `hang` blocks its worker thread for good


def build_app(sync_workers: int) -> ActionServer:
    app = ActionServer(name="hang", sync_workers=sync_workers)

    @app.common_action()
    def hang(ctx: ActionContext) -> None:
        NEVER.wait()

    @app.common_action()
    def quick(ctx: ActionContext) -> str:
        return "quick"

    @app.common_action()
    async def ping(ctx: ActionContext) -> str:
        return "pong"

    @app.common_action()
    async def pool(ctx: ActionContext) -> dict[str, int]:
        return {"busy": app.sync_pool.busy, "stuck": app.sync_pool.stuck}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--sync-workers", type=int, default=32)
    parser.add_argument("--grace", type=float, default=1.0)
    args = parser.parse_args()
    build_app(args.sync_workers).run(args.address, grace=args.grace)


if __name__ == "__main__":
    main()
