"""Ship the ActionService contract inside the distribution, as package data.

Other teams generate code from `jetactions/proto/jetactions/v1/actions.proto` in the installed
package (`importlib.resources.files("jetactions") / "proto/jetactions/v1/actions.proto"`). The
source of truth lives outside this project, in the repository's `proto/`: a build from the
checkout copies it in; a wheel built from the sdist finds it already inside the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CONTRACT = "proto/jetactions/v1/actions.proto"


class ContractHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the repository's proto/ contract under jetactions/proto/ (sdist and wheel)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # a development install reads the checkout's proto/ directly
        source = Path(self.root).parent / CONTRACT
        if source.is_file():
            build_data["force_include"][str(source)] = f"jetactions/{CONTRACT}"
        elif not (Path(self.root) / "jetactions" / CONTRACT).is_file():
            raise FileNotFoundError(
                f"the contract is missing: neither ../{CONTRACT} nor jetactions/{CONTRACT}"
            )
