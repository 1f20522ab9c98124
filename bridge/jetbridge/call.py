"""`jetbridge call` and `jetbridge options`: the console's messages, sent from a terminal.

They send exactly what Jet Admin (and the console) send, to a running bridge (`--url`, with the
whole Authorization header taken from JETBRIDGE_AUTHORIZATION, never printed) or to action servers
through a bridge built in this process with authentication off (`--service`).

Exit codes: 0 success, 1 the action refused its inputs (field errors), 2 usage or configuration
error, 3 any other failure (unreachable, HTTP error, unknown action, a file that cannot be saved).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp.test_utils import TestServer

from jetbridge.config import ConfigError, load_settings

COMMANDS = ("call", "options")
AUTHORIZATION_ENV = "JETBRIDGE_AUTHORIZATION"
MESSAGES_PATH = "/api/messages/"

OK, FIELD_ERRORS, USAGE, FAILURE = 0, 1, 2, 3


class UsageError(ValueError):
    """A flag's value cannot be used; exit 2."""


def add_commands(commands: Any) -> None:
    """Register `call` and `options` on the `jetbridge` command's subparsers."""
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_argument_group("where to send (one of)")
    where.add_argument(
        "--url",
        help=f"a running bridge's base URL; Authorization from env {AUTHORIZATION_ENV}",
    )
    where.add_argument(
        "--service",
        dest="services",
        action="append",
        metavar="[NAME=]TARGET",
        help="an action server, repeatable: called through an in-process bridge, no auth",
    )
    target.add_argument("--json", action="store_true", help="print the raw answer")
    target.add_argument("--timeout", type=float, default=30.0, help="seconds, default 30")
    epilog = "exit codes: 0 success, 1 field errors, 2 usage or configuration, 3 other failure"

    call = commands.add_parser(
        "call", parents=[target], help="run one action (execute_action)", epilog=epilog
    )
    call.add_argument("action", help="the action's name")
    call.add_argument("--model", help="the collection; default: the action's only one")
    records = call.add_mutually_exclusive_group()
    records.add_argument("--id", help="one record id")
    records.add_argument("--ids", metavar="ID,ID", help="several record ids (bulk)")
    records.add_argument("--all-except", metavar="ID,ID", help="every record but these")
    call.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a form input, repeatable; NAME:=JSON for numbers, booleans, objects",
    )
    call.add_argument(
        "--output", help="where a file result is saved (- for stdout); default its own name"
    )

    options = commands.add_parser(
        "options",
        parents=[target],
        help="ask a select's options (get_field_options)",
        epilog=epilog,
    )
    options.add_argument("model", help="the collection ('' for a common action's field)")
    options.add_argument("field", help="the input's name")
    options.add_argument(
        "--form",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value already in the form, repeatable; NAME:=JSON as for --input",
    )


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """`name=text` as a string and `name:=json` as any JSON value."""
    values: dict[str, Any] = {}
    for pair in pairs:
        match = re.fullmatch(r"([^=:]+)(:?)=(.*)", pair, re.DOTALL)
        if not match:
            raise UsageError(f"{flag} {pair!r}: expected NAME=VALUE or NAME:=JSON")
        name, is_json, text = match.groups()
        if is_json:
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError as error:
                raise UsageError(f"{flag} {name}: not JSON: {error}") from None
        else:
            values[name] = text
    return values


