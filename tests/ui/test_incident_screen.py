"""The incident form without Flet: MOAS total, times, drafts, and saving through the services."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.drafts import open_drafts, save_draft
from app.services.errors import NotAllowed
from app.services.incidents import open_restraints, record_incident, start_restraint
from app.services.timeline import timeline_for
from app.ui.screens.incident import (
    FORM,
    MOAS,
    MOAS_MAX,
    IncidentForm,
    draft_to_offer,
    may_start_restraint,
    moas_total_label,
    parse_local_time,
)
from models.codes import (
    IncidentType,
    Injury,
    Location,
    Measure,
    RecordKind,
    RestraintKind,
    Role,
)

CHICAGO = ZoneInfo("America/Chicago")
# 2026-11-20 18:00 UTC is noon on the ward.
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def filled(patient_id: int, now: datetime) -> IncidentForm:
    form = IncidentForm.open(patient_id, now - timedelta(minutes=5))
    form.set("incident_type", IncidentType.physical_aggression_peer)
    form.set("location", Location.day_room)
    form.set("antecedent", "Argument over the TV remote")
    form.set("injury", Injury.minor)
    form.toggle_measure(Measure.verbal_de_escalation)
    form.toggle_measure(Measure.prn_given)
    form.rate("verbal", 2)
    form.rate("physical", 3)
    return form


def test_the_moas_total_is_weighted_and_out_of_40():
    assert MOAS_MAX == 40
    assert [category.weight for category in MOAS] == [1, 2, 3, 4]
    assert moas_total_label(2, 0, 0, 3) == (
        "MOAS 14 of 40 (verbal 2x1, property 0x2, self 0x3, physical 3x4)"
    )
    assert moas_total_label(4, 4, 4, 4).startswith("MOAS 40 of 40")
    assert all(len(category.anchors) == 5 for category in MOAS)
    assert all(category.anchors[0] == "None" for category in MOAS)


def test_a_rating_outside_0_to_4_is_refused():
    form = IncidentForm.open(1, NOW)
    with pytest.raises(ValueError):
        form.rate("verbal", 5)
    with pytest.raises(ValueError):
        form.rate("mood", 1)


def test_typed_times_are_the_latest_such_moment_not_after_now():
    assert parse_local_time("11:40", NOW, CHICAGO) == NOW - timedelta(minutes=20)
    assert parse_local_time("1140", NOW, CHICAGO) == NOW - timedelta(minutes=20)
    # A few minutes ahead is clock drift: it is now.
    assert parse_local_time("12:03", NOW, CHICAGO) == NOW
    # Further ahead is yesterday: written up after midnight, or late.
    assert parse_local_time("23:50", NOW, CHICAGO) == datetime(
        2026, 11, 19, 23, 50, tzinfo=CHICAGO
    ).astimezone(UTC)
    for wrong in ("", "noon", "25:00", "12:60", "7"):
        assert parse_local_time(wrong, NOW, CHICAGO) is None


def test_what_is_missing_is_said_in_the_wards_words(ward):
    form = IncidentForm.open(None, NOW)
    assert form.missing() == [
        "Choose the patient.",
        "Choose the kind of incident.",
        "Choose where it happened.",
    ]
    form.start_restraint(True)
    assert "Say who ordered the restraint or seclusion." in form.missing()


def test_the_form_saves_an_incident_with_its_moas_total(ward):
    patient = ward.patients[0]
    form = filled(patient.id, ward.db.clock())
    assert form.missing() == []

    saved = record_incident(ward.db, ward.tech, form.as_request())

    assert saved.moas_total == form.moas_total == 14
    assert saved.measures == [Measure.verbal_de_escalation, Measure.prn_given]
    assert saved.antecedent == "Argument over the TV remote"
    assert saved.injury == Injury.minor
    # The same form saved again (lost answer) is one incident.
    again = record_incident(ward.db, ward.tech, form.as_request())
    assert again.id == saved.id and again.replayed
    page = timeline_for(ward.db, ward.tech, patient.id, kinds={RecordKind.incident})
    assert len(page.entries) == 1


def test_the_episode_kind_follows_the_most_restrictive_measure(ward):
    form = IncidentForm.open(1, NOW)
    form.toggle_measure(Measure.seclusion)
    assert form.suggested_restraint() == RestraintKind.seclusion
    form.toggle_measure(Measure.mechanical_restraint)
    assert form.suggested_restraint() == RestraintKind.mechanical_restraint
    form.start_restraint(True)
    assert form.restraint.kind == RestraintKind.mechanical_restraint
    form.start_restraint(False)
    assert form.restraint is None


def test_a_nurse_starts_seclusion_linked_to_the_incident(ward):
    patient = ward.patients[0]
    now = ward.db.clock()
    form = filled(patient.id, now)
    form.toggle_measure(Measure.seclusion)
    form.start_restraint(True)
    form.restraint.ordered_by = "Dr. Test"
    form.restraint.ordered_time = f"{(now - timedelta(minutes=2)).astimezone(CHICAGO):%H:%M}"
    assert form.missing() == []

    incident = record_incident(ward.db, ward.nurse, form.as_request())
    episode = start_restraint(
        ward.db,
        ward.nurse,
        form.restraint.as_request(patient.id, incident.id, ward.db.clock(), CHICAGO),
    )

    assert episode.kind == RestraintKind.seclusion
    assert episode.incident_id == incident.id
    assert episode.ordered_at == (now - timedelta(minutes=2)).replace(second=0, microsecond=0)
    assert episode.started_at == now  # an empty start time is now
    assert [open.id for open in open_restraints(ward.db, ward.nurse, ward.ward.id)] == [episode.id]


def test_only_nurses_are_offered_restraint_and_the_service_agrees(ward):
    assert may_start_restraint(Role.nurse) and may_start_restraint(Role.charge_nurse)
    assert not may_start_restraint(Role.technician)
    form = filled(ward.patients[0].id, ward.db.clock())
    form.start_restraint(True)
    form.restraint.kind = RestraintKind.physical_hold
    form.restraint.ordered_by = "Dr. Test"
    with pytest.raises(NotAllowed):
        start_restraint(
            ward.db,
            ward.tech,
            form.restraint.as_request(ward.patients[0].id, None, ward.db.clock(), CHICAGO),
        )


def test_a_draft_brings_the_form_back_under_the_same_key(ward):
    patient = ward.patients[1]
    form = filled(patient.id, ward.db.clock())
    form.set("notified", "Charge nurse 11:58")
    form.start_restraint(True)
    form.restraint.ordered_by = "Dr. Test"
    save_draft(
        ward.db,
        ward.tech,
        client_key=form.client_key,
        form=FORM,
        patient_id=patient.id,
        fields=form.to_draft(),
    )

    drafts = open_drafts(ward.db, ward.tech)
    offered = draft_to_offer(drafts, patient.id)
    assert offered is not None
    assert draft_to_offer(drafts, ward.patients[0].id) is None  # another patient's form
    assert draft_to_offer(drafts, None) == offered  # "new incident" offers any

    back = IncidentForm.from_draft(offered)
    assert back.as_request() == form.as_request()
    assert back.restraint == form.restraint
    assert back.occurred_at == form.occurred_at


def test_a_draft_with_unknown_codes_asks_again(ward):
    patient = ward.patients[0]
    form = filled(patient.id, ward.db.clock())
    fields = form.to_draft()
    fields["incident_type"] = "no_longer_a_type"
    fields["measures"] = ["prn_given", "gone"]
    fields["moas"]["verbal"] = 9
    saved = save_draft(
        ward.db,
        ward.tech,
        client_key=form.client_key,
        form=FORM,
        patient_id=patient.id,
        fields=fields,
    )
    back = IncidentForm.from_draft(saved)
    assert back.incident_type is None
    assert back.measures == {Measure.prn_given}
    assert back.moas["verbal"] == 0
