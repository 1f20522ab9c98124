"""The system under test: the messages sent, the credentials, and the servers a run starts.

`Setup` starts the shared servers once per run (the Python shop, the bridges in front of it,
the reference); scenarios start what only they need through it and stop it when done.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import harness
from bench.harness import ROOT, VENV_BIN, Proc, Processes, free_port, wait_http, wait_port

SHOP = ROOT / "examples" / "python" / "shop.py"
GO_SHOP = ROOT / "examples" / "go" / "bin" / "shop"
INPROCESS_SHOP = "inprocess:examples/python/shop.py:build_app"
PROJECT = "bench"
JSON_TYPE = "application/json;charset=utf-8"  # what Jet Admin's front end sends

EXECUTE_PARAMS: dict[str, Any] = {
    "model": "users",
    "name": "mail_users",
    "ids": [1, 2],
    "inverseIds": False,
    "params": {"subject": "Hello"},
}
"""The shop's `mail_users`: an async handler with validated inputs."""
SYNC_PARAMS: dict[str, Any] = {"name": "refresh_stats", "params": {}}
"""The shop's `refresh_stats`: a sync handler (run in the SDK's thread pool)."""
EXECUTE = json.dumps({"name": "execute_action", "params": EXECUTE_PARAMS}).encode()
ACTION_LIST = json.dumps({"name": "get_action_list"}).encode()
MAILED = {"result": True, "message": "Mailed 2 users"}


@dataclass(frozen=True)
class Auth:
    bearer: str
    jwt_token: str
    public_pem: str

    def env(self) -> dict[str, str]:
        return {
            "BEARER_AUTH_KEY": self.bearer,
            "PROJECT": PROJECT,
            "JWT_VERIFY_KEY": self.public_pem,
        }

    def bearer_headers(self) -> dict[str, str]:
        return {"Content-Type": JSON_TYPE, "Authorization": f"Bearer {self.bearer}"}

    def jwt_headers(self) -> dict[str, str]:
        return {"Content-Type": JSON_TYPE, "Authorization": f"JWT {self.jwt_token}"}


def make_auth() -> Auth:
    """A Bearer key, and a JWT as Jet Admin issues them (RS256, 4096-bit key like Jet's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    claims = {
        "user": {"id": 7, "email": "bench@example.com"},
        "project": PROJECT,
        "environment": "prod",
        "projects": {PROJECT: {"permissions_group": "admin"}},
        "exp": int(time.time()) + 24 * 3600,
    }
    token = jwt.encode(claims, key, algorithm="RS256")
    return Auth(secrets.token_hex(16), token, public_pem)


@cache
def serve_help() -> str:
    done = subprocess.run(
        [str(VENV_BIN / "jetbridge"), "serve", "--help"], capture_output=True, check=False
    )
    return done.stdout.decode()


def supports(flag: str) -> bool:
    """Whether this checkout's `jetbridge serve` has `flag` (scenarios skip what it lacks)."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", serve_help()) is not None


def ensure_go_shop() -> Path | None:
    """examples/go/bin/shop, built when missing and Go is here; None without Go."""
    if GO_SHOP.exists():
        return GO_SHOP
    if shutil.which("go") is None:
        return None
    harness.log("building examples/go/bin/shop (go build)")
    done = subprocess.run(
        ["go", "build", "-o", "bin/shop", "."], cwd=GO_SHOP.parents[1], check=False
    )
    return GO_SHOP if done.returncode == 0 and GO_SHOP.exists() else None


@dataclass
class Setup:
    procs: Processes
    auth: Auth
    shop: Proc
    shop_port: int
    peer_python: Path
    started: dict[str, tuple[Proc, str]] = field(default_factory=dict)
    """name -> (process, messages URL)"""
    grpc_servers: dict[str, tuple[Proc, int]] = field(default_factory=dict)
    """Action servers started by scenarios: name -> (process, port)."""

    def bridge(
        self,
        name: str,
        services: Sequence[str],
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> tuple[Proc, str]:
        port = free_port()
        argv = [str(VENV_BIN / "jetbridge"), "serve", "--address", "127.0.0.1"]
        argv += ["--port", str(port)]
        for item in services:
            argv += ["--service", item]
        argv += list(extra_args)
        proc = self.procs.start(name, argv, {**self.auth.env(), **(env or {})})
        url = f"http://127.0.0.1:{port}/api/messages/"
        self.started[name] = (proc, url)
        return proc, url

    def ready(self, name: str, headers: Mapping[str, str], expect: Callable[[Any], bool]) -> bytes:
        proc, url = self.started[name]
        body = wait_http(proc, url, ACTION_LIST, headers)
        if not expect(json.loads(body)):
            raise RuntimeError(f"{name}: unexpected action list {body[:300]!r}")
        return body

    def helper(
        self, name: str, command: str, *args: str, env: Mapping[str, str] | None = None
    ) -> tuple[Proc, int]:
        """One of bench/servers.py's servers on a free port, listening."""
        port = free_port()
        argv = [str(VENV_BIN / "python"), "-m", "bench.servers", command, "--port", str(port)]
        proc = self.procs.start(name, [*argv, *args], env)
        wait_port(proc, port)
        return proc, port

    def go_shop(self) -> tuple[Proc, int] | None:
        """The Go example shop (examples/go/bin/shop), started once; None without Go."""
        if "go-shop" in self.grpc_servers:
            return self.grpc_servers["go-shop"]
        binary = ensure_go_shop()
        if binary is None:
            return None
        port = free_port()
        proc = self.procs.start("go-shop", [str(binary), "--address", f"127.0.0.1:{port}"])
        wait_port(proc, port)
        self.grpc_servers["go-shop"] = (proc, port)
        return proc, port


def check_answer(
    url: str, headers: Mapping[str, str], expected: Any, body: bytes = EXECUTE
) -> None:
    """The message is answered as it should be before anything is measured."""
    status, answer = harness.post(url, body, headers)
    if status != 200 or json.loads(answer) != expected:
        raise RuntimeError(f"{url} answered {status} {answer[:300]!r}, expected {expected}")
