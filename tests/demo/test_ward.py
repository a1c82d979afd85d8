"""The demo ward: who and what it holds, that it follows the ward's rules, and that it refuses
to mix with other data. The records are read straight from the tables."""

import time
from datetime import date, timedelta
from itertools import pairwise
from statistics import mean

import pytest
from sqlmodel import func, select

from app.demo import (
    ACCOUNTS,
    DEMO_PIN,
    WARD_CODE,
    DemoAlreadyLoaded,
    DemoRefused,
    fill_demo_ward,
)
from app.demo.history import age_on
from app.services.access import Actor
from app.services.accounts import sign_in, verify_pin
from app.services.audit import verify_chain
from app.services.check_ins import due_after
from app.services.rounds import DueState, rounds_for
from app.services.ward_time import day_bounds, local_date
from models import (
    AuditEvent,
    CheckIn,
    CheckInCreate,
    GroupAttendance,
    GroupAttendanceCreate,
    GroupSession,
    GroupSessionCreate,
    Incident,
    IncidentCreate,
    LevelChange,
    LevelChangeCreate,
    Patient,
    PatientCreate,
    RestraintEpisode,
    RestraintEpisodeCreate,
    RestraintProgress,
    SleepReport,
    SleepReportCreate,
    TreatmentEvent,
    TreatmentEventCreate,
    Ward,
)
from models.codes import ObservationLevel, Role, TreatmentKind
from tests.demo.conftest import SHORT_DAYS
from tests.factories import Ward as WardFactory

MRNS = [f"D{number:04d}" for number in range(1, 21)]
TOLERANCE = 0.15
CHICAGO = Ward(time_zone="America/Chicago")


def patients_by_mrn(session) -> dict[str, Patient]:
    return {patient.mrn: patient for patient in session.exec(select(Patient)).all()}


def checks_of(session, patient: Patient) -> list[CheckIn]:
    return list(
        session.exec(
            select(CheckIn)
            .where(CheckIn.patient_id == patient.id)
            .order_by(CheckIn.observed_at, CheckIn.id)
        )
    )


def expected_checks(session, patient: Patient, start, end) -> float:
    """How many checks the patient's level orders call for between start and end."""
    orders = session.exec(
        select(LevelChange)
        .where(LevelChange.patient_id == patient.id)
        .order_by(LevelChange.effective_at)
    ).all()
    begin = max(start, patient.admitted_at)
    total = 0.0
    for order, following in zip(orders, [*orders[1:], None], strict=True):
        segment_end = following.effective_at if following else end
        low, high = max(begin, order.effective_at), min(end, segment_end)
        if high > low:
            total += (high - low) / ObservationLevel(order.level).check_interval
    return total


def history_of(db) -> list[tuple]:
    """Every check, sleep report and attendance, without database ids."""
    with db.reading() as session:
        mrn = dict(session.exec(select(Patient.id, Patient.mrn)).all())
        checks = [
            (
                mrn[row.patient_id],
                row.observed_at,
                row.recorded_at,
                row.location,
                row.status,
                tuple(row.behaviours),
                row.affect,
                row.mood,
                row.anxiety,
                row.missed,
                row.late,
                row.late_reason,
                row.note,
                row.client_key,
            )
            for row in session.exec(select(CheckIn).order_by(CheckIn.client_key))
        ]
        sleep = [
            (mrn[row.patient_id], row.night_of, row.hours_slept, row.quality, row.reported_at)
            for row in session.exec(select(SleepReport).order_by(SleepReport.client_key))
        ]
        attendance = [
            (mrn[row.patient_id], row.client_key, row.attendance, row.participation_level)
            for row in session.exec(select(GroupAttendance).order_by(GroupAttendance.client_key))
        ]
    return checks + sleep + attendance


def test_short_fill_admits_twenty_synthetic_patients_on_the_demo_ward(db, demo):
    with db.reading() as session:
        ward = session.exec(select(Ward)).one()
        patients = patients_by_mrn(session)
    assert (ward.code, ward.time_zone) == (WARD_CODE, "America/Chicago")
    assert (ward.night_start_hour, ward.night_end_hour, ward.shift_start_hours) == (
        22,
        7,
        [7, 15, 23],
    )
    assert sorted(patients) == MRNS
    assert demo.patients == 20
    today = local_date(ward, demo.ended_at)
    ages = sorted(age_on(patient.birth_date, today) for patient in patients.values())
    assert ages[0] == 16 and ages[1] >= 18
    assert all(patient.ward_id == ward.id for patient in patients.values())
    assert sum(patient.substance_use_program for patient in patients.values()) >= 3


