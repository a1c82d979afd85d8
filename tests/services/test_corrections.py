import threading
from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from app.services.audit import verify_chain
from app.services.check_ins import record_check_in
from app.services.corrections import amend_record, correction_history, void_record
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.groups import record_attendance, start_group_session
from app.services.incidents import record_incident, start_restraint, update_restraint
from app.services.levels import change_level
from app.services.records import TABLES, current
from app.services.sleep import record_sleep_report
from app.services.treatment import record_treatment_event
from app.services.wards import discharge_patient
from models import AuditEvent, CheckIn, Correction
from models.codes import RecordKind
from tests.factories import Ward, check_form, key


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def audits(db, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with db.reading() as session:
        return session.exec(query).one()


def make(kind: RecordKind, ward, clock, patient=None) -> tuple[int, dict, dict]:
    """Record one `kind` for a patient through its service: its id, the form, and a change."""
    patient = patient or ward.patients[0]
    db, nurse, at = ward.db, ward.nurse, clock() - timedelta(minutes=2)
    if kind == RecordKind.check_in:
        data = check_form(patient.id, at)
        return record_check_in(db, nurse, data).id, data, {"status": "reading"}
    if kind == RecordKind.sleep_report:
        data = {
            "patient_id": patient.id,
            "night_of": date(2026, 11, 19),
            "reported_at": at,
            "hours_slept": 5,
            "quality": "poor",
            "client_key": key(),
        }
        return record_sleep_report(db, nurse, data).id, data, {"hours_slept": 7}
    if kind == RecordKind.group_attendance:
        group = start_group_session(
            db,
            nurse,
            {
                "ward_id": ward.ward.id,
                "group_type": "process_group",
                "started_at": at,
                "client_key": key(),
            },
        )
        data = {
            "session_id": group.id,
            "patient_id": patient.id,
            "attendance": "attended",
            "participation_level": "active",
            "client_key": key(),
        }
        return record_attendance(db, nurse, data).id, data, {"attendance": "left_early"}
    if kind == RecordKind.incident:
        data = {
            "patient_id": patient.id,
            "occurred_at": at,
            "incident_type": "verbal_aggression",
            "location": "hallway",
            "moas_verbal": 1,
            "client_key": key(),
        }
        return record_incident(db, nurse, data).id, data, {"moas_verbal": 3}
    if kind == RecordKind.restraint:
        data = {
            "patient_id": patient.id,
            "kind": "seclusion",
            "ordered_at": at,
            "ordered_by": "Dr. Synthetic",
            "started_at": at,
            "client_key": key(),
        }
        return start_restraint(db, nurse, data).id, data, {"kind": "physical_hold"}
    if kind == RecordKind.treatment:
        data = {
            "patient_id": patient.id,
            "kind": "dose_changed",
            "effective_at": at,
            "name": "Quetiapine (synthetic)",
            "detail": "50 mg at night",
            "client_key": key(),
        }
        return record_treatment_event(db, nurse, data).id, data, {"detail": "100 mg at night"}
    data = {
        "patient_id": patient.id,
        "level": "q5",
        "effective_at": at,
        "ordered_by": "Dr. Synthetic",
        "reason": "Pacing and agitated",
        "client_key": key(),
    }
    return change_level(db, nurse, data).id, data, {"level": "one_to_one_eyesight"}


def snapshot(db, kind: RecordKind, record_id: int) -> dict:
    with db.reading() as session:
        return session.get(TABLES[kind], record_id).model_dump()


def current_ids(db, kind: RecordKind, patient_id: int) -> list[int]:
    table = TABLES[kind]
    with db.reading() as session:
        return list(
            session.exec(
                select(table.id)
                .where(table.patient_id == patient_id, current(table))
                .order_by(table.id)
            )
        )


@pytest.mark.parametrize("kind", list(RecordKind))
def test_every_kind_is_amended_by_a_new_row_and_the_original_stays(ward, clock, kind):
    record_id, data, change = make(kind, ward, clock)
    original = snapshot(ward.db, kind, record_id)
    before = current_ids(ward.db, kind, data["patient_id"])
    amends = audits(ward.db, "amend")
    all_audits = audits(ward.db)
    clock.advance(minutes=1)

    fixed = amend_record(
        ward.db, ward.nurse, kind, record_id, {**data, **change, "client_key": key()}, "Wrong entry"
    )

    assert (fixed.action, fixed.record_id, fixed.reason) == ("amend", record_id, "Wrong entry")
    assert fixed.corrected_at == clock() and fixed.corrected_by_name.startswith("Test nurse")
    assert snapshot(ward.db, kind, record_id) == original
    replacement = snapshot(ward.db, kind, fixed.replacement_id)
    field, value = next(iter(change.items()))
    assert replacement[field] == value
    assert current_ids(ward.db, kind, data["patient_id"]) == [
        fixed.replacement_id if i == record_id else i for i in before
    ]
    assert (audits(ward.db), audits(ward.db, "amend")) == (all_audits + 1, amends + 1)


@pytest.mark.parametrize("kind", list(RecordKind))
def test_every_kind_can_be_voided_and_stays_readable(ward, clock, kind):
    record_id, data, _ = make(kind, ward, clock)
    original = snapshot(ward.db, kind, record_id)
    all_audits = audits(ward.db)

    voided = void_record(ward.db, ward.nurse, kind, record_id, "Entered for the wrong patient")

    assert (voided.action, voided.replacement_id) == ("void", None)
    assert record_id not in current_ids(ward.db, kind, data["patient_id"])
    assert snapshot(ward.db, kind, record_id) == original
    assert audits(ward.db) == all_audits + 1
    with ward.db.reading() as session:
        audit = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (audit.action, audit.record_kind, audit.record_id) == ("void", kind.value, record_id)
    assert audit.detail == "Entered for the wrong patient"


def test_voiding_twice_with_the_same_reason_returns_the_first_correction(ward, clock):
    record_id, _, _ = make(RecordKind.incident, ward, clock)
    first = void_record(ward.db, ward.nurse, "incident", record_id, "Duplicate entry")
    again = void_record(ward.db, ward.charge, "incident", record_id, "Duplicate entry")
    assert again.id == first.id and again.replayed and not first.replayed
    with pytest.raises(Conflict, match="already voided; correct the newest version"):
        void_record(ward.db, ward.nurse, "incident", record_id, "Another reason")
    assert count(ward.db, Correction) == 1
    assert audits(ward.db, "void") == 1


def test_a_voided_record_cannot_be_amended(ward, clock):
    record_id, data, _ = make(RecordKind.treatment, ward, clock)
    void_record(ward.db, ward.nurse, RecordKind.treatment, record_id, "Not given")
    with pytest.raises(Conflict, match="already voided"):
        amend_record(
            ward.db,
            ward.nurse,
            RecordKind.treatment,
            record_id,
            {**data, "name": "Other", "client_key": key()},
            "Wrong name",
        )


def test_an_amendment_replays_by_its_form_key(ward, clock):
    record_id, data, _ = make(RecordKind.sleep_report, ward, clock)
    replacement = {**data, "quality": "fair", "client_key": key()}
    first = amend_record(ward.db, ward.nurse, "sleep_report", record_id, replacement, "Misheard")
    rows, all_audits = count(ward.db, Correction), audits(ward.db)

    again = amend_record(ward.db, ward.nurse, "sleep_report", record_id, replacement, "Misheard")

    assert again.id == first.id and again.replacement_id == first.replacement_id
    assert again.replayed
    assert (count(ward.db, Correction), audits(ward.db)) == (rows, all_audits)
    with pytest.raises(Conflict, match="already saved with different details"):
        amend_record(
            ward.db,
            ward.nurse,
            "sleep_report",
            record_id,
            {**replacement, "quality": "good"},
            "Misheard",
        )
    with pytest.raises(Conflict, match="already saved with different details"):
        amend_record(ward.db, ward.nurse, "sleep_report", record_id, replacement, "Other reason")


def test_an_amended_record_is_corrected_through_its_newest_version(ward, clock):
    record_id, data, _ = make(RecordKind.level_change, ward, clock)
    first = amend_record(
        ward.db,
        ward.nurse,
        "level_change",
        record_id,
        {**data, "level": "q15", "client_key": key()},
        "Order was q15",
    )
    with pytest.raises(Conflict, match="already amended; correct the newest version"):
        amend_record(
            ward.db,
            ward.nurse,
            "level_change",
            record_id,
            {**data, "level": "q5", "client_key": key()},
            "Try again",
        )
    second = amend_record(
        ward.db,
        ward.charge,
        "level_change",
        first.replacement_id,
        {**data, "level": "routine_q30", "client_key": key()},
        "Order was q30",
    )
    last = void_record(ward.db, ward.nurse, "level_change", second.replacement_id, "No order")

    with ward.db.reading() as session:
        for version in (record_id, first.replacement_id, second.replacement_id):
            history = correction_history(session, RecordKind.level_change, version)
            assert [step.id for step in history] == [first.id, second.id, last.id]
        assert [s.reason for s in history] == ["Order was q15", "Order was q30", "No order"]
        assert correction_history(session, RecordKind.check_in, record_id) == []


def test_a_check_amended_at_the_same_time_is_not_taken_for_a_duplicate(ward, clock):
    patient = ward.patients[0]
    data = check_form(patient.id, clock())
    original = record_check_in(ward.db, ward.tech, data)
    fixed = amend_record(
        ward.db,
        ward.nurse,
        RecordKind.check_in,
        original.id,
        {**data, "status": "reading", "client_key": key()},
        "Was reading, not watching TV",
    )
    with ward.db.reading() as session:
        replacement = session.get(CheckIn, fixed.replacement_id)
    assert replacement.observed_at == original.observed_at and replacement.status == "reading"


def test_an_amended_check_that_duplicates_another_check_is_refused(ward, clock):
    patient = ward.admit(admitted_at=clock() - timedelta(minutes=20))
    first = check_form(patient.id, clock() - timedelta(minutes=15))
    record_check_in(ward.db, ward.tech, first)
    second = check_form(patient.id, clock())
    later = record_check_in(ward.db, ward.tech, second)
    before = (count(ward.db, CheckIn), count(ward.db, Correction), audits(ward.db))
    with pytest.raises(Conflict, match="already checked"):
        amend_record(
            ward.db,
            ward.nurse,
            "check_in",
            later.id,
            {**second, "observed_at": first["observed_at"], "client_key": key()},
            "Wrong time",
        )
    assert (count(ward.db, CheckIn), count(ward.db, Correction), audits(ward.db)) == before


def test_a_replacement_follows_its_kinds_rules(ward, clock):
    patient = ward.patients[0]
    record_id, data, _ = make(RecordKind.sleep_report, ward, clock)
    other_night = {**data, "night_of": date(2026, 11, 18), "client_key": key()}
    record_sleep_report(ward.db, ward.tech, other_night)
    with pytest.raises(Conflict, match="already recorded"):
        amend_record(
            ward.db,
            ward.nurse,
            "sleep_report",
            record_id,
            {**data, "night_of": date(2026, 11, 18), "client_key": key()},
            "Wrong night",
        )
    assert current_ids(ward.db, RecordKind.sleep_report, patient.id) == sorted(
        [record_id, record_id + 1]
    )


def test_a_replacement_is_for_the_same_patient_and_changes_something(ward, clock):
    record_id, data, _ = make(RecordKind.incident, ward, clock)
    before = (count(ward.db, Correction), audits(ward.db))
    with pytest.raises(InvalidInput, match="same patient"):
        amend_record(
            ward.db,
            ward.nurse,
            "incident",
            record_id,
            {**data, "patient_id": ward.patients[1].id, "client_key": key()},
            "Wrong patient",
        )
    with pytest.raises(InvalidInput, match="changes nothing"):
        amend_record(
            ward.db, ward.nurse, "incident", record_id, {**data, "client_key": key()}, "Oops"
        )
    assert (count(ward.db, Correction), audits(ward.db)) == before


def test_amending_a_restraint_keeps_its_recorded_progress(ward, clock):
    record_id, data, _ = make(RecordKind.restraint, ward, clock)
    clock.advance(minutes=30)
    update_restraint(
        ward.db, ward.nurse, record_id, {"face_to_face_at": clock(), "ended_at": clock()}
    )
    fixed = amend_record(
        ward.db,
        ward.nurse,
        "restraint",
        record_id,
        {**data, "ordered_by": "Dr. Other Synthetic", "client_key": key()},
        "Wrong physician",
    )
    replacement = snapshot(ward.db, RecordKind.restraint, fixed.replacement_id)
    assert replacement["ordered_by"] == "Dr. Other Synthetic"
    assert (replacement["face_to_face_at"], replacement["ended_at"]) == (clock(), clock())
    with pytest.raises(InvalidInput, match="Start time is after the recorded face-to-face"):
        amend_record(
            ward.db,
            ward.nurse,
            "restraint",
            fixed.replacement_id,
            {**data, "started_at": clock() + timedelta(minutes=1), "client_key": key()},
            "Started later",
        )


def test_technicians_other_wards_and_discharged_patients_cannot_correct(ward, db, clock):
    record_id, data, change = make(RecordKind.check_in, ward, clock)
    other = Ward.create(db)
    replacement = {**data, **change, "client_key": key()}
    with pytest.raises(NotAllowed, match="role"):
        void_record(db, ward.tech, "check_in", record_id, "Mistake")
    with pytest.raises(NotAllowed, match="role"):
        amend_record(db, ward.tech, "check_in", record_id, replacement, "Mistake")
    with pytest.raises(NotAllowed, match="not on your wards"):
        void_record(db, other.nurse, "check_in", record_id, "Mistake")
    with pytest.raises(NotAllowed, match="not on your wards"):
        amend_record(db, other.charge, "check_in", record_id, replacement, "Mistake")
    with pytest.raises(NotAllowed, match="not on your wards"):
        void_record(db, ward.nurse, "check_in", 999_999, "Mistake")
    discharge_patient(db, ward.charge, ward.patients[0].id)
    with pytest.raises(NotAllowed, match="read-only"):
        void_record(db, ward.nurse, "check_in", record_id, "Mistake")
    assert count(db, Correction) == 0
    assert audits(db, "void") == audits(db, "amend") == 0


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("   ", "Reason is required"),
        ("typo\x00", "Reason contains an invisible control character"),
        ("r" * 1001, "Reason is too long"),
    ],
)
def test_a_correction_needs_a_readable_reason(ward, clock, reason, message):
    record_id, data, change = make(RecordKind.treatment, ward, clock)
    with pytest.raises(InvalidInput, match=message):
        void_record(ward.db, ward.nurse, "treatment", record_id, reason)
    with pytest.raises(InvalidInput) as refused:
        amend_record(
            ward.db,
            ward.nurse,
            "treatment",
            record_id,
            {**data, **change, "name": "", "client_key": key()},
            reason,
        )
    assert refused.value.problems[0].startswith(message)
    assert "Name is required." in refused.value.problems
    assert count(ward.db, Correction) == 0


