"""Typed readers for environment variables.

Every setting comes from the environment with a default written where it is read, and is
read once. A value that cannot be understood, or that is outside the range the setting
declares, raises ImproperlyConfigured at start-up naming the variable, instead of
surfacing later as a confusing failure (a negative retry delay killing a worker).

The ranges are also recorded in `DECLARED`, so the system check `timedify_ops.E010`
(timedify_ops/checks.py) holds a value set some other way (a settings override) to the
same range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Bounds:
    """The range a numeric setting accepts, both ends included."""

    minimum: float
    maximum: float
    whole: bool  # an int setting refuses 2.5

    def problem(self, value: object) -> str | None:
        """Why `value` is not acceptable, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a {'whole ' if self.whole else ''}number, got {value!r}"
        if self.whole and not isinstance(value, int):
            return f"expected a whole number, got {value!r}"
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            return f"{value!r} is outside {_num(self.minimum)}..{_num(self.maximum)}"
        return None


# Every numeric variable read through envint/envfloat/envfloats, with its range.
DECLARED: dict[str, Bounds] = {}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"Unexpected value {name}={raw!r}: use 1/0, true/false, yes/no or on/off")


def _number(name: str, default: T, bounds: Bounds, convert: Callable[[str], T]) -> T:
    DECLARED[name] = bounds
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = convert(raw.strip())
    except ValueError:
        value = raw  # type: ignore[assignment]  # reported below, with the range
    problem = bounds.problem(value)
    if problem:
        raise ImproperlyConfigured(f"{name}={raw!r}: {problem}")
    return value


def envint(name: str, default: int, *, minimum: int, maximum: int) -> int:
    return _number(name, default, Bounds(minimum, maximum, whole=True), int)


def envfloat(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A finite number in the range: nan and inf are refused like any other bad value."""
    return _number(name, default, Bounds(minimum, maximum, whole=False), float)


def envfloats(name: str, default: str, *, minimum: float, maximum: float, most: int) -> list[float]:
    """A comma-separated list of numbers, each in the range, at most `most` of them.
    An empty value is an empty list."""
    bounds = Bounds(minimum, maximum, whole=False)
    DECLARED[name] = bounds
    items = envlist(name, default)
    if len(items) > most:
        raise ImproperlyConfigured(f"{name}: {len(items)} values, at most {most} are allowed")
    values = []
    for item in items:
        try:
            value: object = float(item)
        except ValueError:
            value = item
        problem = bounds.problem(value)
        if problem:
            raise ImproperlyConfigured(f"{name}={os.environ.get(name, default)!r}: {problem}")
        values.append(float(item))
    return values


def envlist(name: str, default: str = "") -> list[str]:
    """A comma-separated list; blanks are dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envpairs(
    name: str, value: Callable[[str], T], default: str = "", *, bare: Callable[[str], str] | None = None
) -> dict[str, T]:
    """The one reader of "key=value,key=value" lists. `value` parses (and validates) one
    value, raising ValueError; `bare`, when given, names an entry that has no "key=".
    Any bad entry raises ImproperlyConfigured naming the variable and the entry."""
    pairs: dict[str, T] = {}
    for entry in envlist(name, default):
        key, sep, text = entry.partition("=")
        if bare is not None and (not sep or "://" in key):
            key, text = bare(entry), entry
        elif not sep or not key.strip():
            raise ImproperlyConfigured(f"{name} entry {entry!r}: expected key=value")
        try:
            pairs[key.strip()] = value(text.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} entry {entry!r}: {exc}") from None
    return pairs


def http_url(text: str) -> str:
    """An http(s) URL with a host (a value parser for envpairs)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return text


def host_of(url: str) -> str:
    """The name of a bare URL entry: its host and port."""
    return urlsplit(url).netloc or url


def whole_in(minimum: int, maximum: int) -> Callable[[str], int]:
    """A value parser for envpairs: a whole number in the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"{value} is outside {minimum}..{maximum}")
        return value

    return parse


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets).

    A NAME_FILE that points at a missing file fails loudly rather than falling back.
    """
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return os.environ.get(name, default)
