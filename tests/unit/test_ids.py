"""Ids, short-id lookup and the name registrar."""

from __future__ import annotations

import pytest

from crio_py.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from crio_py.ids import NameRegistrar, TruncIndex, new_id


def test_new_ids_are_64_hex_and_distinct() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 64 and int(i, 16) >= 0 for i in ids)


def test_truncindex_resolves_unique_prefixes() -> None:
    index = TruncIndex()
    index.add("abc123" + "0" * 58)
    index.add("abd456" + "0" * 58)
    assert index.get("abc") == "abc123" + "0" * 58
    with pytest.raises(InvalidArgumentError, match="ambiguous"):
        index.get("ab")
    with pytest.raises(NotFoundError):
        index.get("ffff")
    index.delete("abd456" + "0" * 58)
    assert index.get("ab") == "abc123" + "0" * 58


def test_a_taken_name_names_its_holder() -> None:
    names = NameRegistrar()
    names.reserve("web_default_uid_0", "id-1")
    names.reserve("web_default_uid_0", "id-1")  # the same id may take it again
    with pytest.raises(AlreadyExistsError, match="reserved for id-1"):
        names.reserve("web_default_uid_0", "id-2")
    names.release_id("id-1")
    names.reserve("web_default_uid_0", "id-2")
    assert names.holder("web_default_uid_0") == "id-2"
