from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.treatment import record_treatment_event
from app.services.wards import discharge_patient
from models import AuditEvent, TreatmentEvent
from tests.factories import Ward, key


def change(patient_id, effective_at, **fields):
    return {
        "patient_id": patient_id,
        "kind": "medication_started",
        "effective_at": effective_at,
        "name": "Sertraline (synthetic)",
        "detail": "50 mg each morning",
        "ordered_by": "Dr. Synthetic",
        "client_key": key(),
        **fields,
    }


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_treatment_change_is_saved_and_audited(ward, clock):
    patient = ward.patients[0]
    audits = count(ward.db, AuditEvent)
    started = clock() - timedelta(hours=1)

    saved = record_treatment_event(ward.db, ward.nurse, change(patient.id, started))

    assert (saved.kind, saved.effective_at, saved.name) == (
        "medication_started",
        started,
        "Sertraline (synthetic)",
    )
    assert saved.recorded_at == clock() and not saved.replayed
    assert count(ward.db, TreatmentEvent) == 1
    assert count(ward.db, AuditEvent) == audits + 1


def test_replay_returns_the_first_event_and_another_body_is_refused(ward, clock):
    data = change(ward.patients[0].id, clock())
    first = record_treatment_event(ward.db, ward.nurse, data)
    again = record_treatment_event(ward.db, ward.charge, data)
    assert again.id == first.id and again.replayed
    with pytest.raises(Conflict):
        record_treatment_event(ward.db, ward.nurse, {**data, "kind": "dose_changed"})
    assert count(ward.db, TreatmentEvent) == 1


def test_technicians_other_wards_and_discharged_patients_are_refused(ward, db, clock):
    patient = ward.patients[0]
    other = Ward.create(db)
    with pytest.raises(NotAllowed, match="role"):
        record_treatment_event(db, ward.tech, change(patient.id, clock()))
    with pytest.raises(NotAllowed, match="not on your wards"):
        record_treatment_event(db, other.nurse, change(patient.id, clock()))
    discharge_patient(db, ward.charge, patient.id)
    with pytest.raises(NotAllowed, match="read-only"):
        record_treatment_event(db, ward.nurse, change(patient.id, clock()))
    assert count(db, TreatmentEvent) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Name is required"),
        ("kind", "surgery", "Kind is not one of the choices"),
        ("detail", "x" * 1001, "Detail is too long"),
        ("ordered_by", "Dr.\u2066 Synthetic", "Ordered by contains a text-direction control"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(ward, clock, field, value, message):
    with pytest.raises(InvalidInput) as refused:
        record_treatment_event(
            ward.db, ward.nurse, {**change(ward.patients[0].id, clock()), field: value}
        )
    assert message in refused.value.message
    assert count(ward.db, TreatmentEvent) == 0


def test_a_change_in_the_future_is_refused(ward, clock):
    with pytest.raises(InvalidInput, match="Effective time is in the future"):
        record_treatment_event(
            ward.db, ward.nurse, change(ward.patients[0].id, clock() + timedelta(hours=1))
        )
