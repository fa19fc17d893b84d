"""The operator CLI refuses bad input with a clear message and a non-zero exit, before touching Kafka."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.docs
import cli.operations  # noqa: F401
from cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("args", [
    ["send", "Nope", "--data", "{}"],
    ["send", "BookSlot", "--data", '{"customer_id": "C"}'],
    ["send", "BookSlot", "--data", "not json"],
    ["send", "BookSlot"],
    ["load", "cars", "x.json"],
    ["load", "loans", "/no/such/file.json"],
    ["tail", "no.such.topic"],
    ["dlq", "list", "no.such.topic"],
])
def test_bad_input_gets_a_clear_message_and_a_non_zero_exit(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_file_with_refused_items_reports_each_and_publishes_nothing_when_all_are_bad(tmp_path: Path) -> None:
    bad = tmp_path / "loans.json"
    bad.write_text('[{"loan_id": "L-1", "status": "ACTIVE"}]')
    result = runner.invoke(app, ["load", "loans", str(bad)])
    assert result.exit_code == 1 and "refused 1" in result.output and "L-1" in result.output
