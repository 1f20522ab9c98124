"""The reference Jet Bridge (PyPI `jet-bridge`) with in-process message handlers.

Adapted from ../shared/peer/run_jet_bridge.py so that the benchmark does not depend on files
outside the repository. It runs in its own venv (`bench/.peer-venv`, made by the benchmark):

    PORT=8890 ADDRESS=127.0.0.1 BEARER_AUTH_KEY=... bench/.peer-venv/bin/python bench/peer_server.py

The handlers answer like a minimal action backend: no network hop at all, which is the bar a
bridge with a gRPC hop has to beat. Auth: `Authorization: Bearer <BEARER_AUTH_KEY>`.
"""

import collections
import collections.abc
import os
import sqlite3
import tempfile
from typing import Any

# tornado 5.1.1, which jet-bridge pins, still uses the aliases removed in Python 3.10.
for _name in (
    "MutableMapping",
    "Mapping",
    "Sequence",
    "Callable",
    "Iterable",
    "MutableSet",
    "MutableSequence",
):
    setattr(collections, _name, getattr(collections.abc, _name))

# jet-bridge connects to a database at start-up even for messages; give it an empty SQLite file.
_tmp = tempfile.mkdtemp(prefix="jet-bridge-peer-")
_db = os.path.join(_tmp, "db.sqlite3")
with sqlite3.connect(_db) as _conn:
    _conn.execute("create table users (id integer primary key, name text)")
os.environ.setdefault("DATABASE_ENGINE", "sqlite")
os.environ.setdefault("DATABASE_NAME", _db)
os.environ.setdefault("PROJECT", "peer")
os.environ.setdefault("TOKEN", "00000000-0000-0000-0000-000000000000")
os.environ.setdefault("BEARER_AUTH_KEY", "secret")
os.environ.setdefault("AUTO_OPEN_REGISTER", "false")
os.environ.setdefault("STORE_PATH", os.path.join(_tmp, "store.sqlite3"))

from jet_bridge_base import messages  # type: ignore[import-not-found]  # noqa: E402


def get_action_list(name: str, params: Any) -> Any:
    return [
        {
            "name": "mail_users",
            "model_action": {"model": "users", "for_instance": True, "bulk": True},
        },
        {"name": "refresh_stats", "common_action": {}},
    ]


def execute_action(name: str, params: Any) -> Any:
    return {"result": True}


def get_field_options(name: str, params: Any) -> Any:
    return [
        {"value": "london", "name": "London", "color": "blue"},
        {"value": "new_york", "name": "New York", "color": "green"},
    ]


messages.add_handler(messages.GET_ACTION_LIST, get_action_list)
messages.add_handler(messages.EXECUTE_ACTION, execute_action)
messages.add_handler(messages.GET_FIELD_OPTIONS, get_field_options)

if os.environ.get("PEER_UVLOOP") == "1":
    # The reference on uvloop (tornado 5 runs on asyncio's loop, whichever it is), so that a
    # comparison can run both sides on it.
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(uvloop.new_event_loop())

from jet_bridge.__main__ import main  # type: ignore[import-not-found]  # noqa: E402

main()
