"""CSV cells a spreadsheet would run as formulas are defused with a leading quote; nothing else changes."""

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from shared.csv_export import FORMULA_STARTS, csv_text, safe_cell

TEXT = st.text(max_size=40)


@given(start=st.sampled_from(FORMULA_STARTS), rest=TEXT)
def test_a_cell_starting_like_a_formula_is_read_back_quoted(start: str, rest: str) -> None:
    value = start + rest
    [_, [cell]] = list(csv.reader(io.StringIO(csv_text(["c"], [{"c": value}]), newline="")))
    assert cell == "'" + value


@given(value=TEXT.filter(lambda v: not v.startswith(FORMULA_STARTS)))
def test_any_other_cell_is_read_back_as_written(value: str) -> None:
    [_, [cell]] = list(csv.reader(io.StringIO(csv_text(["c"], [{"c": value}]), newline="")))
    assert cell == value


def test_numbers_and_empty_cells_are_left_alone() -> None:
    assert [safe_cell(v) for v in (-3, 0.5, None, "-")] == [-3, 0.5, None, "'-"]
    assert csv_text(["age_days", "courier"], [{"age_days": -1, "courier": None}]).splitlines() == [
        "age_days,courier", "-1,"]
