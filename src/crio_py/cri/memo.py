"""A value derived from an immutable object, made once and dropped with the object: the CRI
messages of records that polled RPCs (ListPodSandbox, ListContainers) would otherwise build
again on every call. Records are replaced, never changed, when their state changes."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class PerObject(Generic[K, V]):
    """Values by object identity (the objects need not be hashable, only weakly referable)."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[weakref.ref[K], V]] = {}

    def get(self, key: K, make: Callable[[K], V]) -> V:
        """The value for `key`, made by `make(key)` the first time; read-only for callers."""
        slot = id(key)
        found = self._values.get(slot)
        if found is not None and found[0]() is key:
            return found[1]
        value = make(key)
        self._values[slot] = (weakref.ref(key, lambda _: self._values.pop(slot, None)), value)
        return value

    def __len__(self) -> int:
        return len(self._values)
