import re
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app.cli import main
from app.config import get_settings
from app.services import effect
from app.services.break_glass import GRANT_LENGTH, open_break_glass
from app.services.check_ins import record_check_in
from app.services.corrections import void_record
from app.services.effect import (
    MeasureKey,
    Verdict,
    bootstrap_interval,
    compare_around,
    rank_test,
)
from app.services.errors import InvalidInput, NotAllowed, NotFound
from app.services.incidents import record_incident
from app.services.treatment import record_treatment_event
from models import AuditEvent, Staff
from models.codes import AuditAction, RecordKind
from tests.factories import Ward, key
from tests.services.filled_demo import console_demo, open_filled_demo

CHICAGO = ZoneInfo("America/Chicago")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


def seen(ward, patient_id, at, **fields):
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": at,
            "location": "day_room",
            "status": "watching_tv",
            # A test's checks are hours apart, so each is late on the q15 due rule.
            "late_reason": "other",
            "client_key": key(),
            **fields,
        },
    )


def treatment(ward, patient_id, at, name="sertraline"):
    return record_treatment_event(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient_id,
            "kind": "dose_changed",
            "effective_at": at,
            "name": name,
            "detail": "50 mg -> 100 mg",
            "client_key": key(),
        },
    )


def by_measure(comparison):
    return {row.measure: row for row in comparison.measures}


@pytest.fixture
def changed(ward, clock):
    """A patient admitted on 31 Oct whose dose changed at 09:00 on Tue 10 Nov: one rated check a
    day, mood about 3.4 the week before and 6.4 the week after, anxiety on two days before."""
    patient = ward.admit(admitted_at=clock() - timedelta(days=20))
    event = treatment(ward, patient.id, local(2026, 11, 10, 9))
    for offset in range(7):
        before = date(2026, 11, 3) + timedelta(days=offset)
        after = date(2026, 11, 11) + timedelta(days=offset)
        anxiety = {"anxiety": 7} if offset < 2 else {}
        seen(ward, patient.id, local(before.year, before.month, before.day, 10),
             mood=3 + offset % 2, **anxiety)  # fmt: skip
        seen(ward, patient.id, local(after.year, after.month, after.day, 10),
             mood=6 + offset % 2, anxiety=3)  # fmt: skip
    # The day of the change is partly before and partly after: it counts on neither side.
    seen(ward, patient.id, local(2026, 11, 10, 8), mood=0)
    seen(ward, patient.id, local(2026, 11, 10, 15), mood=10)
    # Outside the 7-day windows.
    seen(ward, patient.id, local(2026, 11, 2, 10), mood=10)
    seen(ward, patient.id, local(2026, 11, 19, 10), mood=0)
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": local(2026, 11, 12, 14),
            "incident_type": "verbal_aggression",
            "location": "day_room",
            "moas_verbal": 2,
            "client_key": key(),
        },
    )
    return patient, event


def test_mood_a_week_either_side_of_the_change_in_plain_words(ward, changed):
    patient, event = changed

    comparison = compare_around(ward.db, ward.tech, patient.id)

    assert comparison.event.id == event.id
    assert comparison.change_day == date(2026, 11, 10)
    assert (comparison.before_first, comparison.before_last) == (
        date(2026, 11, 3),
        date(2026, 11, 9),
    )
    assert (comparison.after_first, comparison.after_last) == (
        date(2026, 11, 11),
        date(2026, 11, 17),
    )
    mood = by_measure(comparison)[MeasureKey.mood]
    assert (mood.before.days, mood.after.days) == (7, 7)
    assert mood.before.mean == round(mean([3, 4, 3, 4, 3, 4, 3]), 3)
    assert mood.after.mean == round(mean([6, 7, 6, 7, 6, 7, 6]), 3)
    assert (mood.before.median, mood.after.median) == (3, 6)
    assert mood.change == 3.0
    assert mood.interval_low > 0 and mood.interval_high <= 4
    # Every one of the 3432 ways to split 14 days puts these 7 lowest or highest only twice.
    assert mood.p_value == round(2 / 3432, 4)
    assert mood.verdict == Verdict.better
    assert re.fullmatch(
        r"Mood rose from 3\.4 to 6\.4 \(0-10\) in the 7 days after the change; the 95% interval"
        r" of the change is \+\d\.\d to \+\d\.\d, so this is unlikely to be chance\.",
        mood.sentence,
    ), mood.sentence


def test_too_few_days_on_one_side_says_so_instead_of_guessing(ward, changed):
    patient, _ = changed

    measures = by_measure(compare_around(ward.db, ward.tech, patient.id))

    anxiety = measures[MeasureKey.anxiety]
    assert anxiety.verdict == Verdict.not_enough_data
    assert anxiety.change is None and anxiety.interval_low is None
    assert anxiety.sentence == (
        "Anxiety: not enough data to say (2 days with anxiety ratings before, 7 after; "
        "need at least 3 on each side)."
    )
    assert measures[MeasureKey.sleep_reported].sentence == (
        "Self-reported sleep: not enough data to say (0 nights with a sleep report before, "
        "0 after; need at least 3 on each side)."
    )