def parse_id(text: str) -> int | str:
    """A record id as Jet sends it: a number when it looks like one, else the string."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,15}", text) else text


def parse_ids(text: str) -> list[int | str]:
    return [parse_id(part) for part in text.split(",") if part.strip()]


@dataclass
class Answer:
    """One HTTP answer of the bridge."""

    status: int
    body: bytes
    content_type: str
    disposition: str
    request_id: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Sender:
    """POSTs messages to one bridge's /api/messages/."""

    def __init__(self, session: aiohttp.ClientSession, url: str, authorization: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"Content-Type": "application/json"}
        if authorization:
            self.headers["Authorization"] = authorization

    async def send(self, name: str, params: dict[str, Any] | None = None) -> Answer:
        message: dict[str, Any] = {"name": name}
        if params is not None:
            message["params"] = params
        started = time.perf_counter()
        async with self.session.post(self.url, json=message, headers=self.headers) as response:
            body = await response.read()
            return Answer(
                status=response.status,
                body=body,
                content_type=response.headers.get("Content-Type", ""),
                disposition=response.headers.get("Content-Disposition", ""),
                request_id=response.headers.get("X-Request-ID", ""),
                elapsed=time.perf_counter() - started,
            )


def messages_url(url: str) -> str:
    """The messages endpoint of a bridge given by its base URL (or by the endpoint itself)."""
    if not re.match(r"https?://", url):
        raise UsageError(f"--url {url!r}: expected http://HOST:PORT")
    url = url.rstrip("/")
    return url + "/" if url.endswith(MESSAGES_PATH.rstrip("/")) else url + MESSAGES_PATH


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Sender]:
    """A Sender to the running bridge at --url, or to a bridge built here for --service."""
    if bool(args.url) == bool(args.services):
        raise UsageError("give either --url (a running bridge) or --service (action servers)")
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    if args.url:
        url = messages_url(args.url)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield Sender(session, url, os.environ.get(AUTHORIZATION_ENV, ""))
        return
    # Imported here: the in-process bridge pulls in grpc, which --url does not need.
    from jetbridge.app import create_app

    flags = {"services": args.services, "disable_auth": True, "address": "127.0.0.1"}
    settings = load_settings(flags, environ={k: v for k, v in os.environ.items() if k != "PORT"})
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield Sender(session, str(server.make_url(MESSAGES_PATH)), "")
    finally:
        await server.close()


async def main(args: argparse.Namespace) -> int:
    """Run `call` or `options`; the exit code."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        async with connect(args) as sender:
            if args.command == "call":
                return await _call(sender, args)
            return await _options(sender, args)
    except (UsageError, ConfigError) as error:
        print(f"jetbridge {args.command}: {error}", file=sys.stderr)
        return USAGE
    except (aiohttp.ClientError, TimeoutError) as error:
        reason = str(error) or type(error).__name__
        print(f"jetbridge {args.command}: no answer: {reason}", file=sys.stderr)
        return FAILURE


async def execute_params(sender: Sender, args: argparse.Namespace) -> dict[str, Any]:
    """execute_action's params, keyed in the order Jet sends them."""
    params: dict[str, Any] = {}
    model = args.model if args.model is not None else await _only_model(sender, args.action)
    if model:
        params["model"] = model
    params["name"] = args.action
    if args.id is not None:
        params["id"] = parse_id(args.id)
    elif args.ids is not None:
        params["ids"] = parse_ids(args.ids)
        params["inverseIds"] = False
    elif args.all_except is not None:
        params["ids"] = parse_ids(args.all_except)
        params["inverseIds"] = True
    params["params"] = parse_pairs(args.inputs, "--input")
    return params


async def _only_model(sender: Sender, action: str) -> str:
    """The collection of a model action that has exactly one, as Jet fills it in."""
    answer = await sender.send("get_action_list")
    if answer.status != 200:
        return ""
    for item in answer.json() or []:
        if isinstance(item, dict) and item.get("name") == action:
            model = (item.get("model_action") or {}).get("model")
            return model if isinstance(model, str) else ""
    return ""


async def _call(sender: Sender, args: argparse.Namespace) -> int:
    answer = await sender.send("execute_action", await execute_params(sender, args))
    if answer.disposition.lower().startswith("attachment"):
        return _save(answer, args)
    return _report(answer, args)


