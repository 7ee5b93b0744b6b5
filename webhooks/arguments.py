"""Argument types for the management commands of every app: a number is checked where it
enters. A negative, absurd or non-numeric value is an argparse error naming the argument,
so the command changes nothing and exits 2 (bad usage); through `call_command` it is a
CommandError with the same message.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

# A day count above a hundred years is a typo, and a cut-off that far back is the same as
# none; the admin's clean-up form uses the same bound.
MAX_DAYS = 36_500
# The largest id either database's bigint primary key holds.
MAX_ID = 2**63 - 1


def whole(minimum: int, maximum: int) -> Callable[[str], int]:
    """A whole number from `minimum` to `maximum`, both included."""

    def parse(text: str) -> int:
        try:
            if not text.isascii():  # int() would read other scripts' digits too
                raise ValueError(text)
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is outside {minimum}..{maximum}")
        return value

    parse.__name__ = "whole number"
    return parse


def seconds(minimum: float, maximum: float) -> Callable[[str], float]:
    """A finite number of seconds from `minimum` to `maximum`, both included."""

    def parse(text: str) -> float:
        try:
            if not text.isascii():
                raise ValueError(text)
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not (math.isfinite(value) and minimum <= value <= maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is outside {minimum:g}..{maximum:g} seconds")
        return value

    parse.__name__ = "seconds"
    return parse


def rate(maximum: float) -> Callable[[str], float]:
    """Items per second, from 0 (meaning: as fast as possible) to `maximum`."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of items per second, got {text!r}") from None
        if not (math.isfinite(value) and 0 <= value <= maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is outside 0..{maximum:g} per second")
        return value

    parse.__name__ = "items per second"
    return parse