def test_each_patient_is_checked_at_the_rate_of_their_level_orders(db, demo):
    with db.reading() as session:
        patients = patients_by_mrn(session)
        for mrn, patient in patients.items():
            count = len(checks_of(session, patient))
            expected = expected_checks(session, patient, demo.started_at, demo.ended_at)
            assert abs(count - expected) <= TOLERANCE * expected, (mrn, count, expected)
        # D0001 stays at q15 throughout: about 96 checks a day.
        per_day = len(checks_of(session, patients["D0001"])) / SHORT_DAYS
        assert abs(per_day - 96) <= TOLERANCE * 96
        assert demo.checks == sum(len(checks_of(session, p)) for p in patients.values())


def test_late_flags_follow_the_due_rule_and_late_or_missed_checks_carry_reasons(db, demo):
    with db.reading() as session:
        rows = session.exec(select(CheckIn)).all()
        late = [row for row in rows if row.late]
        missed = [row for row in rows if row.missed]
        assert all(row.late_reason for row in late + missed)
        assert all(row.location is None and row.status is None for row in missed)
        assert all(row.location and row.status for row in rows if not row.missed)
        # Mostly on time, with a few exceptions.
        assert 0 < len(late) < 0.02 * len(rows)
        assert len(missed) < 0.01 * len(rows)
        patients = patients_by_mrn(session)
        # The patients whose levels changed, checked against the service's own due rule.
        for mrn in ("D0002", "D0007", "D0009", "D0011"):
            checks = checks_of(session, patients[mrn])
            for previous, check in pairwise(checks):
                due = due_after(session, check.patient_id, previous.observed_at, check.observed_at)
                assert check.late == (check.observed_at > due.late_at), (mrn, check.observed_at)
                assert check.observed_at - previous.observed_at >= timedelta(seconds=60)


def test_rounds_at_the_end_show_recent_checks_with_one_patient_overdue(db, demo):
    with db.reading() as session:
        ward_id = session.exec(select(Ward.id)).one()
    tech = sign_in(db, "tech", "demo-tech-pass")
    rounds = rounds_for(db, Actor(tech.id, tech.username), ward_id)

    assert len(rounds.rows) == 20
    states = {row.mrn: row.state for row in rounds.rows}
    assert [mrn for mrn, state in states.items() if state == DueState.overdue] == ["D0012"]
    assert rounds.rows[0].minutes_overdue <= 10
    assert DueState.due in states.values() and DueState.upcoming in states.values()
    assert all(row.last_check is not None for row in rounds.rows)
    assert not any(row.deadlines for row in rounds.rows)  # the seclusion has ended
    levels = [row.level.level for row in rounds.rows]
    assert levels.count(ObservationLevel.q5) == 2
    assert levels.count(ObservationLevel.one_to_one_eyesight) == 1
    assert levels.count(ObservationLevel.q15) >= 12


def test_night_checks_find_most_patients_asleep_in_their_own_room(db, demo):
    with db.reading() as session:
        ward = session.exec(select(Ward)).one()
        rows = session.exec(select(CheckIn).where(CheckIn.missed.is_(False))).all()
    at_night = [row for row in rows if 1 <= row.observed_at.astimezone(ward.zone).hour < 5]
    asleep = [row for row in at_night if row.status == "asleep"]
    assert len(asleep) > 0.6 * len(at_night)
    assert all(row.location == "own_room" for row in asleep)
    daytime = [row for row in rows if 9 <= row.observed_at.astimezone(ward.zone).hour < 20]
    assert not any(row.status == "asleep" for row in daytime)
    assert len({row.location for row in daytime}) >= 6
    rated = [row for row in daytime if row.mood is not None]
    assert 2 * 20 <= len(rated) / SHORT_DAYS <= 4 * 20


def test_groups_sleep_reports_incidents_and_treatments_are_recorded(db, demo):
    with db.reading() as session:
        sessions = session.exec(select(GroupSession)).all()
        attendance = session.exec(select(GroupAttendance)).all()
        episode = session.exec(select(RestraintEpisode)).one()
        incident = session.get(Incident, episode.incident_id)
        patient = session.get(Patient, episode.patient_id)
        treatments = session.exec(select(TreatmentEvent)).all()
        reports = session.exec(select(SleepReport)).all()
        incidents = session.exec(select(Incident)).all()
    assert len(sessions) == demo.group_sessions >= 2 * (SHORT_DAYS - 1)
    by_day: dict = {}
    for group in sessions:
        by_day.setdefault(group.started_at.date(), set()).add(group.group_type)
    assert all(len(types) == 2 for types in by_day.values() if len(types) > 1)
    assert len(attendance) == demo.attendances
    present = [row for row in attendance if row.attendance in ("attended", "late_arrival")]
    assert present and all(row.participation_level for row in present)
    assert len(reports) == demo.sleep_reports >= 20 * (SHORT_DAYS - 1)
    assert len(incidents) == demo.incidents == 6
    assert all(
        row.moas_total
        == row.moas_verbal + 2 * row.moas_property + 3 * row.moas_self + 4 * row.moas_physical
        for row in incidents
    )
    # The one seclusion: the adolescent, with the 2-hour order and the evaluation in time.
    assert patient.mrn == "D0007" and episode.age_at_order == 16
    assert episode.order_expires_at - episode.ordered_at == timedelta(hours=2)
    assert episode.face_to_face_at <= episode.face_to_face_due_at
    assert episode.ended_at is not None and episode.ended_at <= episode.order_expires_at
    assert incident.patient_id == episode.patient_id
    changes = {(t.kind, t.name) for t in treatments}
    assert (TreatmentKind.dose_changed, "sertraline") in changes
    assert (TreatmentKind.dose_changed, "aripiprazole") in changes
    assert any(t.kind == TreatmentKind.therapy_started for t in treatments)


