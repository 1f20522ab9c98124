"""Write Jet Admin actions in Python and serve them to the Jet bridge over gRPC.

Example:
    ```python
    from jetactions import ActionContext, ActionServer, Result

    app = ActionServer(name="shop")

    @app.model_action("users", for_instance=True, bulk=True, label="Mail users")
    async def mail_users(ctx: ActionContext, subject: str, urgent: bool = False) -> Result:
        return Result(message=f"Mailed {len(ctx.ids)} users")

    app.run("127.0.0.1:50051")
    ```

``jetactions.testing.ActionTester`` runs actions in unit tests without a network, and
``jetactions.context.current()`` returns the context of the handler call in progress.
"""

from jetactions.action import FieldType, Param
from jetactions.context import ActionContext, Caller, FieldContext
from jetactions.errors import ActionError, FieldErrors
from jetactions.results import File, Option, Result
from jetactions.server import ActionServer, RunningServer
from jetactions.tls import ServerTLS

__all__ = [
    "ActionContext",
    "ActionError",
    "ActionServer",
    "Caller",
    "FieldContext",
    "FieldErrors",
    "FieldType",
    "File",
    "Option",
    "Param",
    "Result",
    "RunningServer",
    "ServerTLS",
]

# Not in __all__: a module attribute, read as jetactions.__version__.
from jetactions._version import __version__ as __version__
