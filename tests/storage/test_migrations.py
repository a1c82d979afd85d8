from sqlalchemy import inspect, text

from app.storage.database import make_engine
from app.storage.schema import differences_from_models, upgrade


def test_migrations_build_exactly_the_models_schema(database_url):
    # The fixture database was built by running every migration from empty.
    assert differences_from_models(database_url) == []


def test_upgrade_is_idempotent_and_keeps_data(database_url, ward):
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM patient")).scalar() == 3
        assert "check_in" in inspect(connection).get_table_names()
    engine.dispose()


def test_database_refuses_rows_that_break_its_rules(ward, clock):
    """CHECK constraints stop invalid rows that bypass the input models."""
    import pytest
    from sqlalchemy.exc import DataError, IntegrityError

    from models import CheckIn

    bad_rows = [
        {"mood": 11},
        {"location": "roof"},
        {"missed": True, "late_reason": None, "location": None, "status": None},
        {"note": "x" * 1001},
    ]
    for bad in bad_rows:
        row = {
            "patient_id": ward.patients[0].id,
            "ward_id": ward.ward.id,
            "observed_at": clock(),
            "location": "day_room",
            "status": "resting",
            "recorded_by": ward.tech.staff_id,
            "client_key": f"bad-{len(str(bad))}-{next(iter(bad))}",
            "request_hash": "x",
            **bad,
        }
        # PostgreSQL reports an over-long value as a DataError, SQLite via the CHECK.
        with pytest.raises((IntegrityError, DataError)), ward.db.writing() as session:
            session.add(CheckIn(**row))
