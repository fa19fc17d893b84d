"""Who a loan's borrowers are, and how to reach them, follows the newest loan snapshot only (CONTRACT `as_of`)."""

from datetime import date, timedelta

from harness.builders import ACCOUNT_DAY, a_borrower, a_loan, ref
from harness.infra import Infra
from shared import topics
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.integration.notifier.helpers import consumed, for_event, known
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running

OUT = topics.NOTIFICATIONS_EVENTS


def two_versions() -> tuple[L.LoanSnapshot, L.LoanSnapshot, str, str]:
    """Yesterday X was the primary borrower and P a co-borrower; today P alone holds the loan, reached in English."""
    loan = a_loan()  # debit day 10, next due 2020-02-10
    x, p = ref("C"), ref("C")
    older = loan.model_copy(update={"as_of": ACCOUNT_DAY - timedelta(days=1), "borrowers": [
        a_borrower(x, channels=[L.NotificationChannel.SMS]),
        a_borrower(p, L.BorrowerRole.CO_BORROWER, language=L.Language.ZH_HANT, channels=[L.NotificationChannel.SMS],
                   phone="13900139000")]})
    newer = loan.model_copy(update={"borrowers": [
        a_borrower(p, language=L.Language.EN, channels=[L.NotificationChannel.APP_PUSH])]})
    return older, newer, x, p


def approved(loan: L.LoanSnapshot) -> R.RequestApproved:
    """An approval that does not name the applicant: the notifier tells the loan's primary borrower."""
    return R.RequestApproved(request_id=ref("R"), loan_id=loan.loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
                             approved_at=ACCOUNT_DAY, policy_version="epidemic-2020", new_debit_day=20,
                             new_due_date=date(2020, 2, 20))


async def told_primary(service: ServiceRuntime, kafka: KafkaDriver, loan: L.LoanSnapshot) -> tuple[str, str, str]:
    async with kafka.watch(OUT) as watch:
        event = await kafka.publish(topics.REQUESTS_EVENTS, approved(loan), subject=loan.loan_id)
        [told] = await for_event(watch, event.id)
    return told.data["customer_id"], told.data["channel"], told.data["language"]


async def test_a_late_older_snapshot_changes_neither_the_borrowers_nor_their_details(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    older, newer, x, p = two_versions()
    async with running("notifier", migrated) as service:
        await kafka.publish(topics.LOANS_SNAPSHOTS, newer, subject=newer.loan_id)
        await known(service, p)
        late = await kafka.publish(topics.LOANS_SNAPSHOTS, older, subject=older.loan_id)
        await consumed(service, late.id)
        async with http(service) as api:
            stranger = (await api.get(f"/recipients/{x}")).status_code
            details = (await api.get(f"/recipients/{p}")).json()
        told = await told_primary(service, kafka, newer)
    assert stranger == 404  # X was never projected: the late snapshot was not applied at all
    assert details == {"customer_id": p, "language": "en", "channels": ["APP_PUSH"]}
    assert told == (p, "APP_PUSH", "en")


async def test_a_newer_snapshot_replaces_the_loans_borrowers(migrated: Infra, kafka: KafkaDriver) -> None:
    older, newer, x, p = two_versions()
    async with running("notifier", migrated) as service:
        await kafka.publish(topics.LOANS_SNAPSHOTS, older, subject=older.loan_id)
        await known(service, x)
        latest = await kafka.publish(topics.LOANS_SNAPSHOTS, newer, subject=newer.loan_id)
        await consumed(service, latest.id)
        told = await told_primary(service, kafka, newer)
    assert told == (p, "APP_PUSH", "en")  # X, no longer on the loan, is not its primary borrower any more