async def _options(sender: Sender, args: argparse.Namespace) -> int:
    params = {"model": args.model, "field": args.field, "form": parse_pairs(args.form, "--form")}
    answer = await sender.send("get_field_options", params)
    code = _report(answer, args, quiet=True)
    if code == OK and not args.json:
        for option in answer.json() or []:
            value = json.dumps(option.get("value"), ensure_ascii=False)
            color = f"  ({option['color']})" if option.get("color") else ""
            print(f"{value}\t{option.get('name', '')}{color}")
    return code


def _report(answer: Answer, args: argparse.Namespace, quiet: bool = False) -> int:
    """Print an answer readably (or raw with --json); its exit code."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if args.json:
        print(answer.body.decode(errors="replace"))
    code = _exit_code(answer.status, body)
    if args.json:
        return code
    if code == FIELD_ERRORS:
        _print_field_errors(body)
    elif code == FAILURE:
        detail = (
            body.get("detail", "")
            if isinstance(body, dict)
            else answer.body[:200].decode(errors="replace")
        )
        print(f"failed: HTTP {answer.status}: {detail}", file=sys.stderr)
    elif not quiet:
        _print_result(body)
    _print_facts(answer)
    return code


def _exit_code(status: int, body: Any) -> int:
    if status == 400 and isinstance(body, dict) and _errors_of(body):
        return FIELD_ERRORS
    if status != 200:
        return FAILURE
    if isinstance(body, dict) and body.get("result") is False:
        return FIELD_ERRORS if _errors_of(body) else FAILURE
    return OK


def _errors_of(body: dict[str, Any]) -> dict[str, list[str]]:
    nested = body.get("errors")
    errors: dict[str, Any] = nested if isinstance(nested, dict) else body
    return {
        str(name): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for name, messages in errors.items()
        if name not in {"detail", "result", "errors"}
    }


def _print_field_errors(body: dict[str, Any]) -> None:
    print("the action refused its inputs:")
    for name, messages in _errors_of(body).items():
        shown = "(form)" if name == "non_field_errors" else name
        for message in messages:
            print(f"  {shown}: {message}")


def _print_result(body: Any) -> None:
    if not isinstance(body, dict):
        print(json.dumps(body, ensure_ascii=False))
        return
    print("ok" if body.get("result", True) is True else f"ok: result {json.dumps(body['result'])}")
    if body.get("message"):
        print(f"message: {body['message']}")
    if body.get("html"):
        print(f"html: {body['html']}")


def _print_facts(answer: Answer) -> None:
    request_id = f", request id {answer.request_id}" if answer.request_id else ""
    print(f"(HTTP {answer.status}, {answer.elapsed * 1000:.0f} ms{request_id})", file=sys.stderr)


def _save(answer: Answer, args: argparse.Namespace) -> int:
    name = _filename(answer.disposition)
    size = len(answer.body)
    if args.output == "-":
        sys.stdout.buffer.write(answer.body)
        sys.stdout.flush()
        return OK
    path = Path(args.output) if args.output else Path(name)
    try:
        # Without --output, never overwrite: the name came from the server.
        with path.open("wb" if args.output else "xb") as file:
            file.write(answer.body)
    except OSError as error:
        print(f"jetbridge call: cannot save {path}: {error.strerror}", file=sys.stderr)
        return FAILURE
    if args.json:
        saved = {"file": str(path), "filename": name, "content_type": answer.content_type}
        print(json.dumps({**saved, "bytes": size}))
    else:
        print(f"saved {path} ({answer.content_type}, {size} bytes; sent as {name})")
    _print_facts(answer)
    return OK


def _filename(disposition: str) -> str:
    """The server's file name, reduced to a plain name in the current directory."""
    exact = re.search(r"filename\*=UTF-8''([^;]+)", disposition, re.IGNORECASE)
    plain = re.search(r'filename="?([^";]+)"?', disposition, re.IGNORECASE)
    name = unquote(exact.group(1).strip()) if exact else plain.group(1) if plain else "download"
    return Path(name.replace("\\", "/")).name or "download"
