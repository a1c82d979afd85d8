"""Incidents with MOAS ratings, and restraint/seclusion episodes with their CMS deadlines."""

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field

from models.base import ClientRequest, Recorded, max_length, one_of, within
from models.codes import IncidentType, Injury, Location, Measure, RestraintKind
from models.fields import (
    ClientKey,
    LongText,
    MoasRating,
    Note,
    PastUtcDatetime,
    RecordId,
    RequiredShortText,
    ShortText,
)

# Modified Overt Aggression Scale weights (Kay et al. 1988): verbal, property, self, physical.
MOAS_WEIGHTS = {"verbal": 1, "property": 2, "self": 3, "physical": 4}


def moas_total(verbal: int, property: int, self_: int, physical: int) -> int:
    """The MOAS weighted total, 0-40."""
    return verbal * 1 + property * 2 + self_ * 3 + physical * 4


class Incident(Recorded, ClientRequest, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        one_of("incident_type", IncidentType),
        one_of("location", Location),
        one_of("injury", Injury),
        within("moas_verbal", 0, 4, nullable=False),
        within("moas_property", 0, 4, nullable=False),
        within("moas_self", 0, 4, nullable=False),
        within("moas_physical", 0, 4, nullable=False),
        CheckConstraint(
            "moas_total = moas_verbal + 2 * moas_property + 3 * moas_self + 4 * moas_physical",
            name="moas_weighted_total",
        ),
        max_length("behaviour", 4000),
        Index("ix_incident_patient_occurred", "patient_id", "occurred_at"),
        Index("ix_incident_ward_occurred", "ward_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    ward_id: int = Field(foreign_key="ward.id")
    occurred_at: datetime
    incident_type: str = Field(max_length=30)
    location: str = Field(max_length=30)
    antecedent: str = Field(default="", max_length=4000)
    behaviour: str = Field(default="", max_length=4000)
    means: str = Field(default="", max_length=1000)
    target: str = Field(default="", max_length=120)
    injury: str = Field(default="none", max_length=20)
    measures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    alternatives_tried: str = Field(default="", max_length=1000)
    staff_involved: str = Field(default="", max_length=1000)
    notified: str = Field(default="", max_length=1000)
    debrief: str = Field(default="", max_length=4000)
    follow_up: str = Field(default="", max_length=4000)
    moas_verbal: int = 0
    moas_property: int = 0
    moas_self: int = 0
    moas_physical: int = 0
    moas_total: int = 0


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    occurred_at: PastUtcDatetime
    incident_type: IncidentType
    location: Location
    antecedent: LongText = ""
    behaviour: LongText = ""
    means: Note = ""
    target: ShortText = ""
    injury: Injury = Injury.none
    measures: list[Measure] = PydanticField(default_factory=list, max_length=len(Measure))
    alternatives_tried: Note = ""
    staff_involved: Note = ""
    notified: Note = ""
    debrief: LongText = ""
    follow_up: LongText = ""
    moas_verbal: MoasRating = 0
    moas_property: MoasRating = 0
    moas_self: MoasRating = 0
    moas_physical: MoasRating = 0
    client_key: ClientKey

    @field_validator("measures")
    @classmethod
    def _distinct(cls, value: list[Measure]) -> list[Measure]:
        return sorted(set(value), key=list(Measure).index)

    @property
    def moas_total(self) -> int:
        return moas_total(self.moas_verbal, self.moas_property, self.moas_self, self.moas_physical)


def order_limit(age_years: int) -> timedelta:
    """How long one restraint/seclusion order lasts (42 CFR 482.13).

    4 hours for adults, 2 hours for ages 9-17, 1 hour under 9.
    """
    if age_years >= 18:
        return timedelta(hours=4)
    if age_years >= 9:
        return timedelta(hours=2)
    return timedelta(hours=1)


FACE_TO_FACE_WITHIN = timedelta(hours=1)
GUARDIAN_NOTICE_WITHIN = timedelta(hours=24)


class RestraintEpisode(Recorded, ClientRequest, table=True):
    """A restraint or seclusion episode. End and evaluation times are filled once, never changed."""

    __tablename__ = "restraint_episode"
    __table_args__ = (
        one_of("kind", RestraintKind),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        within("age_at_order", 0, 130, nullable=False),
        Index("ix_restraint_episode_patient_started", "patient_id", "started_at"),
        Index("ix_restraint_episode_ward_open", "ward_id", "ended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    ward_id: int = Field(foreign_key="ward.id")
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    kind: str = Field(max_length=30)
    ordered_at: datetime
    ordered_by: str = Field(max_length=120)
    started_at: datetime
    age_at_order: int
    # Deadlines computed when the order is recorded, so a later rule change cannot rewrite them.
    order_expires_at: datetime
    face_to_face_due_at: datetime
    guardian_notice_due_at: datetime
    release_criteria: str = Field(default="", max_length=1000)
    face_to_face_at: datetime | None = None
    guardian_notified_at: datetime | None = None
    ended_at: datetime | None = None
    debrief: str = Field(default="", max_length=4000)


class RestraintEpisodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    incident_id: RecordId | None = None
    kind: RestraintKind
    ordered_at: PastUtcDatetime
    ordered_by: RequiredShortText
    started_at: PastUtcDatetime
    release_criteria: Note = ""
    client_key: ClientKey

    @model_validator(mode="after")
    def _started_after_order(self) -> "RestraintEpisodeCreate":
        if self.started_at < self.ordered_at - timedelta(hours=1):
            # An emergency may start before the written order, but not hours before.
            raise ValueError("The start is more than an hour before the order; check the times")
        return self


class RestraintProgress(BaseModel):
    """Later facts of an episode: each is recorded once."""

    model_config = ConfigDict(extra="forbid")

    face_to_face_at: PastUtcDatetime | None = None
    guardian_notified_at: PastUtcDatetime | None = None
    ended_at: PastUtcDatetime | None = None
    debrief: LongText = ""
