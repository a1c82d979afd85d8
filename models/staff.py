"""Staff accounts: deactivated, never deleted."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from models.base import max_length, one_of
from models.codes import Role
from models.fields import RecordId, RequiredShortText, check_text, utc_now

PASSWORD_MIN = 8
PASSWORD_MAX = 128


class StaffWard(SQLModel, table=True):
    """Which wards a staff member works on."""

    __tablename__ = "staff_ward"

    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    ward_id: int = Field(foreign_key="ward.id", primary_key=True)


class Staff(SQLModel, table=True):
    __tablename__ = "staff"
    __table_args__ = (one_of("role", Role), max_length("username", 64))

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=255)
    pin_verifier: str | None = Field(default=None, max_length=64)
    pin_issued_at: datetime | None = None
    active: bool = True
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)


def check_username(value: str) -> str:
    """Usernames are case-insensitive: stored in lower case."""
    value = check_text(value, 64).lower()
    if not value:
        raise ValueError("is required")
    if not all(c.isalnum() or c in "._-" for c in value):
        raise ValueError("may use letters, digits, dot, dash and underscore only")
    return value


def check_password(value: str) -> str:
    """Passwords: 8 to 128 characters of any kind, no composition rules (NIST SP 800-63B)."""
    if not isinstance(value, str):
        raise ValueError("must be text")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value) or "\x00" in value:
        raise ValueError("contains a character that cannot be used")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValueError(f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return value


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    display_name: RequiredShortText
    role: Role
    password: str
    ward_ids: list[RecordId] = PydanticField(default_factory=list)

    @field_validator("username")
    @classmethod
    def _valid_username(cls, value: str) -> str:
        return check_username(value)

    @field_validator("password")
    @classmethod
    def _valid_password(cls, value: str) -> str:
        return check_password(value)


class StaffRead(BaseModel):
    """A staff member as screens see them: never the hashes."""

    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    ward_ids: list[int]
