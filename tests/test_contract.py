"""The contract's tables have one owner (jetactions.contract), and every language agrees with it."""

from __future__ import annotations

from pathlib import Path

from jetactions import contract
from jetactions.v1 import actions_pb2
from tests.support import ROOT


def test_every_proto_field_type_has_jets_spelling() -> None:
    numbers = set(actions_pb2.FieldType.values()) - {actions_pb2.FIELD_TYPE_UNSPECIFIED}
    assert {member.proto for member in contract.FieldType} == numbers
    for member in contract.FieldType:
        assert contract.FieldType.parse(member.proto) is member
        assert contract.jet_field_name(member.proto) == member.value
    # A value from a newer contract, and the unset one, read as a plain text field.
    assert contract.jet_field_name(999) == "CharField"
    assert contract.jet_field_name(actions_pb2.FIELD_TYPE_UNSPECIFIED) == "CharField"


def test_every_auth_method_has_a_scheme() -> None:
    methods = set(actions_pb2.AuthMethod.values()) - {actions_pb2.AUTH_METHOD_UNSPECIFIED}
    assert set(contract.AUTH_SCHEMES.values()) == methods


def test_names_are_the_protos() -> None:
    assert contract.SERVICE_NAME == "jetactions.v1.ActionService"
    assert contract.HEALTH_SERVICES == ("", contract.SERVICE_NAME)
    proto = (ROOT / "proto" / "jetactions" / "v1" / "actions.proto").read_text()
    for key in (contract.SECRET_METADATA, contract.REQUEST_ID_METADATA):
        assert f"//   {key}" in proto, f"actions.proto documents {key}"


def _sources(folder: str, suffix: str) -> str:
    paths = sorted((ROOT / folder).rglob(f"*{suffix}"))
    return "\n".join(
        p.read_text() for p in paths if "gen" not in p.parts and "node_modules" not in p.parts
    )


def test_the_go_and_typescript_sdks_use_the_same_metadata_keys() -> None:
    for source in (_sources("sdk_go", ".go"), _sources("sdk_node/src", ".ts")):
        assert f'"{contract.SECRET_METADATA}"' in source
        assert f'"{contract.REQUEST_ID_METADATA}"' in source


def test_the_bridge_owns_no_copy_of_the_tables() -> None:
    bridge = Path(ROOT / "bridge" / "jetbridge")
    for path in bridge.rglob("*.py"):
        text = path.read_text()
        assert '"x-jetbridge-secret"' not in text, path
        assert '"jetactions.v1.ActionService"' not in text, path
        assert '"DecimalField"' not in text, path
