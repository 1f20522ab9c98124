"""A small action server for tests/test_sdk_ops.py, served by `jetactions serve`.

Run: jetactions serve tests/servers/ops.py:app --address 127.0.0.1:0
(`build` is the same server as a zero-argument factory.)
"""

from __future__ import annotations

import logging

from jetactions import ActionContext, ActionServer, FieldContext, FieldErrors, File, Option

log = logging.getLogger("ops")


def build() -> ActionServer:
    server = ActionServer(name="ops")

    @server.common_action(label="Echo the request id")
    async def whoami(ctx: ActionContext) -> dict[str, str]:
        log.info("handling whoami")
        return {"result": "ok", "request_id": ctx.request_id}

    @server.model_action("users", bulk=True, label="Sync in a thread")
    def sync_users(ctx: ActionContext) -> str:
        return f"{len(ctx.ids)} users, request {ctx.request_id}"

    @server.common_action(label="Refuse")
    async def refuse(ctx: ActionContext) -> None:
        raise FieldErrors.single("name", "taken")

    @server.common_action(label="Download")
    async def download(ctx: ActionContext) -> File:
        return File("a.txt", b"a")

    @server.common_action(label="Break")
    async def explode(ctx: ActionContext) -> None:
        raise RuntimeError("private detail")

    @server.field_options("users", "city")
    async def cities(ctx: FieldContext) -> list[Option]:
        return [Option("rome", "Rome")]

    return server


app = build()
