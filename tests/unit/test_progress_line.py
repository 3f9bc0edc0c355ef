"""The CLI's progress line: written over in place on a terminal, a line per update (and not too
many) into a file or a pipe, and ended before what the command prints next."""

from __future__ import annotations

import io

from house.progress import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_written_over_and_ended_once() -> None:
    out = Terminal()
    line = ProgressLine(out)
    line.show("rebuilding: 10")
    line.show("rebuilding: 20")
    line.done()
    line.done()
    print("rebuilt", file=out)
    assert out.getvalue() == "\rrebuilding: 10\x1b[K\rrebuilding: 20\x1b[K\nrebuilt\n"


def test_into_a_pipe_each_update_is_a_line_at_most_every_few_seconds() -> None:
    out = io.StringIO()
    line = ProgressLine(out, every_s=3600)
    line.show("export: 10,000 events read ...")
    line.show("export: 20,000 events read ...")  # too soon after the first
    line.done()
    print("wrote export.json", file=out)
    assert out.getvalue() == "export: 10,000 events read ...\nwrote export.json\n"


def test_into_a_pipe_every_update_shows_when_they_are_far_enough_apart() -> None:
    out = io.StringIO()
    line = ProgressLine(out, every_s=0)
    for n in (1, 2):
        line.show(f"export-view: {n} rows ...")
    assert out.getvalue().splitlines() == ["export-view: 1 rows ...", "export-view: 2 rows ..."]
