"""A generic name -> class registry behind decorators, used for backends, checkers,
retrieval strategies and sandbox layers. Built-ins register exactly as a plugin would."""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, TypeVar

from .errors import AdaptbenchError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to subclasses of `base`. Entries may be lazy ("package.module:Attr"),
    imported only when looked up, so heavy backends cost nothing until chosen."""

    def __init__(self, kind: str, base: type):
        self.kind = kind
        self.base = base
        self._entries: dict[str, type | str] = {}

    def register(self, name: str) -> Callable[[type], type]:
        def decorator(cls: type) -> type:
            self.add(name, cls)
            return cls

        return decorator

    def add(self, name: str, target: type | str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing is not target and not _same_lazy(existing, target):
            raise AdaptbenchError(f"{self.kind} '{name}' is already registered ({existing!r}).",
                                  "choose another name for the new entry")
        if isinstance(target, type) and not issubclass(target, self.base):
            raise AdaptbenchError(f"{self.kind} '{name}': {target.__name__} is not a subclass of {self.base.__name__}.")
        self._entries[name] = target

    def get(self, name: str) -> type:
        if name not in self._entries:
            raise UnknownNameError(*self._unknown(name))
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            importlib.import_module(module_name)  # the module registers the class itself
            target = self._entries[name]
            if isinstance(target, str):
                target = getattr(importlib.import_module(module_name), attr)
                self._entries[name] = target
        return target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def _unknown(self, name: str) -> tuple[str, str]:
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = (f"did you mean {', '.join(close)}? " if close else "") + f"available: {', '.join(self.names())}"
        return f"unknown {self.kind} '{name}'", hint


def _same_lazy(existing, target) -> bool:
    # a lazy "module:Attr" entry is replaced by the class when its module registers it
    return isinstance(existing, str) and isinstance(target, type) and existing.endswith(":" + target.__name__)
