"""Walking JSON values without recursion: a payload nested deeper than Python's recursion
limit is walked like a flat one (an explicit stack instead of the call stack)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def map_strings(value: Any, func: Callable[[str], str]) -> Any:
    """A copy of a JSON value with `func` applied to every string in it, keys included."""
    if isinstance(value, str):
        return func(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [None]
    # Each item: a source container, and the container and slot its copy goes to.
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        source, parent, slot = stack.pop()
        copy: Any = {} if isinstance(source, dict) else [None] * len(source)
        parent[slot] = copy
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            new_key = func(key) if isinstance(key, str) else key
            if isinstance(child, dict | list):
                if isinstance(copy, dict):
                    copy[new_key] = None  # keeps the keys' order; filled when popped
                stack.append((child, copy, new_key))
            else:
                copy[new_key] = func(child) if isinstance(child, str) else child
    return root[0]