def test_an_unknown_kind_of_record_is_refused(ward, clock):
    with pytest.raises(InvalidInput, match="Record kind is not one of the choices"):
        void_record(ward.db, ward.nurse, "medication", 1, "Mistake")


def test_the_audit_chain_stays_whole_through_corrections(ward, clock):
    record_id, data, change = make(RecordKind.check_in, ward, clock)
    fixed = amend_record(
        ward.db, ward.nurse, "check_in", record_id, {**data, **change, "client_key": key()}, "Fix"
    )
    void_record(ward.db, ward.nurse, "check_in", fixed.replacement_id, "Never happened")
    with ward.db.reading() as session:
        assert verify_chain(session, key=ward.db.keys.audit).first_bad_id is None


def test_two_nurses_voiding_at_once_make_one_correction(ward, clock):
    record_id, _, _ = make(RecordKind.check_in, ward, clock)
    start = threading.Barrier(2)
    results = []

    def void(actor):
        start.wait()
        results.append(void_record(ward.db, actor, "check_in", record_id, "Duplicate entry"))

    threads = [threading.Thread(target=void, args=(a,)) for a in (ward.nurse, ward.charge)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({r.id for r in results}) == 1 and len(results) == 2
    assert sorted(r.replayed for r in results) == [False, True]
    assert count(ward.db, Correction) == 1
    assert audits(ward.db, "void") == 1


def test_an_amendment_to_a_time_before_the_admission_is_refused(ward, clock):
    record_id, data, _ = make(RecordKind.check_in, ward, clock)
    before = (count(ward.db, CheckIn), count(ward.db, Correction), audits(ward.db))
    with pytest.raises(InvalidInput, match=r"Time seen is before .* was admitted"):
        amend_record(
            ward.db,
            ward.nurse,
            "check_in",
            record_id,
            {**data, "observed_at": clock() - timedelta(hours=1), "client_key": key()},
            "Wrong time",
        )
    assert (count(ward.db, CheckIn), count(ward.db, Correction), audits(ward.db)) == before