def test_one_incident_in_a_quiet_fortnight_could_be_chance(ward, changed):
    patient, _ = changed

    measures = by_measure(compare_around(ward.db, ward.tech, patient.id))

    incidents = measures[MeasureKey.incidents]
    assert (incidents.before.mean, incidents.after.mean) == (0, round(1 / 7, 3))
    assert incidents.verdict == Verdict.unclear
    assert incidents.sentence.startswith("Incidents rose from 0.0 to 1.0 a week in the 7 days")
    assert incidents.sentence.endswith("so it could be chance.")
    assert measures[MeasureKey.moas].after.mean == round(2 / 7, 3)


def test_a_shorter_window_and_a_chosen_event(ward, changed):
    patient, event = changed
    later = treatment(ward, patient.id, local(2026, 11, 18, 9), name="melatonin")

    latest = compare_around(ward.db, ward.tech, patient.id, days=3)
    chosen = compare_around(ward.db, ward.tech, patient.id, event_id=event.id, days=3)

    assert latest.event.id == later.id
    assert by_measure(latest)[MeasureKey.mood].verdict == Verdict.not_enough_data
    mood = by_measure(chosen)[MeasureKey.mood]
    assert (chosen.before_first, chosen.after_last) == (date(2026, 11, 7), date(2026, 11, 13))
    assert (mood.before.days, mood.after.days) == (3, 3)
    # Three days a side can never pass the rank test: the honest answer is "could be chance".
    assert mood.p_value == 0.1
    assert mood.verdict == Verdict.unclear
    assert mood.sentence.endswith("so it could be chance.")


def test_a_voided_change_is_not_compared_and_other_patients_events_are_not_found(ward, changed):
    patient, event = changed
    void_record(ward.db, ward.nurse, RecordKind.treatment, event.id, "Entered on wrong patient")

    with pytest.raises(NotFound, match="No treatment change"):
        compare_around(ward.db, ward.tech, patient.id)
    with pytest.raises(NotFound, match=f"#{event.id}"):
        compare_around(ward.db, ward.tech, patient.id, event_id=event.id)
    other = treatment(ward, ward.patients[0].id, local(2026, 11, 20, 11))
    with pytest.raises(NotFound):
        compare_around(ward.db, ward.tech, patient.id, event_id=other.id)


def test_window_length_is_checked(ward, changed):
    patient, _ = changed
    for days in (2, 91):
        with pytest.raises(InvalidInput, match="3 to 90 days"):
            compare_around(ward.db, ward.tech, patient.id, days=days)


def test_only_the_patients_ward_may_compare_and_each_comparison_is_audited_once(ward, db, changed):
    patient, event = changed
    other = Ward.create(db)
    for actor in (other.nurse, ward.admin):
        with pytest.raises(NotAllowed):
            compare_around(db, actor, patient.id)

    compare_around(db, ward.nurse, patient.id)

    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == AuditAction.view, AuditEvent.patient_id == patient.id
            )
        ).all()
    assert [(row.staff_id, row.detail) for row in rows] == [
        (ward.nurse.staff_id, f"effect of treatment #{event.id}, 7 days each side")
    ]


def test_a_live_break_glass_grant_opens_the_comparison_and_expires_with_it(
    ward, db, clock, changed
):
    patient, event = changed
    other = Ward.create(db)
    with pytest.raises(NotAllowed):
        compare_around(db, other.nurse, patient.id)
    open_break_glass(
        db,
        other.nurse,
        {
            "mrn": patient.mrn,
            "reason": "Transferred to us tonight; was the new dose helping?",
            "client_key": key(),
        },
    )

    comparison = compare_around(db, other.nurse, patient.id)

    assert comparison.event.id == event.id
    assert by_measure(comparison)[MeasureKey.mood].verdict == Verdict.better
    with db.reading() as session:
        viewed = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == AuditAction.view, AuditEvent.patient_id == patient.id
            )
        ).all()
    assert [(row.staff_id, row.detail) for row in viewed] == [
        (other.nurse.staff_id, f"effect of treatment #{event.id}, 7 days each side")
    ]
    clock.advance(seconds=GRANT_LENGTH.total_seconds())
    with pytest.raises(NotAllowed):
        compare_around(db, other.nurse, patient.id)


def test_rank_test_exact_for_small_samples():
    assert rank_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert rank_test([4, 5, 6], [1, 2, 3]) == pytest.approx(2 / 20)
    assert rank_test([2, 2, 2], [2, 2, 2]) == 1.0
    # Ties share their mean rank: 1 and 1 tie for ranks 1-2, so no split is more extreme.
    assert rank_test([1, 1], [1, 1, 1]) == 1.0


