"""Walking JSON values without recursion: a payload nested deeper than Python's recursion
limit is walked like a flat one (an explicit stack instead of the call stack)."""

from __future__ import annotations

import json
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


def depth(value: Any) -> int:
    """How deeply containers nest in a JSON value, counted as the intake counts them: each
    object or array is a level, a scalar none."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def dumps_readable(value: Any, *, sort_keys: bool = False) -> str:
    """JSON for people: indented when nested no deeper than the intake accepts. Python's
    indenting encoder is pure Python and recurses once per level, so an older row nested
    deeper (stored before the limit) would end the page with a RecursionError: it is shown
    compact, by the C encoder, or, if even that cannot, as a notice."""
    from django.conf import settings

    if depth(value) <= settings.WEBHOOK_MAX_JSON_DEPTH:
        return json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False, default=str)
    try:
        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False, default=str)
    except RecursionError:
        return json.dumps({"notice": f"nested deeper than can be shown ({depth(value)} levels)"})
