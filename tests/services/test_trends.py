from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app.services.check_ins import record_check_in
from app.services.corrections import amend_record, void_record
from app.services.errors import InvalidInput, NotAllowed
from app.services.groups import record_attendance, start_group_session
from app.services.incidents import record_incident
from app.services.levels import change_level
from app.services.sleep import record_sleep_report
from app.services.treatment import record_treatment_event
from app.services.trends import trends_for
from models import AuditEvent
from models.codes import AuditAction, ObservationLevel, RecordKind
from tests.factories import Ward, key

CHICAGO = ZoneInfo("America/Chicago")


def local(*parts: int, fold: int = 0) -> datetime:
    """A wall-clock time on the ward (America/Chicago), as aware UTC."""
    return datetime(*parts, tzinfo=CHICAGO, fold=fold).astimezone(UTC)


def seen(ward, patient_id, at, status="watching_tv", **fields):
    location = "own_room" if status in ("asleep", "awake_in_bed") else "day_room"
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": at,
            "location": location,
            "status": status,
            "client_key": key(),
            **fields,
        },
    )


def day(trends, which: date):
    return next(row for row in trends.days if row.day == which)


def test_every_day_of_the_range_is_present_with_hand_computed_means(ward, clock):
    patient = ward.patients[0]  # admitted 11:50 local on Fri 20 Nov
    seen(ward, patient.id, local(2026, 11, 20, 11, 52), mood=4, anxiety=2)
    seen(ward, patient.id, local(2026, 11, 20, 12, 0), mood=6)
    seen(ward, patient.id, local(2026, 11, 20, 12, 3))  # no rating: not counted
    clock.advance(minutes=20)
    seen(ward, patient.id, local(2026, 11, 20, 12, 18), mood=8, anxiety=3)

    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 11, 18), end=date(2026, 11, 21)
    )

    assert [row.day for row in trends.days] == [date(2026, 11, d) for d in (18, 19, 20, 21)]
    friday = day(trends, date(2026, 11, 20))
    assert (friday.mood.mean, friday.mood.low, friday.mood.high, friday.mood.count) == (
        6.0,
        4,
        8,
        3,
    )
    assert (friday.anxiety.mean, friday.anxiety.count) == (2.5, 2)
    empty = day(trends, date(2026, 11, 19))
    assert (empty.mood, empty.anxiety, empty.sleep_estimated_hours) == (None, None, None)
    assert (empty.groups_offered, empty.incidents, empty.moas_max) == (0, 0, None)


def test_voided_and_amended_away_checks_do_not_count(ward, clock):
    patient = ward.patients[0]
    seen(ward, patient.id, local(2026, 11, 20, 11, 52), mood=4)
    wrong = seen(ward, patient.id, local(2026, 11, 20, 11, 55), mood=10)
    mistyped = seen(ward, patient.id, local(2026, 11, 20, 11, 58), mood=1)
    void_record(ward.db, ward.nurse, RecordKind.check_in, wrong.id, "Wrong patient")
    amend_record(
        ward.db,
        ward.nurse,
        RecordKind.check_in,
        mistyped.id,
        {
            "patient_id": patient.id,
            "observed_at": mistyped.observed_at,
            "location": "day_room",
            "status": "watching_tv",
            "mood": 5,
            "client_key": key(),
        },
        "Mood was 5",
    )

    friday = day(
        trends_for(
            ward.db, ward.tech, patient.id, start=date(2026, 11, 20), end=date(2026, 11, 20)
        ),
        date(2026, 11, 20),
    )

    # 4 and 5 (the amendment); the voided 10 and the amended-away 1 are left out.
    assert (friday.mood.mean, friday.mood.low, friday.mood.high, friday.mood.count) == (
        4.5,
        4,
        5,
        2,
    )


def test_night_sleep_is_estimated_from_asleep_checks_over_the_night_window(ward, clock):
    patient = ward.admit(
        level=ObservationLevel.routine_q60, admitted_at=local(2026, 11, 18, 21, 30)
    )
    # Night of Thu 19 Nov, 22:00-07:00 (9 h): hourly checks, 6 of 9 asleep.
    statuses = ["awake_in_bed", "asleep", "asleep", "asleep", "awake_in_bed"]
    statuses += ["asleep", "asleep", "asleep", "awake_in_bed"]
    for hour, status in zip([22, 23, 0, 1, 2, 3, 4, 5, 6], statuses, strict=True):
        night_day = 19 if hour >= 22 else 20
        # The first, a day after the admission order, is late on its own.
        late = {"late_reason": "other"} if hour == 22 else {}
        seen(ward, patient.id, local(2026, 11, night_day, hour, 10), status, **late)
    seen(ward, patient.id, local(2026, 11, 20, 7, 10), "asleep")  # after the night: not counted
    # Night of Wed 18 Nov: only two checks, too few to estimate.
    seen(ward, patient.id, local(2026, 11, 18, 23, 0), "asleep")
    seen(ward, patient.id, local(2026, 11, 19, 2, 0), "asleep", late_reason="other")
    record_sleep_report(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "night_of": "2026-11-19",
            "reported_at": local(2026, 11, 20, 7, 30),
            "hours_slept": 5.5,
            "quality": "poor",
            "client_key": key(),
        },
    )

    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 11, 18), end=date(2026, 11, 20)
    )

    thursday = day(trends, date(2026, 11, 19))
    assert (thursday.night_checks, thursday.night_asleep) == (9, 6)
    assert thursday.sleep_estimated_hours == 6.0
    assert (thursday.sleep_reported_hours, thursday.sleep_quality) == (5.5, "poor")
    wednesday = day(trends, date(2026, 11, 18))
    assert (wednesday.night_checks, wednesday.sleep_estimated_hours) == (2, None)
    assert day(trends, date(2026, 11, 20)).sleep_reported_hours is None


