"""Runs last in the end-to-end session: after every scenario, no personal data is in any service's log or span."""

import json
import re
from pathlib import Path

from tests.support.otlp import OtlpReceiver
from tests.support.services import Process

PII = re.compile(r"測試客戶|13800138000|440301198001011234|customer@example\.com")


async def test_no_personal_data_reaches_the_service_logs(platform: dict[str, Process]) -> None:
    """The scenarios' borrowers carry a name, phone, ID number and e-mail; none of it may be logged."""
    for process in platform.values():
        text = Path(process.log).read_text(encoding="utf-8", errors="replace")
        assert text, f"{process.info.name} wrote no log"
        assert not PII.search(text), f"{process.info.name} logged personal data"




async def test_no_personal_data_reaches_the_spans(platform: dict[str, Process], otlp: OtlpReceiver) -> None:
    """Nor any span the services exported during the run (names and attributes: ids only)."""
    spans = otlp.spans()
    assert spans, "the platform exported no span"
    assert not PII.search(json.dumps([[s.service, s.name, s.attributes] for s in spans], ensure_ascii=False))
