import threading
from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.sleep import record_sleep_report
from app.services.wards import discharge_patient
from models import AuditEvent, SleepReport
from tests.factories import Ward, key

LAST_NIGHT = date(2026, 11, 19)  # the clock starts at noon on 20 November in the ward's zone


def report(patient_id, reported_at, **fields):
    return {
        "patient_id": patient_id,
        "night_of": LAST_NIGHT,
        "reported_at": reported_at,
        "hours_slept": 6.5,
        "quality": "fair",
        "awakenings": 2,
        "client_key": key(),
        **fields,
    }


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_morning_report_is_saved_and_audited(ward, clock):
    patient = ward.patients[0]
    audits = count(ward.db, AuditEvent)

    saved = record_sleep_report(ward.db, ward.tech, report(patient.id, clock(), nightmares=True))

    assert (saved.night_of, saved.hours_slept, saved.quality) == (LAST_NIGHT, 6.5, "fair")
    assert saved.nightmares and saved.awakenings == 2
    assert saved.recorded_at == clock() and not saved.replayed
    assert count(ward.db, SleepReport) == 1
    assert count(ward.db, AuditEvent) == audits + 1
    with ward.db.reading() as session:
        audit = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (audit.action, audit.record_kind, audit.record_id) == (
        "create",
        "sleep_report",
        saved.id,
    )


def test_hours_are_kept_to_the_quarter_hour(ward, clock):
    saved = record_sleep_report(
        ward.db, ward.tech, report(ward.patients[0].id, clock(), hours_slept=6.1)
    )
    assert saved.hours_slept == 6.0


def test_replay_returns_the_first_report_and_another_body_is_refused(ward, clock):
    data = report(ward.patients[0].id, clock())
    first = record_sleep_report(ward.db, ward.tech, data)
    again = record_sleep_report(ward.db, ward.tech, data)
    assert again.id == first.id and again.replayed
    with pytest.raises(Conflict, match="already saved with different details"):
        record_sleep_report(ward.db, ward.tech, {**data, "quality": "poor"})
    assert count(ward.db, SleepReport) == 1


def test_a_second_report_for_the_same_night_asks_for_an_amendment(ward, clock):
    patient = ward.patients[0]
    record_sleep_report(ward.db, ward.tech, report(patient.id, clock()))
    with pytest.raises(Conflict, match=r"already recorded\. Amend"):
        record_sleep_report(ward.db, ward.nurse, report(patient.id, clock(), quality="good"))
    # Another night is another report.
    record_sleep_report(
        ward.db, ward.tech, report(patient.id, clock(), night_of=date(2026, 11, 18))
    )
    assert count(ward.db, SleepReport) == 2


def test_a_night_that_has_not_begun_cannot_be_reported(ward, clock):
    with pytest.raises(InvalidInput, match="had not begun"):
        record_sleep_report(
            ward.db, ward.tech, report(ward.patients[0].id, clock(), night_of=date(2026, 11, 20))
        )
    assert count(ward.db, SleepReport) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours_slept", 17, "Hours slept must be from 0 to 16 hours"),
        ("hours_slept", float("nan"), "Hours slept must be a number of hours"),
        ("awakenings", True, "Awakenings must be a whole number"),
        ("quality", "excellent", "Quality is not one of the choices"),
        ("note", "slept \x07", "Note contains an invisible control character"),
        ("reported_at", "2026-11-20T12:00:00", "Time reported must include a time zone"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(ward, clock, field, value, message):
    data = {**report(ward.patients[0].id, clock()), field: value}
    with pytest.raises(InvalidInput) as refused:
        record_sleep_report(ward.db, ward.tech, data)
    assert message in refused.value.message
    assert count(ward.db, SleepReport) == 0


def test_other_wards_admins_and_discharged_patients_are_refused(ward, db, clock):
    other = Ward.create(db)
    patient = ward.patients[0]
    with pytest.raises(NotAllowed, match="not on your wards"):
        record_sleep_report(db, other.tech, report(patient.id, clock()))
    with pytest.raises(NotAllowed, match="role"):
        record_sleep_report(db, ward.admin, report(patient.id, clock()))
    discharge_patient(db, ward.charge, patient.id)
    clock.advance(minutes=1)
    with pytest.raises(NotAllowed, match="read-only"):
        record_sleep_report(db, ward.tech, report(patient.id, clock()))
    assert count(db, SleepReport) == 0


def test_a_report_from_a_device_a_little_fast_is_accepted(ward, clock):
    fast = clock() + timedelta(minutes=4)
    assert record_sleep_report(ward.db, ward.tech, report(ward.patients[0].id, fast)).id


def test_two_reports_of_one_night_sent_at_once_make_one(ward, clock):
    patient = ward.patients[0]
    start = threading.Barrier(2)
    outcomes = []

    def send(quality):
        start.wait()
        try:
            saved = record_sleep_report(
                ward.db, ward.tech, report(patient.id, clock(), quality=quality)
            )
            outcomes.append(saved.quality)
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=send, args=(q,)) for q in ("good", "poor")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("refused") == 1
    assert count(ward.db, SleepReport) == 1


def test_a_report_taken_before_the_admission_is_refused_but_a_night_at_home_is_not(ward, clock):
    patient = ward.admit(admitted_at=clock() - timedelta(hours=2))  # 10:00 on the ward
    with pytest.raises(
        InvalidInput, match=r"Time reported is before .* was admitted \(20 Nov 10:00\)"
    ):
        record_sleep_report(ward.db, ward.tech, report(patient.id, clock() - timedelta(hours=3)))
    assert count(ward.db, SleepReport) == 0
    # Last night was spent at home: the patient can still say how they slept.
    saved = record_sleep_report(ward.db, ward.tech, report(patient.id, clock()))
    assert saved.night_of == LAST_NIGHT
