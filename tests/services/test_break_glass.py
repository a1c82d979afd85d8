from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from app.services.break_glass import (
    GRANT_LENGTH,
    break_glass_report,
    has_break_glass,
    my_break_glass,
    open_break_glass,
)
from app.services.check_ins import record_check_in
from app.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from app.services.rounds import rounds_for
from app.services.timeline import timeline_for
from app.services.trends import trends_for
from app.services.wards import discharge_patient, patient_header
from models import AuditEvent, BreakGlassGrant, CheckIn
from models.codes import AuditAction
from tests.factories import Ward, key

REASON = "Transferred to us tonight; reading the last day of checks"


@pytest.fixture
def elsewhere(db) -> Ward:
    """Another ward, whose patients the `ward` fixture's staff do not look after."""
    return Ward.create(db, patients=2)


def open_for(db, actor, mrn, reason=REASON, **fields):
    return open_break_glass(
        db, actor, {"mrn": mrn, "reason": reason, "client_key": key(), **fields}
    )


def check(patient_id, at):
    return {
        "patient_id": patient_id,
        "observed_at": at,
        "location": "day_room",
        "status": "resting",
        "client_key": key(),
    }


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_without_a_grant_another_wards_patient_is_refused(ward, elsewhere):
    with pytest.raises(NotAllowed):
        timeline_for(ward.db, ward.tech, elsewhere.patients[0].id)


def test_a_grant_opens_that_patient_for_reading_and_is_audited(ward, elsewhere, clock):
    patient = elsewhere.patients[0]
    record_check_in(ward.db, elsewhere.tech, check(patient.id, clock()))

    grant = open_for(ward.db, ward.tech, patient.mrn)

    assert grant.expires_at == clock() + GRANT_LENGTH
    assert grant.ward_id == elsewhere.ward.id
    page = timeline_for(ward.db, ward.tech, patient.id)
    assert len(page.entries) >= 1
    assert patient_header(ward.db, ward.tech, patient.id).mrn == patient.mrn
    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 11, 19), end=clock().date()
    )
    assert trends.patient_id == patient.id
    with ward.db.reading() as session:
        opened = session.exec(
            select(AuditEvent).where(AuditEvent.action == AuditAction.break_glass.value)
        ).one()
    assert (opened.staff_id, opened.patient_id) == (ward.tech.staff_id, patient.id)
    assert REASON in opened.detail
    assert has_break_glass(ward.db, ward.tech, patient.id)
    assert [held.id for held in my_break_glass(ward.db, ward.tech)] == [grant.id]


def test_a_grant_never_allows_writing(ward, elsewhere, clock):
    patient = elsewhere.patients[0]
    open_for(ward.db, ward.nurse, patient.mrn)
    checks = count(ward.db, CheckIn)
    with pytest.raises(NotAllowed):
        record_check_in(ward.db, ward.nurse, check(patient.id, clock()))
    assert count(ward.db, CheckIn) == checks


def test_a_grant_opens_one_patient_not_their_ward(ward, elsewhere):
    open_for(ward.db, ward.tech, elsewhere.patients[0].mrn)
    with pytest.raises(NotAllowed):
        timeline_for(ward.db, ward.tech, elsewhere.patients[1].id)
    with pytest.raises(NotAllowed):
        rounds_for(ward.db, ward.tech, elsewhere.ward.id)


def test_a_grant_is_the_openers_alone(ward, elsewhere):
    open_for(ward.db, ward.tech, elsewhere.patients[0].mrn)
    with pytest.raises(NotAllowed):
        timeline_for(ward.db, ward.nurse, elsewhere.patients[0].id)


def test_a_grant_expires(ward, elsewhere, clock):
    patient = elsewhere.patients[0]
    open_for(ward.db, ward.tech, patient.mrn)
    clock.advance(seconds=GRANT_LENGTH.total_seconds() - 1)
    timeline_for(ward.db, ward.tech, patient.id)
    clock.advance(seconds=1)
    with pytest.raises(NotAllowed):
        timeline_for(ward.db, ward.tech, patient.id)
    assert not has_break_glass(ward.db, ward.tech, patient.id)
    assert my_break_glass(ward.db, ward.tech) == []


