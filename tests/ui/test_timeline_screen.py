"""The timeline screen's logic: rows, paging, reading a check back for amendment, and the
trend charts' data, on real services and a real database."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.check_ins import record_check_in
from app.services.corrections import amend_record, void_record
from app.services.incidents import record_incident
from app.services.sleep import record_sleep_report
from app.services.timeline import EntryStatus, timeline_for
from app.services.treatment import record_treatment_event
from app.services.trends import trends_for
from app.services.wards import patient_header
from app.ui.screens.charts import (
    INCIDENTS,
    MOOD,
    PARTICIPATION,
    SLEEP,
    Point,
    chart_series,
    date_labels,
    mark_legend,
    mark_x,
    range_dates,
    runs,
)
from app.ui.screens.timeline import (
    PART_2,
    TimelineFeed,
    check_in_for_amendment,
    day_heading,
    entry_row,
    header_chips,
    header_lines,
    may_correct,
)
from models.codes import Affect, Behaviour, LateReason, Location, RecordKind, Role, Status
from tests.factories import key

CHICAGO = ZoneInfo("America/Chicago")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


def check(ward, patient_id, at, **fields):
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": at,
            "location": "day_room",
            "status": "watching_tv",
            "client_key": key(),
            **fields,
        },
    )


@pytest.fixture
def patient(ward):
    """A patient admitted 10 minutes ago."""
    return ward.patients[0]


@pytest.fixture
def history_patient(ward, clock):
    """A patient admitted a week ago, so there are days of history to show."""
    return ward.admit(admitted_at=clock() - timedelta(days=7))


def only_entry(ward, actor, patient_id, kind=RecordKind.check_in):
    page = timeline_for(ward.db, actor, patient_id, kinds={kind})
    assert len(page.entries) == 1
    return page.entries[0]


def test_a_check_is_read_back_from_the_timeline_exactly_as_recorded(ward, patient, clock):
    check(
        ward,
        patient.id,
        clock() - timedelta(minutes=5),
        location="off_unit_escorted",
        status="awake_in_bed",
        behaviours=["internal_stimuli", "attention_seeking", "restless"],
        affect="labile",
        mood=0,
        anxiety=7,
        note="Asked for a call home.\nSettled after.",
    )
    entry = only_entry(ward, ward.nurse, patient.id)

    form = check_in_for_amendment(entry)

    assert form.location == Location.off_unit_escorted
    assert form.status == Status.awake_in_bed
    assert form.behaviours == {
        Behaviour.internal_stimuli,
        Behaviour.attention_seeking,
        Behaviour.restless,
    }
    assert form.affect == Affect.labile
    assert (form.mood, form.anxiety) == (0, 7)
    assert form.note == "Asked for a call home.\nSettled after."
    assert form.observed_at == entry.at


def test_a_late_checks_reason_is_kept_on_the_amendment_form(ward, patient, clock):
    # Nothing for 40 min on q15: the next check is late and gives a reason.
    clock.advance(minutes=40)
    check(ward, patient.id, clock(), late_reason="patient_in_bathroom", mood=5)
    entry = only_entry(ward, ward.nurse, patient.id)
    assert entry.late
    form = check_in_for_amendment(entry)
    assert form.late_reason == LateReason.patient_in_bathroom
    assert (form.mood, form.anxiety, form.note) == (5, None, "")


def test_a_missed_check_is_not_offered_for_amendment(ward, patient, clock):
    check(
        ward,
        patient.id,
        clock(),
        location=None,
        status=None,
        missed=True,
        late_reason="off_unit",
    )
    entry = only_entry(ward, ward.nurse, patient.id)
    assert not entry_row(entry, CHICAGO, correcting=True).can_amend
    with pytest.raises(ValueError):
        check_in_for_amendment(entry)


def test_amending_through_the_prefilled_form_keeps_the_original_and_marks_both(
    ward, patient, clock
):
    check(ward, patient.id, clock() - timedelta(minutes=3), mood=2, behaviours=["calm"])
    entry = only_entry(ward, ward.nurse, patient.id)
    form = check_in_for_amendment(entry)
    form.patient_id = patient.id
    form.set("mood", 8)

    amend_record(
        ward.db, ward.nurse, RecordKind.check_in, entry.id, form.as_request(), "Misheard 2 for 8"
    )

    page = timeline_for(ward.db, ward.nurse, patient.id, kinds={RecordKind.check_in})
    replacement, original = page.entries
    assert (original.id, original.status) == (entry.id, EntryStatus.amended)
    assert (replacement.mood, replacement.amends_id) == (8, entry.id)
    assert replacement.title == original.title  # only the mood changed

    struck = entry_row(original, CHICAGO, correcting=True)
    assert struck.struck and struck.flags[0] == "Amended"
    assert struck.correction.endswith(": Misheard 2 for 8")
    assert not struck.can_amend and not struck.can_void
    assert "Amended version" in entry_row(replacement, CHICAGO, correcting=True).flags


def test_a_voided_entry_is_struck_with_who_and_why(ward, patient, clock):
    saved = check(ward, patient.id, clock() - timedelta(minutes=2))
    void_record(ward.db, ward.nurse, RecordKind.check_in, saved.id, "Wrong patient")
    row = entry_row(only_entry(ward, ward.tech, patient.id), CHICAGO, correcting=False)
    assert row.struck
    assert row.flags == ["Voided"]
    assert row.correction.startswith("Voided by Test nurse ")
    assert row.correction.endswith(": Wrong patient")


def test_nurses_may_correct_every_kind_and_technicians_nothing(ward, patient, clock):
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": clock() - timedelta(minutes=1),
            "incident_type": "verbal_aggression",
            "location": "day_room",
            "moas_verbal": 2,
            "client_key": key(),
        },
    )
    check(ward, patient.id, clock() - timedelta(minutes=3))
    incident = only_entry(ward, ward.nurse, patient.id, RecordKind.incident)
    seen = only_entry(ward, ward.nurse, patient.id)

    assert may_correct(Role.nurse) and may_correct(Role.charge_nurse)
    assert not may_correct(Role.technician)
    nurse_incident = entry_row(incident, CHICAGO, correcting=may_correct(Role.nurse))
    assert nurse_incident.can_void and not nurse_incident.can_amend  # amend: check-ins only
    assert entry_row(seen, CHICAGO, correcting=True).can_amend
    tech = entry_row(seen, CHICAGO, correcting=may_correct(Role.technician))
    assert not tech.can_void and not tech.can_amend


def test_the_feed_pages_through_every_entry_once_then_stops(ward, patient, clock):
    admitted = ward.admit(admitted_at=clock() - timedelta(minutes=100))
    made = [check(ward, admitted.id, clock() - timedelta(minutes=m)) for m in range(95, 0, -1)]
    feed = TimelineFeed()
    pages = 0
    while feed.wants_more():
        generation = feed.begin()
        assert not feed.wants_more()  # no second request while one is on its way
        feed.take(timeline_for(ward.db, ward.tech, admitted.id, **feed.query()), generation)
        pages += 1
    # 95 checks and the admission's level order, 40 to a page.
    assert pages == 3
    assert len(feed.entries) == 96
    ids = [entry.id for entry in feed.entries if entry.kind == RecordKind.check_in]
    assert ids == [saved.id for saved in reversed(made)]  # newest first, none twice


def test_a_page_asked_for_before_a_filter_change_is_dropped(ward, patient, clock):
    check(ward, patient.id, clock() - timedelta(minutes=1))
    feed = TimelineFeed()
    generation = feed.begin()
    late_page = timeline_for(ward.db, ward.tech, patient.id, **feed.query())

    feed.toggle(RecordKind.level_change)
    assert feed.take(late_page, generation) == []
    assert feed.entries == [] and feed.wants_more()

    feed.take(timeline_for(ward.db, ward.tech, patient.id, **feed.query()), feed.begin())
    assert [entry.kind for entry in feed.entries] == [RecordKind.level_change]
    assert feed.exhausted


def test_showing_all_kinds_again_clears_the_filter(ward):
    feed = TimelineFeed()
    feed.toggle(RecordKind.incident)
    feed.toggle(RecordKind.sleep_report)
    assert feed.query()["kinds"] == {RecordKind.incident, RecordKind.sleep_report}
    feed.toggle(RecordKind.incident)
    assert feed.query()["kinds"] == {RecordKind.sleep_report}
    feed.show_all()
    assert feed.query()["kinds"] is None


def test_day_headings_name_today_and_yesterday():
    today = date(2026, 11, 20)
    assert day_heading(today, today) == "Today · Fri 20 Nov"
    assert day_heading(date(2026, 11, 19), today) == "Yesterday · Thu 19 Nov"
    assert day_heading(date(2026, 11, 17), today) == "Tue 17 Nov"
    assert day_heading(date(2025, 12, 31), today) == "Wed 31 Dec 2025"


def test_the_header_shows_room_level_precautions_and_part_2(ward, clock):
    admitted = ward.admit(
        room="204",
        bed="B",
        precautions=["suicide", "fall"],
        substance_use_program=True,
    )
    header = patient_header(ward.db, ward.tech, admitted.id)
    name, line = header_lines(header, CHICAGO)
    assert name == admitted.display_name
    assert line == "Room 204-B · q15 · admitted Nov 20"
    assert header_chips(header) == ["Falls precautions", "Suicide precautions", PART_2]
    plain = patient_header(ward.db, ward.tech, ward.patients[0].id)
    assert PART_2 not in header_chips(plain)


def test_charts_show_each_days_means_and_number_the_changes(ward, history_patient, clock):
    patient = history_patient
    check(ward, patient.id, local(2026, 11, 18, 10, 0), mood=3, anxiety=8, late_reason="other")
    check(ward, patient.id, local(2026, 11, 18, 10, 30), mood=5, anxiety=6, late_reason="other")
    check(ward, patient.id, local(2026, 11, 20, 9, 0), mood=7, late_reason="other")
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
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": local(2026, 11, 19, 15, 0),
            "incident_type": "physical_aggression_peer",
            "location": "day_room",
            "moas_verbal": 2,
            "moas_physical": 2,
            "client_key": key(),
        },
    )
    record_treatment_event(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "medication_started",
            "effective_at": local(2026, 11, 19, 0, 0),
            "name": "Sertraline 50 mg",
            "client_key": key(),
        },
    )
    start, end = range_dates(date(2026, 11, 20), 7)
    assert (start, end) == (date(2026, 11, 14), date(2026, 11, 20))

    layout = chart_series(trends_for(ward.db, ward.tech, patient.id, start=start, end=end))

    assert layout.days[0] == start and layout.days[-1] == end
    assert (layout.min_x, layout.max_x) == (-0.5, 6.5)
    mood, anxiety = layout.chart(MOOD).series
    assert [(p.x, p.y) for p in mood.points] == [(4, 4.0), (6, 7.0)]
    assert [(p.x, p.y) for p in anxiety.points] == [(4, 7.0)]
    assert mood.points[0].tip == "Nov 18: mood 4.0 (3-5, 2 rated)"
    _, reported = layout.chart(SLEEP).series
    assert [(p.x, p.y) for p in reported.points] == [(5, 5.5)]
    assert reported.points[0].tip == "Night of Nov 19: 5.5 h reported, poor"
    assert layout.chart(SLEEP).max_y == 12
    (incidents,) = layout.chart(INCIDENTS).series
    assert [(p.x, p.y) for p in incidents.points] == [(5, 1)]
    assert incidents.points[0].tip == "Nov 19: 1 incident, MOAS up to 10"
    assert layout.chart(PARTICIPATION).empty
    # The admission's level order (Nov 13) is before the range. The medication started at
    # midnight before Nov 19 (x = 5), so its line sits between Nov 18 and Nov 19.
    assert [mark_legend(mark) for mark in layout.marks] == [
        "1 · Nov 19 · Medication started: Sertraline 50 mg"
    ]
    assert layout.marks[0].x == 4.5


def test_markers_sit_on_the_quarter_day_they_happened():
    first = date(2026, 11, 14)
    assert mark_x(local(2026, 11, 14, 0, 0), first, CHICAGO) == -0.5
    assert mark_x(local(2026, 11, 14, 12, 0), first, CHICAGO) == 0.0
    assert mark_x(local(2026, 11, 16, 18, 10), first, CHICAGO) == 2.25


def test_date_labels_always_show_the_last_day_and_never_crowd_a_phone():
    week = [date(2026, 11, 14) + timedelta(days=n) for n in range(7)]
    assert date_labels(week)[-1] == (6, "Fri\n20")
    assert len(date_labels(week)) == 7
    quarter = [date(2026, 8, 23) + timedelta(days=n) for n in range(90)]
    labels = date_labels(quarter)
    assert labels[-1] == (89, "Nov 20")
    assert len(labels) <= 6


def test_lines_break_where_a_day_has_no_data():
    points = [Point(x, 1, "") for x in (0, 1, 2, 5, 7, 8)]
    assert [[p.x for p in piece] for piece in runs(points)] == [[0, 1, 2], [5], [7, 8]]


def test_sleep_scale_grows_for_a_long_night(ward, history_patient):
    patient = history_patient
    record_sleep_report(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "night_of": "2026-11-19",
            "reported_at": local(2026, 11, 20, 9, 0),
            "hours_slept": 13.5,
            "quality": "good",
            "client_key": key(),
        },
    )
    trends = trends_for(
        ward.db, ward.tech, patient.id, start=date(2026, 11, 14), end=date(2026, 11, 20)
    )
    assert chart_series(trends).chart(SLEEP).max_y == 14
