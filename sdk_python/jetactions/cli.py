"""The ``jetactions`` command: ``jetactions serve MODULE:APP`` serves an ``ActionServer``.

Every setting has a flag and an environment variable (the flag wins); ``jetactions serve
--help`` lists them. Bad settings, an app that cannot be loaded or an address that cannot
be bound end with exit status 2 and one line each on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from jetactions._settings import SETTINGS, Settings, read
from jetactions._version import __version__
from jetactions.server import ActionServer, exit_on_setup_error
from jetactions.tls import ServerTLS

__all__ = ["AppLoadError", "load_app", "main", "resolve_app"]


class AppLoadError(ValueError):
    """The ``MODULE:APP`` reference cannot be turned into an ``ActionServer``."""


def parser() -> argparse.ArgumentParser:
    """The command line parser (flags are read as text: ``_settings`` checks them)."""
    root = argparse.ArgumentParser(
        prog="jetactions", description="Serve Jet Admin actions to the Jet bridge over gRPC."
    )
    root.add_argument("--version", action="version", version=f"jetactions {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve an ActionServer",
        description="Serve an ActionServer until SIGTERM or SIGINT (a second one stops at once).",
    )
    serve.add_argument(
        "app",
        metavar="MODULE:APP",
        help="a module (pkg.mod) or file (path/to/file.py), then the attribute naming an "
        "ActionServer or a function that returns one",
    )
    for setting in SETTINGS:
        serve.add_argument(
            setting.flag,
            dest=setting.field,
            metavar=setting.metavar,
            help=f"{setting.help} (env {setting.env})",
        )
    return root


def load_app(reference: str) -> ActionServer:
    """Imports ``MODULE:APP`` and returns the ``ActionServer`` it names (calling it first
    when it is a factory).

    A file path is imported as a module named after the file, with its folder first on
    ``sys.path``; a module name is imported with the current folder first on ``sys.path``.
    A module is imported once; a factory is called on every load.

    Raises:
        AppLoadError: The module or attribute is missing or not an ActionServer.
    """
    return resolve_app(reference)()


def resolve_app(reference: str) -> Callable[[], ActionServer]:
    """Imports ``MODULE:APP`` and returns what builds its ``ActionServer``, without calling a
    factory yet: for a host (the bridge) that checks the reference before it serves it.

    Raises:
        AppLoadError: The module or attribute is missing or neither an ActionServer nor a
            callable; the callable raises it when a factory returns something else.
    """
    module_ref, sep, attribute = reference.rpartition(":")
    if not sep or not module_ref or not attribute.isidentifier():
        raise AppLoadError(f"{reference!r} is not MODULE:APP (e.g. shop:app or shop.py:app)")
    module = _import(module_ref)
    if not hasattr(module, attribute):
        raise AppLoadError(f"{module_ref} has no attribute {attribute!r}")
    value = getattr(module, attribute)
    if isinstance(value, ActionServer):
        app = value
        return lambda: app
    if not callable(value):
        raise AppLoadError(f"{reference} is a {type(value).__name__}, not an ActionServer")
    factory: Callable[[], object] = value

    def build() -> ActionServer:
        built = factory()
        if not isinstance(built, ActionServer):
            raise AppLoadError(
                f"{reference}() returned {type(built).__name__}, not an ActionServer"
            )
        return built

    return build


def _import(module_ref: str) -> ModuleType:
    try:
        if module_ref.endswith(".py") or os.sep in module_ref:
            return _import_file(Path(module_ref))
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(module_ref)
    except AppLoadError:
        raise
    except ModuleNotFoundError as error:
        if error.name is not None and module_ref.startswith(error.name):
            raise AppLoadError(f"no module named {module_ref!r}") from None
        raise AppLoadError(f"cannot import {module_ref}: {_one_line(error)}") from error
    except Exception as error:
        # The module's own failure, as one line: a host prints it and stops.
        raise AppLoadError(f"cannot import {module_ref}: {_one_line(error)}") from error


def _import_file(file: Path) -> ModuleType:
    path = file.resolve()
    if not path.is_file():
        raise AppLoadError(f"no such file {str(file)!r}")
    # Named after the file, as its siblings would import it, unless that name is taken by
    # another module (a file called json.py must not replace the json module).
    name = path.stem
    while name in sys.modules:
        if getattr(sys.modules[name], "__file__", None) == str(path):
            return sys.modules[name]  # imported already
        name = f"_jetactions_app_{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {str(file)!r}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module = importlib.util.module_from_spec(spec)
    # Dataclasses and pickling look the module up in sys.modules while it runs.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:500]


def _serve(args: argparse.Namespace) -> None:
    flags = {setting.field: getattr(args, setting.field) for setting in SETTINGS}
    settings, _ = read(flags=flags)
    try:
        app = load_app(args.app)
    except AppLoadError as error:
        print(f"jetactions: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    _run(app, settings)


def _run(app: ActionServer, settings: Settings) -> None:
    tls = None
    if settings.tls_cert_file:
        tls = ServerTLS(
            cert_file=settings.tls_cert_file,
            key_file=settings.tls_key_file,
            client_ca_file=settings.tls_client_ca_file,
        )
    # Everything explicit: run() then reads nothing more from the environment.
    app.run(
        settings.address,
        log_format=settings.log_format,
        log_level=settings.log_level,
        bridge_secret=settings.bridge_secret,
        tls=tls,
        max_message_bytes=settings.max_message_bytes,
        grace=settings.grace,
        metrics_port=settings.metrics_port,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command line."""
    args = parser().parse_args(argv)
    if args.command == "serve":
        exit_on_setup_error(lambda: _serve(args))
