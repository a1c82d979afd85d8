from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.incidents import record_incident
from app.services.wards import discharge_patient
from models import AuditEvent, Incident
from tests.factories import Ward, key


def incident(patient_id, occurred_at, **fields):
    return {
        "patient_id": patient_id,
        "occurred_at": occurred_at,
        "incident_type": "physical_aggression_peer",
        "location": "day_room",
        "antecedent": "Told the phone was in use",
        "behaviour": "Pushed a peer",
        "injury": "none",
        "measures": ["verbal_de_escalation"],
        "client_key": key(),
        **fields,
    }


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_incident_is_saved_with_its_moas_weighted_total_and_audited(ward, clock):
    patient = ward.patients[0]
    audits = count(ward.db, AuditEvent)
    occurred = clock() - timedelta(minutes=3)

    saved = record_incident(
        ward.db,
        ward.tech,
        incident(
            patient.id, occurred, moas_verbal=2, moas_property=1, moas_self=0, moas_physical=3
        ),
    )

    assert saved.moas_total == 2 * 1 + 1 * 2 + 0 * 3 + 3 * 4
    assert saved.occurred_at == occurred and saved.ward_id == ward.ward.id
    with ward.db.reading() as session:
        assert session.get(Incident, saved.id).moas_total == 16
    assert count(ward.db, AuditEvent) == audits + 1


def test_the_highest_ratings_total_forty(ward, clock):
    top = {f"moas_{part}": 4 for part in ("verbal", "property", "self", "physical")}
    saved = record_incident(ward.db, ward.tech, incident(ward.patients[0].id, clock(), **top))
    assert saved.moas_total == 40


def test_measures_are_kept_once_each_least_restrictive_first(ward, clock):
    saved = record_incident(
        ward.db,
        ward.tech,
        incident(
            ward.patients[0].id,
            clock(),
            measures=["seclusion", "verbal_de_escalation", "prn_offered", "seclusion"],
        ),
    )
    assert saved.measures == ["verbal_de_escalation", "prn_offered", "seclusion"]


def test_replay_returns_the_first_incident_and_another_body_is_refused(ward, clock):
    data = incident(ward.patients[0].id, clock())
    first = record_incident(ward.db, ward.tech, data)
    again = record_incident(ward.db, ward.tech, data)
    assert again.id == first.id and again.replayed and not first.replayed
    with pytest.raises(Conflict):
        record_incident(ward.db, ward.tech, {**data, "moas_verbal": 1})
    assert count(ward.db, Incident) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("moas_verbal", 5, "MOAS verbal aggression must be from 0 to 4"),
        ("moas_physical", 2.5, "MOAS physical aggression must be a whole number"),
        ("moas_self", False, "MOAS auto-aggression must be a whole number"),
        ("incident_type", "tantrum", "Incident type is not one of the choices"),
        ("measures", ["taser"], "Measures is not one of the choices"),
        ("behaviour", "y" * 4001, "Behaviour is too long"),
        ("target", "peer\ud800", "Target contains a broken character"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(ward, clock, field, value, message):
    with pytest.raises(InvalidInput) as refused:
        record_incident(
            ward.db, ward.tech, {**incident(ward.patients[0].id, clock()), field: value}
        )
    assert message in refused.value.message
    assert count(ward.db, Incident) == 0


def test_future_incidents_are_refused(ward, clock):
    with pytest.raises(InvalidInput, match="Time of incident is in the future"):
        record_incident(
            ward.db, ward.tech, incident(ward.patients[0].id, clock() + timedelta(minutes=10))
        )


def test_other_wards_admins_and_discharged_patients_are_refused(ward, db, clock):
    patient = ward.patients[0]
    other = Ward.create(db)
    with pytest.raises(NotAllowed, match="not on your wards"):
        record_incident(db, other.charge, incident(patient.id, clock()))
    with pytest.raises(NotAllowed, match="role"):
        record_incident(db, ward.admin, incident(patient.id, clock()))
    discharge_patient(db, ward.charge, patient.id)
    with pytest.raises(NotAllowed, match="read-only"):
        record_incident(db, ward.tech, incident(patient.id, clock()))
    assert count(db, Incident) == 0


def test_an_incident_before_the_patients_admission_is_refused(ward, clock):
    patient = ward.patients[0]  # admitted 10 min ago
    audits = count(ward.db, AuditEvent)
    with pytest.raises(InvalidInput, match=r"Time of incident is before .* was admitted"):
        record_incident(ward.db, ward.tech, incident(patient.id, clock() - timedelta(days=2)))
    assert (count(ward.db, Incident), count(ward.db, AuditEvent)) == (0, audits)
