"""Write Jet Admin actions in Python and serve them to the Jet bridge over gRPC.

Example:
    ```python
    from jetactions import ActionContext, ActionServer, Result

    app = ActionServer(name="shop")
    USER_IDS = [1, 2, 3]

    @app.model_action("users", for_instance=True, bulk=True, label="Mail users")
    async def mail_users(ctx: ActionContext, subject: str, urgent: bool = False) -> Result:
        recipients = ctx.selection.select(USER_IDS)  # right with inverse_ids too
        return Result(message=f"Mailed {len(recipients)} users")

    app.run("127.0.0.1:50051")
    ```

``jetactions.testing.ActionTester`` runs actions in unit tests without a network,
``InProcessChannel`` calls an ``ActionServer`` in process through a real ActionService stub, and
``jetactions.context.current()`` returns the context of the handler call in progress.
"""

from jetactions.action import ActionDefinition, FieldOptionsDefinition, Param
from jetactions.context import ActionContext, Caller, FieldContext, Selection
from jetactions.contract import FieldType
from jetactions.errors import ActionError, FieldErrors
from jetactions.inprocess import InProcessChannel
from jetactions.results import File, Option, Result
from jetactions.server import ActionServer, RunningServer
from jetactions.sync_pool import SyncPool
from jetactions.tls import ServerTLS

__all__ = [
    "ActionContext",
    "ActionDefinition",
    "ActionError",
    "ActionServer",
    "Caller",
    "FieldContext",
    "FieldErrors",
    "FieldOptionsDefinition",
    "FieldType",
    "File",
    "InProcessChannel",
    "Option",
    "Param",
    "Result",
    "RunningServer",
    "Selection",
    "ServerTLS",
    "SyncPool",
]

# Not in __all__: a module attribute, read as jetactions.__version__.
from jetactions._version import __version__ as __version__
