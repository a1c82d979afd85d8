"""Sessions of one ward that refresh together share one read of its rounds, and only a read
that covers the change each of them knows of (app/ui/shared_rounds.py), on a real database."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.services.check_ins import last_ward_change, record_check_in
from app.ui import shared_rounds as shared
from tests.factories import key
from tests.ui.ward_screens import run


@pytest.fixture
def reads(db):
    """How many times the ward's patients were read (once per `rounds_for`)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:
        # The ward's admitted patients by room: the read only `rounds_for` makes.
        if "FROM patient" in statement and "ORDER BY patient.room" in statement:
            seen.append(statement)

    event.listen(db.reader, "before_cursor_execute", count)
    yield seen
    event.remove(db.reader, "before_cursor_execute", count)


def check(ward, clock) -> None:
    record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": ward.patients[0].id,
            "observed_at": clock() - timedelta(minutes=1),
            "location": "day_room",
            "status": "reading",
            "client_key": key(),
        },
    )


def test_sessions_refreshing_together_share_one_read(ward, db, reads) -> None:
    marker = last_ward_change(db, ward.tech, ward.ward.id)

    async def three_screens():
        return await asyncio.gather(
            shared.shared_rounds(db, ward.tech, ward.ward.id, marker),
            shared.shared_rounds(db, ward.nurse, ward.ward.id, marker),
            shared.shared_rounds(db, ward.charge, ward.ward.id, marker),
        )

    first, second, third = run(three_screens)
    assert len(reads) == 1
    assert first is second is third
    assert len(first.rows) == len(ward.patients)


def test_a_session_that_knows_of_a_newer_change_reads_again_and_sees_it(
    ward, db, clock, reads
) -> None:
    async def scenario():
        before = last_ward_change(db, ward.tech, ward.ward.id)
        old = await shared.shared_rounds(db, ward.tech, ward.ward.id, before)
        check(ward, clock)
        after = last_ward_change(db, ward.tech, ward.ward.id, after=before)
        stale_is_fine = await shared.shared_rounds(db, ward.nurse, ward.ward.id, before)
        fresh = await shared.shared_rounds(db, ward.nurse, ward.ward.id, after)
        return old, stale_is_fine, fresh, after > before

    old, stale_is_fine, fresh, changed = run(scenario)
    assert changed
    assert stale_is_fine is old  # it covers what that session knew of
    assert len(reads) == 2
    row = next(row for row in fresh.rows if row.patient_id == ward.patients[0].id)
    assert row.last_check is not None and row.last_check.status == "reading"
    assert all(row.last_check is None for row in old.rows)


def test_a_read_is_not_shared_once_it_is_old(ward, db, reads, monkeypatch) -> None:
    marker = last_ward_change(db, ward.tech, ward.ward.id)
    monkeypatch.setattr(shared, "SHARED_FOR_SECONDS", 0.0)

    async def two_in_turn():
        first = await shared.shared_rounds(db, ward.tech, ward.ward.id, marker)
        second = await shared.shared_rounds(db, ward.tech, ward.ward.id, marker)
        return first, second

    first, second = run(two_in_turn)
    assert first is not second
    assert len(reads) == 2