def test_no_record_is_timed_after_the_clock(db, demo, clock):
    now = clock()
    with db.reading() as session:
        for table in (CheckIn, SleepReport, GroupAttendance, Incident, LevelChange):
            latest = session.exec(select(func.max(table.recorded_at))).one()
            assert latest <= now, table
        assert session.exec(select(func.max(CheckIn.observed_at))).one() <= now


def test_demo_accounts_sign_in_with_their_documented_passwords_and_pin(db, demo):
    with db.reading() as session:
        ward_id = session.exec(select(Ward.id)).one()
    for account in ACCOUNTS:
        staff = sign_in(db, account.username, account.password)
        assert staff.role == account.role
        assert staff.ward_ids == [ward_id]
        assert "Demo" in staff.display_name
        actor = Actor(staff.id, staff.username)
        assert verify_pin(db, actor, DEMO_PIN)
        assert not verify_pin(db, actor, "135790")
    assert {account.role for account in ACCOUNTS} == set(Role)


def test_the_load_is_audited_once_and_the_chain_stays_whole(db, demo):
    with db.reading() as session:
        loads = session.exec(select(AuditEvent).where(AuditEvent.detail == "demo ward loaded"))
        assert len(loads.all()) == 1
        # The ward, four accounts with their PINs, and the load: never a row per record.
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == 10
        assert verify_chain(session, key=db.keys.audit).first_bad_id is None


def test_summary_lines_give_the_credentials_and_say_they_are_demo_only(demo):
    text = "\n".join(demo.lines())
    for account in ACCOUNTS:
        assert account.username in text and account.password in text
    assert DEMO_PIN in text
    assert "demo only" in text.lower()
    assert f"{demo.checks:,}" in text


def test_refuses_a_database_that_holds_another_ward(db):
    WardFactory.create(db, patients=1)
    with pytest.raises(DemoRefused, match="other wards or accounts") as refused:
        fill_demo_ward(db, days=1)
    assert not isinstance(refused.value, DemoAlreadyLoaded)
    with db.reading() as session:
        assert session.exec(select(Ward).where(Ward.code == WARD_CODE)).first() is None


def test_refuses_a_second_fill_saying_the_demo_ward_is_already_there(db, demo):
    with pytest.raises(DemoAlreadyLoaded, match="already holds the demo ward"):
        fill_demo_ward(db, days=SHORT_DAYS)
    with db.reading() as session:
        assert session.exec(select(func.count()).select_from(CheckIn)).one() == demo.checks
        assert session.exec(select(func.count()).select_from(Ward)).one() == 1


def test_refuses_a_day_after_the_clock_and_an_empty_history(db, clock):
    tomorrow = local_date(CHICAGO, clock()) + timedelta(days=1)
    with pytest.raises(ValueError, match="after the clock"):
        fill_demo_ward(db, today=tomorrow)
    with pytest.raises(ValueError, match="at least one day"):
        fill_demo_ward(db, days=0)


def test_an_earlier_today_ends_the_history_at_the_end_of_that_day(db, clock):
    summary = fill_demo_ward(db, today=date(2026, 11, 18), days=2)
    assert summary.ended_at == day_bounds(CHICAGO, date(2026, 11, 18))[1]
    with db.reading() as session:
        assert session.exec(select(func.max(CheckIn.observed_at))).one() < summary.ended_at


def test_same_seed_and_clock_give_the_same_ward_and_another_seed_does_not(empty_database):
    first = empty_database()
    fill_demo_ward(first, days=2)
    original = history_of(first)
    again = empty_database()
    fill_demo_ward(again, days=2)
    repeated = history_of(again)
    other = empty_database()
    fill_demo_ward(other, days=2, seed=7)
    reseeded = history_of(other)

    assert repeated == original
    assert reseeded != original


