from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.services.errors import InvalidInput
from app.services.levels import change_level
from models import AuditEvent, LevelChange
from tests.factories import key


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def order(patient_id, effective_at):
    return {
        "patient_id": patient_id,
        "level": "q5",
        "effective_at": effective_at,
        "ordered_by": "Dr. Synthetic",
        "reason": "Agitated after a phone call",
        "client_key": key(),
    }


def test_a_level_order_before_the_admission_order_is_refused(ward, clock):
    patient = ward.patients[0]  # admitted, with its admission order, 10 min ago
    before = (count(ward.db, LevelChange), count(ward.db, AuditEvent))
    with pytest.raises(InvalidInput, match=r"Effective time is before .* was admitted"):
        change_level(ward.db, ward.nurse, order(patient.id, clock() - timedelta(minutes=30)))
    assert (count(ward.db, LevelChange), count(ward.db, AuditEvent)) == before

    changed = change_level(ward.db, ward.nurse, order(patient.id, clock()))
    assert changed.level == "q5"
