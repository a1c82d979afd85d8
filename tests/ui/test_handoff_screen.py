"""The handoff screen's tiles and cards, from a real shift on a real database."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.check_ins import record_check_in
from app.services.errors import NotAllowed
from app.services.groups import record_attendance, start_group_session
from app.services.handoff import HandoffTotals, handoff_for, headline
from app.services.incidents import record_incident
from app.ui.screens.handoff import QUIET, patient_card, shift_line, totals_tiles
from tests.factories import key

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def shift(ward, clock):
    """Half an hour of a shift: one patient had an incident, refused a group, and was
    checked with a note; the others are quiet."""
    busy = ward.patients[0]
    record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": busy.id,
            "observed_at": clock() - timedelta(minutes=5),
            "location": "day_room",
            "status": "pacing",
            "mood": 3,
            "anxiety": 8,
            "note": "Asked for PRN",
            "client_key": key(),
        },
    )
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": busy.id,
            "occurred_at": clock() - timedelta(minutes=2),
            "incident_type": "verbal_aggression",
            "location": "day_room",
            "moas_verbal": 3,
            "moas_property": 1,
            "client_key": key(),
        },
    )
    group = start_group_session(
        ward.db,
        ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "cbt_dbt_skills",
            "started_at": clock() - timedelta(minutes=1),
            "client_key": key(),
        },
    )
    record_attendance(
        ward.db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": busy.id,
            "attendance": "refused",
            "client_key": key(),
        },
    )
    for patient in ward.patients[1:]:
        record_check_in(
            ward.db,
            ward.tech,
            {
                "patient_id": patient.id,
                "observed_at": clock() - timedelta(minutes=4),
                "location": "own_room",
                "status": "resting",
                "client_key": key(),
            },
        )
    clock.advance(minutes=2)
    return handoff_for(ward.db, ward.charge, ward.ward.id)


def test_the_patient_with_an_incident_leads_with_it_and_lists_the_details(ward, shift):
    card = patient_card(shift.patients[0], CHICAGO)
    assert card.title.endswith(f"· {ward.patients[0].display_name}")
    assert card.level == "q15"
    assert card.headline.startswith("Admitted this shift · incident (MOAS 5)")
    assert "refused CBT/DBT skills" in card.headline
    assert card.serious and not card.quiet
    assert card.details[0] == "1 check"
    assert any(line.endswith("incident: verbal aggression, MOAS 5") for line in card.details)
    assert any(line.endswith("refused CBT/DBT skills group") for line in card.details)
    assert any(
        line.startswith("Last rating") and "mood 3/10, anxiety 8/10" in line
        for line in card.details
    )
    assert any(
        line.endswith("note (Test technician W" + ward.ward.code[1:] + "): Asked for PRN")
        for line in card.details
    )


def test_quiet_patients_say_so(shift):
    # Checked on time, and (as if) admitted before the shift: nothing to hand over.
    calm = shift.patients[1].model_copy(update={"admitted_in_window": False})
    calm = calm.model_copy(update={"headline": headline(calm)})
    card = patient_card(calm, CHICAGO)
    assert card.quiet and card.headline == QUIET
    assert not card.serious
    assert not patient_card(shift.patients[1], CHICAGO).quiet  # admitted this shift


def test_tiles_put_what_needs_attention_first(shift):
    tiles = totals_tiles(shift.totals)
    assert [(tile.label, tile.value) for tile in tiles[:1]] == [("Incidents", "1")]
    assert all(tile.alert for tile in tiles[:1]) and not any(tile.alert for tile in tiles[1:])
    values = {tile.label: tile.value for tile in tiles}
    assert values["Patients"] == "3"
    assert values["Checks done"] == "3"
    assert values["Groups refused or missed"] == "1"


def test_an_ongoing_restraint_is_counted_in_its_tile():
    tiles = totals_tiles(HandoffTotals(restraints=2, restraints_open=1, checks_missed=1))
    assert tiles[0].label == "Restraint / seclusion" and tiles[0].value == "2 (1 ongoing)"
    assert tiles[1].label == "Missed checks" and tiles[1].alert


def test_the_shift_line_names_the_shift_and_its_hours(shift):
    line = shift_line(shift, CHICAGO)
    assert line.endswith(f"· {shift.ward_name}")
    start = shift.start.astimezone(CHICAGO)
    assert f"{start:%H:%M}-" in line


def test_technicians_do_not_get_the_handoff(ward):
    with pytest.raises(NotAllowed):
        handoff_for(ward.db, ward.tech, ward.ward.id)
