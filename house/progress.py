"""The progress of the CLI's long work (a rebuild, the exports) on stderr. On a terminal it is
one line, written over in place; into a file or a pipe each update is a line of its own, at most
one every `every_s` seconds, so a log or a CI transcript reads cleanly. `done()` ends it, so
that what is printed next starts on a line of its own."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.in_place = self.stream.isatty()
        self.every_s = every_s
        self.shown_at: float | None = None
        self.open = False  # a line written in place and not yet ended

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self.in_place:
            self._write(f"\r{text}\x1b[K")
            self.open = True
        elif self.shown_at is None or now - self.shown_at >= self.every_s:
            self._write(f"{text}\n")
        else:
            return
        self.shown_at = now

    def done(self) -> None:
        if self.open:
            self._write("\n")
            self.open = False

    def _write(self, text: str) -> None:
        """Straight to the terminal or the pipe (not a log line: the CLI's own output)."""
        self.stream.write(text)
        self.stream.flush()
