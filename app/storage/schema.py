"""The schema is Alembic's: upgrade a database, and tell whether it matches the models."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from app.storage.database import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (creating it when empty)."""
    command.upgrade(alembic_config(url), "head")


def differences_from_models(url: str) -> list:
    """What the database's schema lacks or has beyond the models; empty when they match."""
    engine = make_engine(url, for_writing=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def make_revision(url: str, message: str) -> None:
    """Write a new migration from the difference between `url` and the models (developers)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
