"""`postloan dlq list` and `replay` against the real broker: a dead letter is shown with its reason and goes back
to its topic unchanged (here it is still invalid, so the service dead-letters it again, marked as replayed)."""

import asyncio
import re

from typer.testing import CliRunner

import cli.operations  # noqa: F401  - registers the commands as main() does
from cli.main import app
from harness.builders import ref
from harness.infra import TEST_STATE, Infra
from shared import topics
from tests.support.kafka import KafkaDriver
from tests.support.services import running

runner = CliRunner()
DLQ = topics.dlq(topics.CONFIRMATION_COMMANDS)
STATE = {"POSTLOAN_STATE_DIR": str(TEST_STATE)}  # where the CLI finds the test broker's credentials


async def run_cli(*args: str) -> str:
    result = await asyncio.to_thread(runner.invoke, app, list(args), env={"COLUMNS": "250", **STATE})
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_dead_letter_is_listed_with_its_reason_and_replayed_to_its_topic(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    key = ref("K")
    async with running("confirmation", migrated), kafka.watch(DLQ) as watch:
        await kafka.publish_raw(topics.CONFIRMATION_COMMANDS, b"<not json>", key=key.encode())
        [letter] = await watch.wait_for(lambda s: s.key == key.encode())
        listed = await run_cli("dlq", "list", topics.CONFIRMATION_COMMANDS, "--bootstrap", migrated.kafka_bootstrap)
        letter_id = f"{DLQ}:{letter.partition}:{letter.offset}"
        assert re.search(rf"not-json.*{re.escape(letter_id)}", listed)
        await run_cli("dlq", "replay", letter_id, "--bootstrap", migrated.kafka_bootstrap)
        [_, again] = await watch.wait_for(lambda s: s.key == key.encode(), count=2)
    assert again.value == b"<not json>"
    assert again.headers["x-replayed-from"] == letter_id and again.headers["x-error-kind"] == "not-json"
