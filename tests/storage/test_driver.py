"""A write on the driver's own connection (app/storage/driver.py) is all or nothing, like any
other unit of work: a failed statement undoes the statements before it, the error reaches the
caller, and the pooled connection is fit for the next save."""

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, func, literal, select

from app.services.audit import CHAIN_HEAD, chained_event, verify_chain
from app.services.check_ins import _USUAL_SAVE, record_check_in
from app.storage.driver import (
    _COMPILED,
    KEEP_COMPILED,
    DriverRead,
    compiled_once,
    padded,
    writing_on_driver,
)
from models import AuditEvent, CheckIn
from models.codes import AuditAction
from tests.factories import check_form


def counts(db) -> tuple[int, int, tuple]:
    with db.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(CheckIn)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            tuple(session.execute(select(*CHAIN_HEAD)).one()),
        )


def test_a_failed_statement_undoes_the_whole_write(ward, clock, db) -> None:
    record_check_in(db, ward.tech, check_form(ward.patients[0].id, clock()))
    before = counts(db)
    event, move = chained_event(
        before[2], key=db.keys.audit, at=clock(), action=AuditAction.create, staff_id=None
    )
    no_such_patient = check_form(10_000, clock())
    row = {
        **no_such_patient,
        "ward_id": ward.ward.id,
        "recorded_by": ward.tech.staff_id,
        "recorded_at": clock(),
        "affect": None,
        "mood": None,
        "anxiety": None,
        "note": "",
        "missed": False,
        "late": False,
        "late_reason": None,
        "request_hash": "0" * 64,
    }

    refused = db.writer.dialect.loaded_dbapi.IntegrityError
    with pytest.raises(refused), writing_on_driver(db.writer, _USUAL_SAVE) as driver:
        driver.run("add_event", event)  # written first, so there is something to undo
        driver.run("move_head", move)
        driver.one("add_check", driver.run("add_check", row))  # refused: no such patient

    assert counts(db) == before
    clock.advance(minutes=15)
    saved = record_check_in(db, ward.tech, check_form(ward.patients[0].id, clock()))
    after = counts(db)
    assert after[:2] == (before[0] + 1, before[1] + 1)
    assert after[2][1] == before[2][1] + 1  # the chain head moved once, for the saved check
    with db.reading() as session:
        assert session.get(CheckIn, saved.id) is not None
        assert verify_chain(session, key=db.keys.audit).first_bad_id is None


def test_a_read_on_the_driver_gives_the_values_the_orm_gives(ward, clock, db) -> None:
    """Times come back aware and in UTC, JSON as lists, booleans as booleans: each column
    converted by its own type, as SQLAlchemy converts it."""
    form = check_form(ward.patients[0].id, clock(), behaviours=["anxious", "restless"], mood=4)
    saved = record_check_in(db, ward.tech, form)
    table = CheckIn.__table__
    with db.reading() as session:
        read = DriverRead(session)
        statement = compiled_once(
            read.dialect,
            ("test: a check by id",),
            lambda: select(table).where(table.c.id == bindparam("id")),
        )
        with read.together():
            (row,) = read.rows(statement, read.send(statement, {"id": saved.id}))
        stored = session.get(CheckIn, saved.id)
        assert row == {column.key: getattr(stored, column.key) for column in table.c}
    assert row["observed_at"].utcoffset() == timedelta(0)
    assert row["behaviours"] == ["anxious", "restless"]
    assert row["missed"] is False


@pytest.mark.parametrize("count", [1, 3, 4, 5, 50, 51, 64, 65, 1000])
def test_padded_id_lists_keep_their_ids_in_few_sizes(count) -> None:
    ids = list(range(100, 100 + count))
    places = padded(ids)
    assert places[:count] == ids
    assert set(places) == set(ids)
    assert len(places) in {4, 8, 16, 32, 64, 128, 256, 512, 1024}
    assert len(places) < max(2 * count, 5)


def test_statements_made_at_run_time_are_kept_up_to_a_bound(db) -> None:
    """A page's shape depends on what the client asks for; the compiled statements kept do not
    grow past KEEP_COMPILED, and the newest shapes are the ones kept."""
    dialect = db.reader.dialect
    for number in range(KEEP_COMPILED + 10):
        compiled_once(
            dialect, ("test: shape", number), lambda number=number: select(literal(number))
        )
    kept = [key[2] for key in _COMPILED if key[2][0] == "test: shape"]
    assert len(_COMPILED) <= KEEP_COMPILED
    assert ("test: shape", KEEP_COMPILED + 9) in kept
    assert ("test: shape", 0) not in kept
