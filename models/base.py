"""What every table shares: constraint naming, coded-value checks, and the client request key."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from models.codes import values
from models.fields import utc_now

# Stable constraint names so Alembic migrations match the models on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, vocabulary: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    """A CHECK constraint that keeps a coded column inside its vocabulary."""
    allowed = ", ".join(f"'{value}'" for value in values(vocabulary))
    condition = f"{column} IN ({allowed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_code")


def within(column: str, low: float, high: float, *, nullable: bool = True) -> CheckConstraint:
    """A CHECK constraint for a bounded number."""
    condition = f"{column} BETWEEN {low} AND {high}"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_range")


def max_length(column: str, limit: int) -> CheckConstraint:
    """A CHECK constraint on text length (SQLite does not enforce VARCHAR lengths)."""
    return CheckConstraint(f"length({column}) <= {limit}", name=f"{column}_length")


class ClientRequest(SQLModel):
    """A record created from a form carries the key the form was opened with.

    A replay of the same request (double tap, reconnect) finds the first record by its key;
    `request_hash` tells a true replay from a different body sent under the same key.
    """

    client_key: str = Field(max_length=64, unique=True)
    request_hash: str = Field(max_length=64)


class Recorded(SQLModel):
    """Who entered a record and when the server stored it."""

    recorded_by: int = Field(foreign_key="staff.id", index=True)
    recorded_at: datetime = Field(default_factory=utc_now)
