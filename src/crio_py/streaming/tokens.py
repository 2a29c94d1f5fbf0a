"""Single-use URL tokens: Exec, Attach and PortForward each park their request here and
return a URL naming it; the first connection to that URL within the time limit takes it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

TOKEN_TTL_S = 60.0
"""How long a URL stays valid (the kubelet's streaming cache keeps one minute too)."""
T = TypeVar("T")


@dataclass
class TokenStore(Generic[T]):
    """Requests by token; each can be taken once, within `ttl_s` of being put."""

    ttl_s: float = TOKEN_TTL_S
    clock: Callable[[], float] = time.monotonic
    _items: dict[str, tuple[float, T]] = field(default_factory=dict)

    def put(self, item: T) -> str:
        self._expire()
        token = secrets.token_urlsafe(24)
        self._items[token] = (self.clock() + self.ttl_s, item)
        return token

    def take(self, token: str) -> T | None:
        """The request, removed; None for an unknown, used or expired token."""
        self._expire()
        found = self._items.pop(token, None)
        return None if found is None else found[1]

    def __len__(self) -> int:
        self._expire()
        return len(self._items)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, (deadline, _) in self._items.items() if deadline <= now]:
            del self._items[token]