@pytest.mark.slow
def test_thirty_days_show_d0001_improving_and_d0002_worsening_after_medication_changes(db):
    began = time.perf_counter()
    summary = fill_demo_ward(db)
    seconds = time.perf_counter() - began
    print(f"30-day demo fill on {db.dialect}: {seconds:.1f} s, {summary.checks} checks")
    assert seconds < 60
    assert summary.days == 30 and summary.checks > 40_000

    with db.reading() as session:
        ward = session.exec(select(Ward)).one()
        patients = patients_by_mrn(session)
        trends = {mrn: trend(session, ward, patients[mrn]) for mrn in ("D0001", "D0002")}
        for mrn, patient in patients.items():
            count = len(checks_of(session, patient))
            expected = expected_checks(session, patient, summary.started_at, summary.ended_at)
            assert abs(count - expected) <= TOLERANCE * expected, (mrn, count, expected)

    better, worse = trends["D0001"], trends["D0002"]
    assert better["mood"][1] - better["mood"][0] >= 2
    assert better["anxiety"][0] - better["anxiety"][1] >= 1.5
    assert better["sleep_hours"][1] - better["sleep_hours"][0] >= 1.5
    assert better["asleep"][1] - better["asleep"][0] >= 0.15
    assert worse["mood"][0] - worse["mood"][1] >= 2
    assert worse["sleep_hours"][0] - worse["sleep_hours"][1] >= 1.5
    assert worse["asleep"][0] - worse["asleep"][1] >= 0.1
    assert worse["incidents"][1] > worse["incidents"][0]
    assert worse["refused"][1] > worse["refused"][0]


def trend(session, ward: Ward, patient: Patient) -> dict[str, tuple[float, float]]:
    """Means over the 14 days before and the 14 days after the patient's dose change."""
    change = session.exec(
        select(TreatmentEvent).where(
            TreatmentEvent.patient_id == patient.id,
            TreatmentEvent.kind == TreatmentKind.dose_changed,
        )
    ).one()
    at = change.effective_at
    spans = ((at - timedelta(days=14), at), (at, at + timedelta(days=14)))
    changed_on = local_date(ward, at)
    checks = checks_of(session, patient)
    reports = session.exec(select(SleepReport).where(SleepReport.patient_id == patient.id)).all()
    incidents = session.exec(select(Incident).where(Incident.patient_id == patient.id)).all()
    attendance = session.exec(
        select(GroupAttendance.attendance, GroupSession.started_at)
        .join(GroupSession)
        .where(GroupAttendance.patient_id == patient.id)
    ).all()
    result: dict[str, list[float]] = {key: [] for key in ("mood", "anxiety", "sleep_hours")}
    result |= {key: [] for key in ("asleep", "incidents", "refused")}
    for low, high in spans:
        span = [c for c in checks if low <= c.observed_at < high and not c.missed]
        rated = [c for c in span if c.mood is not None]
        nights = [c for c in span if 1 <= c.observed_at.astimezone(ward.zone).hour < 5]
        result["mood"].append(mean(c.mood for c in rated))
        result["anxiety"].append(mean(c.anxiety for c in rated))
        result["asleep"].append(mean(c.status == "asleep" for c in nights))
        result["incidents"].append(sum(low <= i.occurred_at < high for i in incidents))
        result["refused"].append(
            sum(low <= started < high and kind == "refused" for kind, started in attendance)
        )
    before = [r.hours_slept for r in reports if 0 < (changed_on - r.night_of).days <= 14]
    after = [r.hours_slept for r in reports if 0 <= (r.night_of - changed_on).days < 14]
    result["sleep_hours"] = [mean(before), mean(after)]
    return {key: (values[0], values[1]) for key, values in result.items()}


INPUT_MODELS = (
    (Patient, PatientCreate),
    (LevelChange, LevelChangeCreate),
    (CheckIn, CheckInCreate),
    (SleepReport, SleepReportCreate),
    (GroupSession, GroupSessionCreate),
    (GroupAttendance, GroupAttendanceCreate),
    (Incident, IncidentCreate),
    (RestraintEpisode, RestraintEpisodeCreate),
    (RestraintEpisode, RestraintProgress),
    (TreatmentEvent, TreatmentEventCreate),
)


@pytest.mark.parametrize(("table", "form"), INPUT_MODELS, ids=lambda model: model.__name__)
def test_every_demo_record_would_pass_the_form_that_enters_it(db, demo, clock, table, form):
    with db.reading() as session:
        rows = session.exec(select(table)).all()
    assert rows
    for row in rows:
        sent = {name: getattr(row, name) for name in form.model_fields}
        form.model_validate(sent, context={"now": clock()})
