from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.services.check_ins import record_check_in, record_routine_check
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.levels import change_level
from models import AuditEvent, CheckIn
from tests.factories import check_form, key


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_check_in_is_saved_with_server_time_and_audited(ward, clock):
    patient = ward.patients[0]
    observed = clock() - timedelta(minutes=2)
    audits = count(ward.db, AuditEvent)

    saved = record_check_in(ward.db, ward.tech, check_form(patient.id, observed, mood=6, anxiety=3))

    assert saved.observed_at == observed
    assert saved.recorded_at == clock()
    assert (saved.mood, saved.anxiety, saved.late) == (6, 3, False)
    assert saved.staff_name.startswith("Test technician")
    assert count(ward.db, CheckIn) == 1
    assert count(ward.db, AuditEvent) == audits + 1


def test_replay_under_the_same_key_returns_the_first_check(ward, clock):
    data = check_form(ward.patients[0].id, clock())
    first = record_check_in(ward.db, ward.tech, data)
    again = record_check_in(ward.db, ward.tech, data)
    assert again.id == first.id
    assert again.replayed and not first.replayed
    assert count(ward.db, CheckIn) == 1


def test_another_body_under_a_used_key_is_refused(ward, clock):
    data = check_form(ward.patients[0].id, clock())
    record_check_in(ward.db, ward.tech, data)
    with pytest.raises(Conflict):
        record_check_in(ward.db, ward.tech, {**data, "status": "reading"})
    assert count(ward.db, CheckIn) == 1


def test_same_patient_checked_twice_within_a_minute_is_refused(ward, clock):
    patient = ward.patients[0]
    record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    with pytest.raises(Conflict, match="already checked"):
        record_check_in(
            ward.db, ward.nurse, check_form(patient.id, clock() + timedelta(seconds=30))
        )


def test_late_check_is_flagged_after_one_and_a_half_intervals(ward, clock):
    patient = ward.patients[0]  # q15
    record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    on_time = record_check_in(ward.db, ward.tech, check_form(patient.id, clock.advance(minutes=22)))
    assert not on_time.late

    clock.advance(minutes=23)
    with pytest.raises(InvalidInput, match="past due"):
        record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    late = record_check_in(
        ward.db, ward.tech, check_form(patient.id, clock(), late_reason="staff_emergency")
    )
    assert late.late and late.late_reason == "staff_emergency"


def test_a_level_change_restarts_the_interval(ward, clock):
    patient = ward.patients[0]
    record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    clock.advance(minutes=10)
    change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "level": "q5",
            "effective_at": clock(),
            "ordered_by": "Dr. Synthetic",
            "reason": "Agitated after phone call",
            "client_key": key(),
        },
    )
    clock.advance(minutes=8)  # 8 min after a q5 order: past 7.5 min
    with pytest.raises(InvalidInput, match="past due"):
        record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))


def test_missed_check_needs_a_reason(ward, clock):
    patient = ward.patients[0]
    with pytest.raises(InvalidInput, match="reason"):
        record_check_in(
            ward.db,
            ward.tech,
            {"patient_id": patient.id, "observed_at": clock(), "missed": True, "client_key": key()},
        )
    missed = record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": clock(),
            "missed": True,
            "late_reason": "off_unit",
            "client_key": key(),
        },
    )
    assert missed.missed and missed.location is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mood", 11, "Mood must be from 0 to 10"),
        ("mood", float("nan"), "Mood must be a whole number"),
        ("anxiety", True, "Anxiety must be a whole number"),
        ("location", "roof", "Location is not one of the choices"),
        ("note", "x" * 1001, "Note is too long"),
        ("note", "calm\x00", "Note contains an invisible control character"),
        ("note", "dose \u202e01", "Note contains a text-direction control"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(
    ward, clock, field, value, message
):
    with pytest.raises(InvalidInput) as refused:
        record_check_in(
            ward.db, ward.tech, check_form(ward.patients[0].id, clock(), **{field: value})
        )
    assert message in refused.value.message
    assert count(ward.db, CheckIn) == 0


def test_naive_and_future_times_are_refused(ward, clock):
    patient = ward.patients[0]
    with pytest.raises(InvalidInput, match="Time seen must include a time zone"):
        record_check_in(ward.db, ward.tech, check_form(patient.id, clock().replace(tzinfo=None)))
    with pytest.raises(InvalidInput, match="Time seen is in the future"):
        record_check_in(ward.db, ward.tech, check_form(patient.id, clock() + timedelta(minutes=6)))
    # A device clock a few minutes fast is accepted.
    assert record_check_in(
        ward.db, ward.tech, check_form(patient.id, clock() + timedelta(minutes=4))
    )


def test_other_wards_patients_are_out_of_reach(ward, db, clock):
    from tests.factories import Ward

    other = Ward.create(db)
    with pytest.raises(NotAllowed):
        record_check_in(db, other.tech, check_form(ward.patients[0].id, clock()))
    with pytest.raises(NotAllowed, match="not on your wards"):
        record_check_in(db, other.tech, check_form(999_999, clock()))
    with pytest.raises(NotAllowed):
        record_check_in(db, ward.admin, check_form(ward.patients[0].id, clock()))
    assert count(db, CheckIn) == 0


def test_routine_check_by_day_repeats_the_last_location_and_status(ward, clock):
    patient = ward.patients[0]
    record_check_in(
        ward.db, ward.tech, check_form(patient.id, clock(), location="dining", status="eating")
    )
    routine = record_routine_check(
        ward.db,
        ward.tech,
        {"patient_id": patient.id, "observed_at": clock.advance(minutes=15), "client_key": key()},
    )
    assert (routine.location, routine.status) == ("dining", "eating")
    assert routine.mood is None


def test_routine_check_at_night_is_asleep_in_own_room(ward, clock):
    clock.now = clock.now.replace(hour=8)  # 02:00 in Chicago
    patient = ward.admit(admitted_at=clock() - timedelta(minutes=5))
    routine = record_routine_check(
        ward.db, ward.tech, {"patient_id": patient.id, "observed_at": clock(), "client_key": key()}
    )
    assert (routine.location, routine.status) == ("own_room", "asleep")


def test_a_late_entered_check_just_before_another_is_a_duplicate_too(ward, clock):
    patient = ward.patients[0]
    record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    with pytest.raises(Conflict, match="already checked"):
        record_check_in(
            ward.db, ward.nurse, check_form(patient.id, clock() - timedelta(seconds=30))
        )


def test_a_check_before_the_patients_admission_is_refused_and_writes_nothing(ward, clock):
    patient = ward.patients[0]  # admitted 10 min ago: 11:50 on the ward
    audits = count(ward.db, AuditEvent)
    with pytest.raises(InvalidInput, match=r"Time seen is before .* was admitted \(20 Nov 11:50\)"):
        record_check_in(ward.db, ward.tech, check_form(patient.id, clock() - timedelta(minutes=11)))
    routine = {"patient_id": patient.id, "observed_at": clock() - timedelta(hours=3)}
    with pytest.raises(InvalidInput, match=r"before .* was admitted"):
        record_routine_check(ward.db, ward.tech, {**routine, "client_key": key()})
    assert (count(ward.db, CheckIn), count(ward.db, AuditEvent)) == (0, audits)

    on_arrival = record_check_in(
        ward.db, ward.tech, check_form(patient.id, clock() - timedelta(minutes=10))
    )
    assert on_arrival.observed_at == clock() - timedelta(minutes=10)
