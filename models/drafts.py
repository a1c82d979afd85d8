"""Half-filled forms kept on the server, so a Wi-Fi drop or a server restart loses nothing."""

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.fields import utc_now


class Draft(SQLModel, table=True):
    """A form in progress. Not a clinical record: it is closed when the form is saved or
    discarded, and only its author sees it."""

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("staff_id", "client_key"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    # The form's key: the same key the saved record will carry.
    client_key: str = Field(max_length=64)
    form: str = Field(max_length=30)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now)
    closed_at: datetime | None = None
