"""An action server for the console's browser test: every Jet field type, and hostile html.

`every_field` echoes the inputs exactly as received (JSON in the message), so the test sees the
type each console input sends. `hostile_html` answers html that tries to run script three ways.
Run in process: `--service kitchen=inprocess:tests.servers.console_kitchen:build_app`.
"""

from __future__ import annotations

import json

from jetactions import ActionContext, ActionServer, FieldType, Option, Param, Result

SIZES = [Option("s", "Small"), Option("m", "Medium"), Option(2, "Two (a number)")]
FIELDS = [
    Param("title", FieldType.CHAR, required=True, label="Title", description="Any text"),
    Param("notes", FieldType.TEXT, default="first line"),
    Param("count", FieldType.INTEGER, default=3),
    Param("ratio", FieldType.FLOAT),
    Param("price", FieldType.DECIMAL),
    Param("active", FieldType.BOOLEAN, default=True),
    Param("day", FieldType.DATE),
    Param("at", FieldType.TIME),
    Param("when", FieldType.DATE_TIME),
    Param("data", FieldType.JSON, default={"a": 1}),
    Param("size", FieldType.SELECT, options=SIZES),
    Param("owner", FieldType.FOREIGN_KEY, related_model="users"),
]
HOSTILE = (
    "<p>Hostile <strong>html</strong></p>"
    "<script>window.__pwned = 'script'; parent.__pwned = 'script';</script>"
    "<img src=x onerror=\"window.__pwned = 'onerror'; parent.__pwned = 'onerror'\">"
    "<a href=\"javascript:parent.__pwned='link'\">link</a>"
)


def build_app() -> ActionServer:
    """The kitchen-sink server."""
    app = ActionServer(name="kitchen")

    @app.common_action(
        name="every_field",
        label="Every field type",
        icon="list",
        description="Echoes its inputs as JSON",
        params=FIELDS,
    )
    async def every_field(ctx: ActionContext) -> Result:
        return Result(message=json.dumps(ctx.inputs, sort_keys=True))

    @app.common_action(name="hostile_html", label="Hostile html")
    async def hostile_html(ctx: ActionContext) -> Result:
        return Result(html=HOSTILE)

    return app
