"""What `crew sql` and `crew export-view` print (safe for a terminal and for a spreadsheet),
and the options the commands share."""

from __future__ import annotations

import csv
import io

import pytest

from crew.tables import format_rows
from house.cli import parser

NASTY = "ok\x1b]0;owned\x07\x1b[2J\rfake\nline\t\x9b31m\u202eevil"


def test_control_characters_in_a_value_never_reach_the_terminal_raw() -> None:
    for fmt in ("table", "csv"):
        out = format_rows(["v\x1b[1m", "n"], [[NASTY, 1], [None, -2]], fmt)
        assert not any(ch in out for ch in "\x1b\x07\r\t\x9b\u202e"), (fmt, out)
        assert r"ok\x1b]0;owned\x07\x1b[2J\rfake\nline\t\x9b31m\u202eevil" in out, (fmt, out)
        assert r"v\x1b[1m" in out, "column names too"
    table = format_rows(["v"], [[NASTY]], "table").splitlines()
    assert len(table) == 4, "one line per row: header, rule, the row, the count"
    csv_lines = format_rows(["v"], [[NASTY]], "csv").splitlines()
    assert len(csv_lines) == 2, "one line per row: header, the row"


def test_csv_neutralises_text_a_spreadsheet_would_run_but_keeps_numbers() -> None:
    rows = [
        ['=HYPERLINK("http://x")', -3, -2.5],
        ["+1+2", 0, None],
        ["-2+3", 1, 1.5],
        ["@SUM(A1)", 2, 0.0],
        ["plain = fine", 3, 2.0],
    ]
    out = format_rows(["=cmd", "n", "x"], rows, "csv")
    got = list(csv.reader(io.StringIO(out)))
    assert got == [
        ["'=cmd", "n", "x"],
        ['\'=HYPERLINK("http://x")', "-3", "-2.5"],
        ["'+1+2", "0", ""],
        ["'-2+3", "1", "1.5"],
        ["'@SUM(A1)", "2", "0.0"],
        ["plain = fine", "3", "2.0"],
    ]


def test_json_keeps_values_exact_and_escaped() -> None:
    out = format_rows(["v"], [["=1+1\x1b"]], "json")
    assert out == '[{"v":"=1+1\\u001b"}]'


def test_how_long_a_command_waits_for_its_answer_is_a_positive_number_of_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for verb in (["send", "meals.plan_meal", "{}"], ["forget", "zq"], ["import-crew", "x.csv"]):
        assert parser().parse_args([*verb]).wait == 10.0
        assert parser().parse_args([*verb, "--wait", "2.5"]).wait == 2.5
        for bad in ("0", "-1", "soon"):
            with pytest.raises(SystemExit):
                parser().parse_args([*verb, "--wait", bad])
            assert "--wait" in capsys.readouterr().err
