"""A small name -> builder registry (as timm's), so adding a modality, head or task touches one file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def unregister(self, name: str) -> T:
        """Take ``name`` out again (a test's or a plugin's temporary entry); returns what it was."""
        self.get(name)  # the same error as get for an unknown name
        return self._items.pop(name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, item)`` in registration order (the order built-ins are declared in, which code that builds
        something from every entry, such as a vocabulary corpus, keeps)."""
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