def test_a_discharged_patient_can_be_read_through_a_grant(ward, elsewhere):
    patient = elsewhere.patients[0]
    discharge_patient(elsewhere.db, elsewhere.charge, patient.id)
    open_for(ward.db, ward.tech, patient.mrn)
    assert timeline_for(ward.db, ward.tech, patient.id).patient_id == patient.id


@pytest.mark.parametrize("reason", ["", "emergency", "          x", "x" * 1001])
def test_a_grant_needs_a_real_reason(ward, elsewhere, reason):
    with pytest.raises(InvalidInput, match="Reason"):
        open_for(ward.db, ward.tech, elsewhere.patients[0].mrn, reason=reason)
    assert count(ward.db, BreakGlassGrant) == 0


def test_admins_cannot_break_the_glass(ward, elsewhere):
    with pytest.raises(NotAllowed, match="role"):
        open_for(ward.db, ward.admin, elsewhere.patients[0].mrn)
    assert count(ward.db, BreakGlassGrant) == 0


def test_an_own_ward_patient_needs_no_grant(ward):
    with pytest.raises(Conflict, match="on your wards"):
        open_for(ward.db, ward.tech, ward.patients[0].mrn)


def test_an_unknown_mrn_is_named_as_unknown_and_opens_nothing(ward):
    audited = count(ward.db, AuditEvent)
    with pytest.raises(NotFound, match=r"^No patient has MRN 'NOSUCH1'\.$"):
        open_for(ward.db, ward.tech, "NOSUCH1")
    assert (count(ward.db, BreakGlassGrant), count(ward.db, AuditEvent)) == (0, audited)


def test_the_mrn_is_looked_up_only_for_those_who_may_break_the_glass(ward, elsewhere):
    """An admin learns nothing from an MRN: the role is refused before the patient is sought."""
    for mrn in (elsewhere.patients[0].mrn, "NOSUCH1"):
        with pytest.raises(NotAllowed, match="role"):
            open_for(ward.db, ward.admin, mrn)


def test_the_mrn_is_read_as_typed_around_its_spaces(ward, elsewhere):
    patient = elsewhere.patients[0]
    grant = open_for(ward.db, ward.tech, f"  {patient.mrn} ")
    assert grant.patient_id == patient.id


def test_the_same_form_sent_twice_opens_one_grant(ward, elsewhere):
    form = {"mrn": elsewhere.patients[0].mrn, "reason": REASON, "client_key": key()}
    first = open_break_glass(ward.db, ward.tech, form)
    again = open_break_glass(ward.db, ward.tech, form)
    assert again.id == first.id and again.replayed
    assert count(ward.db, BreakGlassGrant) == 1


def test_the_report_lists_grants_with_their_views(ward, elsewhere, clock):
    patient = elsewhere.patients[0]
    start = clock() - timedelta(hours=1)
    open_for(ward.db, ward.tech, patient.mrn)
    timeline_for(ward.db, ward.tech, patient.id)
    timeline_for(ward.db, ward.tech, patient.id)
    clock.advance(minutes=5)

    rows = break_glass_report(ward.db, ward.admin, start, clock())

    assert len(rows) == 1
    row = rows[0]
    assert (row.username, row.mrn, row.ward_code) == (
        ward.tech.username,
        patient.mrn,
        elsewhere.ward.code,
    )
    assert row.reason == REASON and row.views == 2
    with ward.db.reading() as session:
        last = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == AuditAction.view and "break-glass report" in last.detail


def test_a_charge_nurse_reviews_the_grants_on_their_own_wards(ward, elsewhere, clock):
    start = clock() - timedelta(hours=1)
    open_for(ward.db, ward.tech, elsewhere.patients[0].mrn)
    open_for(ward.db, elsewhere.tech, ward.patients[0].mrn)
    end = clock() + timedelta(minutes=1)

    mine = break_glass_report(ward.db, ward.charge, start, end)
    theirs = break_glass_report(ward.db, elsewhere.charge, start, end)

    assert [row.username for row in mine] == [elsewhere.tech.username]
    assert [row.username for row in theirs] == [ward.tech.username]
    assert len(break_glass_report(ward.db, ward.admin, start, end)) == 2


@pytest.mark.parametrize("role", ["tech", "nurse"])
def test_technicians_and_nurses_cannot_read_the_report(ward, clock, role):
    with pytest.raises(NotAllowed):
        break_glass_report(ward.db, getattr(ward, role), clock() - timedelta(days=1), clock())
