"""Break-glass access: a time-limited, read-only opening of one patient outside one's wards."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from models.base import ClientRequest, max_length
from models.fields import ClientKey, Note, check_text, utc_now

# A reason short enough to type on a tablet, long enough that "x" or "emergency" is not one.
REASON_MIN = 10


class BreakGlassGrant(ClientRequest, SQLModel, table=True):
    """One opening of one patient by one staff member. Never changed: it simply expires."""

    __tablename__ = "break_glass_grant"
    __table_args__ = (
        max_length("reason", 1000),
        CheckConstraint("expires_at > opened_at", name="expires_after_opening"),
        Index("ix_break_glass_grant_staff_patient", "staff_id", "patient_id", "expires_at"),
        Index("ix_break_glass_grant_opened", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id")
    patient_id: int = Field(foreign_key="patient.id")
    # The patient's ward when opened, so the report can be scoped to a charge nurse's wards.
    ward_id: int = Field(foreign_key="ward.id")
    reason: str = Field(max_length=1000)
    opened_at: datetime = Field(default_factory=utc_now)
    # Fixed when opened, so a later change of the grant length cannot extend an old grant.
    expires_at: datetime


class BreakGlassCreate(BaseModel):
    """What the break-glass form sends: the patient's MRN and why they must be opened.

    The MRN, not the patient's id: the service looks it up only once the opener is authorised,
    so whether a patient exists is learnt only through an opening, which is audited.
    """

    model_config = ConfigDict(extra="forbid")

    mrn: str
    reason: Note
    client_key: ClientKey

    @field_validator("mrn")
    @classmethod
    def _mrn(cls, value: str) -> str:
        value = check_text(value, 20)
        if not value:
            raise ValueError("is required")
        return value

    @field_validator("reason")
    @classmethod
    def _says_why(cls, value: str) -> str:
        if len(value) < REASON_MIN:
            raise ValueError(f"must say why, in at least {REASON_MIN} characters")
        return value
