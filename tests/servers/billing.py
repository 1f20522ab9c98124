"""A second action server for the bridge's tests: failures on demand, echoes, counters.

Run: python tests/servers/billing.py --address 127.0.0.1:PORT [--duplicates] [--extra]
     [--grace SECONDS] [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
With --duplicates it also declares `mail_users` and options for (orders, city), which the example
shop server declares too, to exercise the bridge's conflict rule; with --extra it declares one
more action, `late_action`, to show the bridge picking up a changed action set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from decimal import Decimal
from typing import Any

import grpc

from jetactions import (
    ActionContext,
    ActionError,
    ActionServer,
    FieldContext,
    File,
    Option,
    Result,
    ServerTLS,
)

calls = {"charged": 0, "counted": 0, "flaky": 0, "flaky_idempotent": 0, "cancelled": 0}


def build_app(duplicates: bool, extra: bool) -> ActionServer:
    app = ActionServer(name="billing")

    @app.common_action(label="Charge")
    async def charge(ctx: ActionContext, amount: Decimal) -> Result:
        calls["charged"] += 1  # tests see which replica served how many (the `stats` action)
        return Result(message=f"Charged {amount}")

    @app.common_action()
    async def counted(ctx: ActionContext, amount: int) -> dict[str, Any]:
        calls["counted"] += 1
        return {"count": calls["counted"], "amount": amount}

    @app.common_action()
    def call_count(ctx: ActionContext) -> dict[str, Any]:
        return {"result": calls["counted"]}

    @app.common_action()
    async def slow(ctx: ActionContext, seconds: float) -> Result:
        print("slow: started", flush=True)  # tests wait for this line: the call is here
        await asyncio.sleep(seconds)
        return Result(message=f"slept {seconds}")

    @app.common_action()
    async def cancellable(ctx: ActionContext, seconds: float) -> Result:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            calls["cancelled"] += 1
            raise
        return Result(message="not cancelled")

    @app.common_action()
    def stats(ctx: ActionContext) -> dict[str, Any]:
        return {"pid": os.getpid(), **calls}

    @app.common_action(timeout=0.5)
    async def short_deadline(ctx: ActionContext) -> dict[str, Any]:
        return {"time_remaining": ctx.time_remaining()}

    # Every other call fails with UNAVAILABLE: a second attempt succeeds.
    @app.common_action(idempotent=True)
    async def flaky_idempotent(ctx: ActionContext) -> dict[str, Any]:
        return _flaky("flaky_idempotent")

    @app.common_action()
    async def flaky(ctx: ActionContext) -> dict[str, Any]:
        return _flaky("flaky")

    @app.common_action()
    async def big_file(ctx: ActionContext, size: int) -> File:
        return File("big.bin", b"x" * size, content_type="application/octet-stream")

    @app.common_action()
    async def fail_with(ctx: ActionContext, code: str) -> None:
        raise ActionError(grpc.StatusCode[code], f"failed with {code}")

    @app.common_action()
    async def crash(ctx: ActionContext) -> None:
        raise RuntimeError("internal detail that must not reach the browser")

    @app.model_action("invoices", for_instance=True, bulk=True)
    def echo(ctx: ActionContext) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "model": ctx.model,
            "ids": ctx.ids,
            "inverse_ids": ctx.inverse_ids,
            "inputs": ctx.inputs,
            "params": ctx.params,
            "time_remaining": ctx.time_remaining(),
        }

    if duplicates:

        @app.model_action("users", name="mail_users", for_instance=True, bulk=True)
        async def mail_users_twin(ctx: ActionContext) -> Result:
            return Result(message="billing's mail_users")

        @app.field_options("orders", "city")
        async def cities_twin(ctx: FieldContext) -> list[Option]:
            return [Option("billing", "Billing's city")]

    if extra:

        @app.common_action()
        async def late_action(ctx: ActionContext) -> Result:
            return Result(message="late")

    return app


def _flaky(counter: str) -> dict[str, Any]:
    calls[counter] += 1
    if calls[counter] % 2:
        raise ActionError(grpc.StatusCode.UNAVAILABLE, "try again")
    return {"attempt": calls[counter]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.1:50060")
    parser.add_argument("--duplicates", action="store_true")
    parser.add_argument("--extra", action="store_true")
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--tls-client-ca", default="")
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ServerTLS(
            cert_file=args.tls_cert, key_file=args.tls_key, client_ca_file=args.tls_client_ca
        )
    build_app(args.duplicates, args.extra).run(args.address, grace=args.grace, tls=tls)


if __name__ == "__main__":
    main()
