"""Terminal output for the ops commands: colour with rich on a TTY, plain text otherwise
(cron mail, CI logs, pipes), always through the command's own stdout."""

from __future__ import annotations

import zlib

from django.core.management.base import OutputWrapper
from rich.console import Console
from rich.text import Text

from webhooks import textsafe

STATUS_STYLE = {"ok": "bold green", "unknown": "bold", "degraded": "bold yellow", "down": "bold red"}
TOPIC_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green")


class _Plain:
    """A file-like view of an OutputWrapper that writes text exactly as given (the wrapper
    would add a newline per write)."""

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()


def console_for(out: OutputWrapper, *, no_color: bool = False, force_color: bool = False, **_: object) -> Console:
    """Honours Django's own --no-color and --force-color options."""
    tty = force_color or (out.isatty() and not no_color)
    return Console(
        file=_Plain(out),  # type: ignore[arg-type]
        force_terminal=tty,
        color_system="standard" if tty else None,
        width=None if tty else 110,
        highlight=False,
        soft_wrap=not tty,
    )


def inert(value: object, style: str = "") -> Text:
    """Stored text (a topic, a shop, an error) as a rich Text: never read as markup, and
    with control characters shown as escapes, so no stored value can style or move the
    terminal (an ANSI sequence in a topic would)."""
    return Text(textsafe.printable(value), style=style)


def topic_colour(topic: str) -> str:
    """The same topic always gets the same colour, across runs."""
    return TOPIC_COLOURS[zlib.crc32(topic.encode()) % len(TOPIC_COLOURS)]
