"""Personal data never reaches a log line in clear (SPEC §10)."""

import json
import logging

import pytest
import structlog

from shared.logging import Logger, configure_logging, log_context
from shared.redaction import redact


def test_personal_keys_are_masked_wherever_they_are() -> None:
    masked = redact({"name": "測試客戶", "nested": {"phone": "13800138000", "loan_id": "L-1"},
                     "borrowers": [{"id_number": "440301198001011234", "email": "a@b.cn"}]})
    assert masked == {"name": "***", "nested": {"phone": "***", "loan_id": "L-1"},
                      "borrowers": [{"id_number": "***", "email": "***"}]}


def test_phone_id_and_email_inside_free_text_are_masked() -> None:
    text = redact("call 13800138000 or +86 13912345678, ID 440301198001011234, mail liu@example.com")
    assert "138" not in text and "4403" not in text and "example" not in text


def test_loan_and_customer_ids_stay_readable() -> None:
    assert redact({"loan_id": "L-0001", "customer_id": "C-0001"}) == {"loan_id": "L-0001", "customer_id": "C-0001"}


def test_configured_logs_are_json_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("tests", json=True)
    structlog.get_logger("t").info("customer_seen", name="劉小姐", phone="13800138000", loan_id="L-9")
    logging.getLogger("faststream").info("payload %s", "13800138000")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "customer_seen" and lines[0]["loan_id"] == "L-9"
    assert lines[0]["name"] == "***" and lines[0]["phone"] == "***"
    assert "13800138000" not in lines[1]["event"]


def test_log_context_fields_reach_every_line_inside_and_none_after(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("tests", json=True)
    logger = structlog.get_logger("t")
    with log_context(event_id="E-1", topic="requests.commands", offset=7, phone="13800138000"):
        logger.info("outer")
        with log_context(offset=8, timer="alert"):
            logger.info("inner", event_id="E-own")  # the line's own field wins over the context's
            logging.getLogger("faststream").info("library line")
        logger.info("outer again")
    logger.info("after")
    lines = {line["event"]: line for line in map(json.loads, capsys.readouterr().err.splitlines())}
    assert {k: lines["outer"].get(k) for k in ("event_id", "topic", "offset", "timer")} == \
        {"event_id": "E-1", "topic": "requests.commands", "offset": 7, "timer": None}
    assert {k: lines["inner"][k] for k in ("event_id", "topic", "offset", "timer")} == \
        {"event_id": "E-own", "topic": "requests.commands", "offset": 8, "timer": "alert"}
    assert lines["library line"]["offset"] == 8 and lines["library line"]["event_id"] == "E-1"
    assert lines["outer again"]["offset"] == 7 and "timer" not in lines["outer again"]
    assert not {"event_id", "topic", "offset", "timer"} & lines["after"].keys()
    assert all(line["phone"] == "***" for name, line in lines.items() if name != "after")  # redacted as any field


def test_a_modules_logger_keeps_the_methods_it_found_only_once_loggers_are_cached(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A module's `Logger` looks a method up through structlog's proxy, and keeps it only when the configuration
    keeps loggers (a service's `once`): lines are the same either way, redacted, and a later configuration of a
    test process is still followed."""
    configure_logging("tests", json=True)
    log = Logger("t")
    log.info("first", phone="13800138000")
    assert "info" not in vars(log)
    try:
        configure_logging("tests", json=True, once=True)
        log.info("second", phone="13800138000")
        assert "info" in vars(log)
        log.info("third")
        log.debug("filtered out at INFO")
    finally:
        configure_logging("tests", json=True)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == ["first", "second", "third"]
    assert lines[0]["phone"] == lines[1]["phone"] == "***"
