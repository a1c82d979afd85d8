"""Rounds' data: table models and the validated input models that feed them.

Importing this package registers every table on `SQLModel.metadata`.
"""

from models.audit import AuditChainHead, AuditEvent
from models.break_glass import BreakGlassCreate, BreakGlassGrant
from models.check_in import CheckIn, CheckInCreate, RoutineCheckCreate
from models.corrections import Correction, CorrectionReason
from models.drafts import Draft
from models.groups import GroupAttendance, GroupAttendanceCreate, GroupSession, GroupSessionCreate
from models.incidents import (
    Incident,
    IncidentCreate,
    RestraintEpisode,
    RestraintEpisodeCreate,
    RestraintProgress,
)
from models.sleep import SleepReport, SleepReportCreate
from models.staff import Staff, StaffCreate, StaffRead, StaffWard
from models.treatment import TreatmentEvent, TreatmentEventCreate
from models.ward import LevelChange, LevelChangeCreate, Patient, PatientCreate, Ward, WardCreate

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "BreakGlassCreate",
    "BreakGlassGrant",
    "CheckIn",
    "CheckInCreate",
    "Correction",
    "CorrectionReason",
    "Draft",
    "GroupAttendance",
    "GroupAttendanceCreate",
    "GroupSession",
    "GroupSessionCreate",
    "Incident",
    "IncidentCreate",
    "LevelChange",
    "LevelChangeCreate",
    "Patient",
    "PatientCreate",
    "RestraintEpisode",
    "RestraintEpisodeCreate",
    "RestraintProgress",
    "RoutineCheckCreate",
    "SleepReport",
    "SleepReportCreate",
    "Staff",
    "StaffCreate",
    "StaffRead",
    "StaffWard",
    "TreatmentEvent",
    "TreatmentEventCreate",
    "Ward",
    "WardCreate",
]