def test_rank_test_normal_approximation_agrees_with_the_exact_one(monkeypatch):
    before = [3, 4, 4, 5, 2, 3, 5, 4]
    after = [5, 6, 4, 7, 6, 5, 6, 8]
    exact = rank_test(before, after)
    monkeypatch.setattr(effect, "EXACT_SPLITS", 0)
    approximate = rank_test(before, after)
    assert exact < 0.05
    assert approximate == pytest.approx(exact, abs=0.005)
    assert rank_test([1.0] * 8, [1.0] * 9) == 1.0


def test_bootstrap_interval_is_repeatable_and_holds_the_difference():
    before, after = [3.0, 4.0, 3.5, 5.0], [6.0, 5.5, 7.0, 6.5, 6.0]
    first = bootstrap_interval(before, after)
    assert first == bootstrap_interval(before, after)
    low, high = first
    assert low < mean(after) - mean(before) < high
    assert low > 0
    assert bootstrap_interval([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == (0.0, 0.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, migrated_template):
    yield from open_filled_demo(tmp_path_factory, migrated_template)


@pytest.mark.slow
def test_demo_d0001_improves_after_the_sertraline_dose_change(demo):
    comparison = compare_around(demo.db, demo.actors["charge"], demo.patient("D0001"))

    assert comparison.event.name == "sertraline"
    measures = by_measure(comparison)
    for key_ in (
        MeasureKey.mood,
        MeasureKey.anxiety,
        MeasureKey.sleep_estimated,
        MeasureKey.sleep_reported,
        MeasureKey.participation,
    ):
        assert measures[key_].verdict == Verdict.better, measures[key_].sentence
    assert measures[MeasureKey.mood].sentence.startswith("Mood rose from")
    assert measures[MeasureKey.anxiety].sentence.startswith("Anxiety fell from")
    assert measures[MeasureKey.incidents].verdict != Verdict.worse


@pytest.mark.slow
def test_demo_d0002_worsens_after_the_aripiprazole_reduction(demo):
    comparison = compare_around(demo.db, demo.actors["charge"], demo.patient("D0002"))

    assert comparison.event.name == "aripiprazole"
    measures = by_measure(comparison)
    for key_ in (
        MeasureKey.mood,
        MeasureKey.anxiety,
        MeasureKey.sleep_estimated,
        MeasureKey.sleep_reported,
    ):
        assert measures[key_].verdict == Verdict.worse, measures[key_].sentence
    assert measures[MeasureKey.participation].change < 0
    assert measures[MeasureKey.incidents].change > 0
    assert measures[MeasureKey.mood].sentence.startswith("Mood fell from")


@pytest.mark.slow
def test_demo_patient_admitted_days_ago_gets_not_enough_data(demo):
    # D0014 came in near the end of the history and started escitalopram the next day.
    comparison = compare_around(demo.db, demo.actors["tech"], demo.patient("D0014"))

    assert {row.verdict for row in comparison.measures} == {Verdict.not_enough_data}
    for row in comparison.measures:
        assert "not enough data to say" in row.sentence
        assert "need at least 3 on each side" in row.sentence


@pytest.fixture
def console(tmp_path, monkeypatch):
    db = console_demo(tmp_path, monkeypatch)
    yield db
    db.dispose()
    get_settings.cache_clear()


def test_rounds_effect_prints_the_comparison_for_an_mrn(console, capsys):
    assert main(["effect", "D0001", "--as", "nurse", "--days", "3"]) == 0

    out = capsys.readouterr().out
    assert "Avery Demoson (MRN D0001), Demo Ward 4 North" in out
    assert "Dose changed: sertraline" in out
    assert "3 days before" in out
    # Three days of history hold about a day on either side of the change.
    assert "Mood: not enough data to say" in out
    with console.reading() as session:
        row = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        nurse = session.exec(select(Staff).where(Staff.username == "nurse")).one()
    assert (row.action, row.staff_id) == (AuditAction.view, nurse.id)
    assert row.detail.startswith("effect of treatment #")


def test_rounds_effect_refuses_unknown_accounts_patients_and_roles(console, capsys):
    assert main(["effect", "D0001", "--as", "nobody"]) == 1
    assert "No active account named 'nobody'." in capsys.readouterr().err
    assert main(["effect", "D9999", "--as", "nurse"]) == 1
    assert "No patient with MRN 'D9999'." in capsys.readouterr().err
    assert main(["effect", "D0001", "--as", "admin"]) == 1
    assert "Your role does not allow this." in capsys.readouterr().err
    assert main(["effect", "D0001", "--as", "nurse", "--event", "999999"]) == 1
    assert "#999999 is not on this patient's record" in capsys.readouterr().err