def test_the_night_and_day_clocks_go_back_are_an_hour_longer(ward, clock):
    # Clocks go back at 02:00 on Sun 1 Nov 2026: that night is 10 h, that day 25 h.
    patient = ward.admit(admitted_at=local(2026, 10, 31, 21, 45))
    night_start = local(2026, 10, 31, 22, 0)
    moods = {
        local(2026, 11, 1, 1, 30, fold=0): 3,  # 01:30 CDT
        local(2026, 11, 1, 1, 30, fold=1): 5,  # 01:30 CST, an hour later
    }
    for n in range(40):  # q15 from 22:00 to 06:45 local: 40 checks over 10 hours
        at = night_start + timedelta(minutes=15 * n)
        status = "awake_in_bed" if n % 4 == 0 or at in moods else "asleep"
        seen(ward, patient.id, at, status, mood=moods.get(at))
    seen(ward, patient.id, local(2026, 11, 1, 23, 30), mood=7, late_reason="other")
    seen(ward, patient.id, local(2026, 11, 2, 0, 10), mood=9, late_reason="other")

    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 10, 31), end=date(2026, 11, 2)
    )

    saturday = day(trends, date(2026, 10, 31))
    # 10 awake on the hour + the two 01:30 checks (neither on the hour): 28 of 40 asleep.
    assert (saturday.night_checks, saturday.night_asleep) == (40, 28)
    assert saturday.sleep_estimated_hours == 7.0  # 28/40 x 10 h, not x 9 h
    sunday = day(trends, date(2026, 11, 1))
    # Both 01:30s and 23:30 CST (05:30 UTC on the 2nd) fall on Sunday.
    assert (sunday.mood.count, sunday.mood.mean) == (3, 5.0)
    assert day(trends, date(2026, 11, 2)).mood.count == 1


def test_groups_incidents_and_chart_markers(ward, clock):
    patient = ward.patients[0]
    at = clock() - timedelta(minutes=8)
    marks = [
        ("community_meeting", "attended", "active"),
        ("cbt_dbt_skills", "late_arrival", "minimal"),
        ("process_group", "refused", None),
        ("exercise", "cancelled", None),
    ]
    for n, (group_type, attendance, level) in enumerate(marks):
        group = start_group_session(
            ward.db,
            ward.tech,
            {
                "ward_id": ward.ward.id,
                "group_type": group_type,
                "started_at": at + timedelta(minutes=n),
                "client_key": key(),
            },
        )
        record_attendance(
            ward.db,
            ward.tech,
            {
                "session_id": group.id,
                "patient_id": patient.id,
                "attendance": attendance,
                "participation_level": level,
                "client_key": key(),
            },
        )
    incident_ids = []
    for verbal, physical in ((2, 1), (4, 0), (4, 4)):
        incident_ids.append(
            record_incident(
                ward.db,
                ward.tech,
                {
                    "patient_id": patient.id,
                    "occurred_at": at,
                    "incident_type": "verbal_aggression",
                    "location": "day_room",
                    "moas_verbal": verbal,
                    "moas_physical": physical,
                    "client_key": key(),
                },
            ).id
        )
    void_record(ward.db, ward.nurse, RecordKind.incident, incident_ids[2], "Duplicate entry")
    treatment = record_treatment_event(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "dose_changed",
            "effective_at": at,
            "name": "Quetiapine 100 mg",
            "client_key": key(),
        },
    )
    level = change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "level": "q5",
            "effective_at": clock(),
            "ordered_by": "Dr Synthetic",
            "reason": "Agitation",
            "client_key": key(),
        },
    )

    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 11, 20), end=date(2026, 11, 20)
    )

    friday = trends.days[0]
    assert (friday.groups_offered, friday.groups_present, friday.groups_participated) == (3, 2, 1)
    assert friday.participation_rate == 0.5
    assert (friday.incidents, friday.moas_max, friday.moas_total) == (2, 6, 10)
    assert [(marker.kind, marker.id) for marker in trends.markers] == [
        (RecordKind.level_change, patient.level.id),  # admission
        (RecordKind.treatment, treatment.id),
        (RecordKind.level_change, level.id),
    ]
    assert trends.markers[1].label == "Dose changed: Quetiapine 100 mg"
    assert trends.markers[2].label == "Level: q5"


def test_trends_are_for_the_patients_ward_and_each_view_is_audited(ward, db):
    patient = ward.patients[0]
    other = Ward.create(db)
    with pytest.raises(NotAllowed):
        trends_for(db, other.nurse, patient.id, start=date(2026, 11, 1), end=date(2026, 11, 20))
    with pytest.raises(NotAllowed):
        trends_for(db, ward.admin, patient.id, start=date(2026, 11, 1), end=date(2026, 11, 20))

    trends_for(db, ward.tech, patient.id, start=date(2026, 11, 1), end=date(2026, 11, 20))

    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == AuditAction.view, AuditEvent.patient_id == patient.id
            )
        ).all()
    assert [(row.staff_id, row.detail) for row in rows] == [
        (ward.tech.staff_id, "trends 2026-11-01..2026-11-20")
    ]


def test_a_backwards_or_overlong_range_is_refused(ward):
    patient = ward.patients[0]
    with pytest.raises(InvalidInput, match="on or after"):
        trends_for(ward.db, ward.tech, patient.id, start=date(2026, 11, 20), end=date(2026, 11, 1))
    with pytest.raises(InvalidInput, match="at most"):
        trends_for(ward.db, ward.tech, patient.id, start=date(2024, 1, 1), end=date(2026, 11, 1))
