"""Ids and names: new 64-hex ids, short-id lookup (truncindex), and the name registrar.

CRI: names are unique; creating a second sandbox or container with a taken name fails with an
error that names the id holding it, as the kubelet expects (containerd's registrar).
"""

from __future__ import annotations

import secrets

from crio_py.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, quote

ID_LENGTH = 64


def new_id() -> str:
    """A fresh 64-hex id."""
    return secrets.token_hex(ID_LENGTH // 2)


class TruncIndex:
    """Full ids, found by any unique prefix (as `crictl ps` shows 13 characters)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def add(self, object_id: str) -> None:
        self._ids.add(object_id)

    def delete(self, object_id: str) -> None:
        self._ids.discard(object_id)

    def get(self, prefix: str) -> str:
        """The one id starting with `prefix`."""
        if not prefix:
            raise InvalidArgumentError("an empty id")
        if prefix in self._ids:
            return prefix
        matches = [i for i in self._ids if i.startswith(prefix)]
        if not matches:
            raise NotFoundError(f"no object with id {quote(prefix)}")
        if len(matches) > 1:
            raise InvalidArgumentError(f"id prefix {quote(prefix)} is ambiguous")
        return matches[0]


class NameRegistrar:
    """Unique names, each held by one id."""

    def __init__(self) -> None:
        self._by_name: dict[str, str] = {}

    def reserve(self, name: str, object_id: str) -> None:
        """Take a name; the same id may take it again."""
        holder = self._by_name.get(name)
        if holder is not None and holder != object_id:
            raise AlreadyExistsError(f"name {quote(name)} is reserved for {holder}")
        self._by_name[name] = object_id

    def release(self, name: str) -> None:
        self._by_name.pop(name, None)

    def release_id(self, object_id: str) -> None:
        for name in [n for n, i in self._by_name.items() if i == object_id]:
            del self._by_name[name]

    def holder(self, name: str) -> str | None:
        return self._by_name.get(name)
