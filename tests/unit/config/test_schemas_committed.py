"""The JSON Schemas committed under schemas/ are exactly what the models generate."""

from __future__ import annotations

import json

import pytest

from crio_py.config.schema import ALL_SCHEMAS, schema_file_name, schema_for
from tests.conftest import REPO


@pytest.mark.parametrize("kind, version", ALL_SCHEMAS)
def test_committed_schema_matches_the_models(kind: str, version: int | None) -> None:
    committed = json.loads((REPO / "schemas" / schema_file_name(kind, version)).read_text())
    assert committed == schema_for(kind, version), "run `make schemas` and commit the result"


def test_every_committed_schema_is_generated() -> None:
    expected = {schema_file_name(kind, version) for kind, version in ALL_SCHEMAS}
    assert {p.name for p in (REPO / "schemas").glob("*.json")} == expected
